//! Examining the plugin directory without letting any file in it crash or hang the host.
//!
//! `dlopen` of a damaged file can kill the process that calls it before any check runs, and a
//! library's constructor can crash or loop. So, in the way GStreamer's plugin scanner works,
//! [`scan_directory`] has every candidate loaded first by a helper process, the `configurator`
//! binary re-executed as `configurator __scan` ([`helper`]), and the host loads only the
//! files the helper passed. For each `*.so` entry, in file name order:
//!
//! 1. [`candidate::open`] rejects what is not a regular file (directories, FIFOs, which are
//!    never opened, dangling symlinks), opens the file and applies the trust policy
//!    ([`crate::trust`]) to the inode it opened.
//! 2. The [`cache`] supplies the findings for a file whose identity it stored before, and for
//!    a plugin only while its module's settings table is the one its settings check ran on.
//! 3. Otherwise [`elf::check`] rejects what is not a loadable ELF shared library for this
//!    machine, including truncated copies.
//! 4. The remaining files go to the scanner helpers ([`pool::examine`]). A helper reports each
//!    file's metadata and the result of its settings check on the configured table, or its
//!    rejection, or dies on it, and a death rejects that file only.
//! 5. The SHA-256 of a passed file is computed only when it is needed and not stored in the
//!    cache yet: for every file when [`ScanOptions::hash_every_plugin`] is set (`list`,
//!    `run --report`), else only for the files of modules with a `[trust] sha256` pin. The
//!    pins are checked against those hashes.
//! 6. The findings and the hashes are saved to the cache.
//!
//! [`crate::modules::Discovered::scan`] then loads the passed files into the host.

mod cache;
mod candidate;
mod elf;
pub mod helper;
mod pool;
mod protocol;

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;

pub use candidate::open_regular_file;
pub use pool::{ExamineError, SCAN_SUBCOMMAND, StartError};
pub use protocol::{CheckedSettings, ConfiguredSettings, FileIdentity};

use crate::config::Config;
use crate::execute::Interrupt;
use crate::loader::{self, DiscoverError, PluginMetadata, Rejection};
use crate::trust::{self, TrustPolicy};
use cache::{CacheEntry, ScanCache};
use candidate::Candidate;
use pool::Scanner;
use protocol::{RUNNING_EXECUTABLE, RejectedFile, Verdict};

/// How long the scanner may take to load one file when the configuration sets no
/// `scan_timeout`. Loading a plugin takes milliseconds; the margin is for a loaded machine.
pub const DEFAULT_SCAN_TIMEOUT: Duration = Duration::from_secs(10);

/// The settings of one discovery.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Whether the trust policy applies (`--insecure-plugins` or `trust.strict = false` turn
    /// it off).
    pub strict: bool,
    /// The SHA-256 each pinned module's file must have, by module name, as lowercase hex.
    pub sha256_pins: BTreeMap<String, String>,
    /// The scan cache file, or `None` for no cache.
    pub cache_file: Option<PathBuf>,
    /// The executable that runs as the scanner helper: the running `configurator`, or another
    /// program that serves [`SCAN_SUBCOMMAND`] with [`helper::run`]. The host skips
    /// abi_stable's layout check of the files it passed only when it is the running
    /// executable. Otherwise the host repeats the check.
    pub scanner_program: PathBuf,
    /// How long the scanner may take to load one file.
    pub scan_timeout: Duration,
    /// Whether to compute the SHA-256 of every file that passes, for the commands that show
    /// it. Without it, only the files of modules with a pin in `sha256_pins` are hashed.
    pub hash_every_plugin: bool,
    /// The interrupt that SIGINT, SIGTERM and SIGHUP trigger, which stops the plugin scanner.
    pub interrupt: Option<Interrupt>,
    /// Each configured module's settings text, which the scanner checks each plugin's settings
    /// against, so that the host never runs a plugin's settings check itself.
    pub settings: ConfiguredSettings,
}

impl ScanOptions {
    /// Returns the options that `config` and `--insecure-plugins` set, with `scanner_program`
    /// as the helper and no SHA-256 beyond the pinned modules'.
    pub fn from_config(
        config: &Config,
        plugin_dir: &Path,
        insecure: bool,
        scanner_program: PathBuf,
    ) -> Self {
        let cache_file = config
            .scan_cache
            .clone()
            .or_else(|| cache::default_file(plugin_dir, trust::current_uid()));
        Self {
            strict: config.trust.strict && !insecure,
            sha256_pins: config.trust.sha256.clone(),
            cache_file,
            scanner_program,
            scan_timeout: config.scan_timeout.unwrap_or(DEFAULT_SCAN_TIMEOUT),
            hash_every_plugin: false,
            interrupt: None,
            settings: config
                .modules
                .keys()
                .map(|name| (name.clone(), config.settings_text(name)))
                .collect(),
        }
    }
}

/// A file the scanner passed, ready to be loaded into the host.
///
/// Only this module creates one, because the host's loader trusts
/// `checked_by_this_executable` to skip abi_stable's layout check.
#[derive(Debug)]
pub struct PassedFile {
    /// The file.
    pub path: PathBuf,
    /// Its identity when it was examined; the host loads it only if it still has it.
    pub identity: FileIdentity,
    /// The SHA-256 of its content as lowercase hex, when this discovery computed it or the
    /// scan cache stored it.
    pub sha256: Option<String>,
    /// The metadata the scanner read from it.
    pub metadata: PluginMetadata,
    /// The result of the plugin's settings check on its module's configured settings.
    pub settings: Option<CheckedSettings>,
    /// The file as discovery opened it, so that loading needs no second open.
    file: File,
    /// Whether the scanner that passed this identity was the running executable, so that
    /// abi_stable's layout check it ran holds for this process.
    checked_by_this_executable: bool,
}

impl PassedFile {
    /// Returns whether the scanner that passed the file was the running executable.
    pub fn checked_by_this_executable(&self) -> bool {
        self.checked_by_this_executable
    }

    /// Returns the file as discovery opened it, for loading.
    pub fn into_file(self) -> File {
        self.file
    }
}

/// The outcome of examining a plugin directory.
#[derive(Debug, Default)]
pub struct DirectoryScan {
    /// Files that passed, in file name order.
    pub passed: Vec<PassedFile>,
    /// Files that were rejected, each with its reason, in file name order.
    pub rejected: Vec<Rejection>,
    /// The number of files whose findings came from the cache.
    pub from_cache: usize,
    /// The number of files the scanner helpers examined.
    pub examined: usize,
    /// The number of files whose SHA-256 this discovery computed.
    pub hashed: usize,
}

/// Errors that stop discovery as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The plugin directory cannot be listed.
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// The scanner helper cannot be started, or a signal interrupted it.
    #[error(transparent)]
    Examine(#[from] ExamineError),
}

/// The state of one directory entry.
#[expect(
    clippy::large_enum_variant,
    reason = "one slot per plugin file, a few hundred at most, each built once"
)]
enum Slot {
    /// Decided: a plugin or a rejection.
    Done(Result<PassedFile, Rejection>),
    /// Waiting for the scanner, with the file opened and its identity.
    Pending(Candidate),
}

/// The scanner helper to start, and what its verdicts are worth to this process.
struct ScannerProgram {
    /// The program to execute.
    program: PathBuf,
    /// The identity of the configured scanner program, which the cache stamp records.
    identity: Option<FileIdentity>,
    /// Whether it is the running executable.
    is_this_executable: bool,
}

impl ScannerProgram {
    /// Compares `configured` with the running executable. When they are the same file, the
    /// helper is started as `/proc/self/exe`, so that it is this inode even if the file at the
    /// configured path is replaced meanwhile, as a package upgrade does.
    fn of(configured: &Path) -> Self {
        let identity = fs::metadata(configured)
            .ok()
            .map(|metadata| FileIdentity::of(&metadata));
        let running = FileIdentity::of_running_executable();
        let is_this_executable = identity.is_some() && identity == running;
        let program = if is_this_executable {
            PathBuf::from(RUNNING_EXECUTABLE)
        } else {
            configured.to_owned()
        };
        Self {
            program,
            identity,
            is_this_executable,
        }
    }
}

/// Examines every `*.so` entry of `plugin_dir`; see the module documentation for the steps.
pub fn scan_directory(
    plugin_dir: &Path,
    options: &ScanOptions,
) -> Result<DirectoryScan, ScanError> {
    let started = Instant::now();
    let paths = loader::discover(plugin_dir)?;
    let scanner = ScannerProgram::of(&options.scanner_program);
    let mut trust = options
        .strict
        .then(|| TrustPolicy::new(trust::current_uid()));
    let mut cache = ScanCache::open(options.cache_file.clone(), scanner.identity, trust.as_mut());
    let mut scan = DirectoryScan::default();

    let settings_hashes = SettingsHashes::new(&options.settings);
    // One file after another: the trust policy's memo of checked directories makes every
    // file after the first cheap, and threads cost more than they would save here.
    let inspected: Vec<Inspected> = paths
        .iter()
        .map(|path| {
            inspect(
                path,
                trust.as_mut(),
                &cache,
                &settings_hashes,
                scanner.is_this_executable,
            )
        })
        .collect();

    let jobs: Vec<PathBuf> = paths
        .iter()
        .zip(&inspected)
        .filter(|(_, inspected)| matches!(inspected.slot, Slot::Pending(..)))
        .map(|(path, _)| path.clone())
        .collect();
    scan.examined = jobs.len();
    let pool_scanner = Scanner {
        program: scanner.program.clone(),
        timeout: options.scan_timeout,
        interrupt: options.interrupt.clone(),
        settings: options.settings.clone(),
    };
    let mut findings = pool::examine(&pool_scanner, &jobs)?.into_iter();

    let mut files = Vec::with_capacity(paths.len());
    for (path, inspected) in paths.iter().zip(inspected) {
        if inspected.from_cache {
            scan.from_cache += 1;
        }
        let file = match inspected.slot {
            Slot::Done(outcome) => Settled {
                outcome,
                cache_entry: inspected.cache_entry,
            },
            Slot::Pending(candidate) => {
                let finding = findings.next().expect("one finding per pending file");
                settle(
                    path,
                    candidate,
                    finding,
                    &settings_hashes,
                    scanner.is_this_executable,
                )
            }
        };
        files.push(file);
    }

    scan.hashed = hash_where_needed(&mut files, options);
    for file in files {
        if let Some(entry) = file.cache_entry {
            cache.record(entry);
        }
        match file
            .outcome
            .and_then(|passed| check_pin(passed, &options.sha256_pins))
        {
            Ok(passed) => scan.passed.push(passed),
            Err(rejection) => scan.rejected.push(rejection),
        }
    }
    cache.save();

    tracing::debug!(
        "plugin discovery in {}: {} file(s), {} answered by the scan cache, {} examined by the \
         plugin scanner, {} hashed with SHA-256, in {:?}",
        plugin_dir.display(),
        paths.len(),
        scan.from_cache,
        scan.examined,
        scan.hashed,
        started.elapsed()
    );
    Ok(scan)
}

/// The SHA-256 of each configured module's settings text, computed once per discovery for
/// comparing with the texts that cache entries were checked with.
struct SettingsHashes {
    by_module: HashMap<String, String>,
    /// The hash of the empty text, which modules without a table get.
    empty: String,
    /// The hash of all settings texts together.
    all: String,
}

impl SettingsHashes {
    fn new(settings: &ConfiguredSettings) -> Self {
        Self {
            by_module: settings
                .iter()
                .map(|(name, text)| (name.clone(), protocol::text_sha256(text)))
                .collect(),
            empty: protocol::text_sha256(""),
            all: protocol::text_sha256(
                &serde_json::to_string(settings).expect("settings texts always serialize"),
            ),
        }
    }

    /// Returns the hash of the settings text of module `name`.
    fn of(&self, name: &str) -> &str {
        self.by_module.get(name).unwrap_or(&self.empty)
    }
}

/// The result of inspecting one entry, with the cache entry to record for it.
struct Inspected {
    slot: Slot,
    cache_entry: Option<CacheEntry>,
    from_cache: bool,
}

/// The outcome for one entry after the scanner has reported on it, with the cache entry to
/// record.
struct Settled {
    outcome: Result<PassedFile, Rejection>,
    cache_entry: Option<CacheEntry>,
}

/// Opens one entry and decides it from the cache or the ELF check, or leaves it for the
/// scanner.
fn inspect(
    path: &Path,
    trust: Option<&mut TrustPolicy>,
    cache: &ScanCache,
    settings_hashes: &SettingsHashes,
    checked_by_this_executable: bool,
) -> Inspected {
    let reject = |reason: String| Inspected {
        slot: Slot::Done(Err(rejection(path, reason))),
        cache_entry: None,
        from_cache: false,
    };
    let candidate = match candidate::open(path, trust) {
        Ok(candidate) => candidate,
        Err(reason) => return reject(reason),
    };
    let identity = candidate.identity;

    // A plugin's entry holds only while the module's settings are the ones it was checked with.
    let stored = cache
        .lookup(&identity)
        .filter(|entry| match &entry.verdict {
            Verdict::Plugin(metadata) => entry
                .settings
                .as_ref()
                .is_some_and(|checked| checked.text_sha256 == settings_hashes.of(&metadata.name)),
            Verdict::Rejected(_) => entry
                .died_with_settings
                .as_ref()
                .is_none_or(|hash| *hash == settings_hashes.all),
        });
    if let Some(entry) = stored {
        let outcome = outcome_of(
            path,
            candidate,
            entry.sha256.clone(),
            entry.verdict.clone(),
            entry.settings.clone(),
            checked_by_this_executable,
        );
        return Inspected {
            slot: Slot::Done(outcome),
            cache_entry: Some(CacheEntry {
                path: path.display().to_string(),
                ..entry.clone()
            }),
            from_cache: true,
        };
    }

    if let Err(reason) = elf::check(&candidate.file, identity.size) {
        let entry = CacheEntry {
            path: path.display().to_string(),
            identity,
            sha256: None,
            verdict: Verdict::rejected(reason.clone()),
            settings: None,
            died_with_settings: None,
        };
        return Inspected {
            cache_entry: Some(entry),
            ..reject(reason)
        };
    }
    Inspected {
        slot: Slot::Pending(candidate),
        cache_entry: None,
        from_cache: false,
    }
}

/// Turns the scanner's finding for one file into its outcome, with a cache entry when the
/// finding belongs to the file.
fn settle(
    path: &Path,
    candidate: Candidate,
    finding: pool::Finding,
    settings_hashes: &SettingsHashes,
    checked_by_this_executable: bool,
) -> Settled {
    let identity = candidate.identity;
    let changed = match (&finding.verdict, finding.identity) {
        (_, Some(seen)) => seen != identity,
        // A plugin verdict always comes with the identity of the file the scanner loaded; one
        // without it cannot vouch for this file.
        (Verdict::Plugin(_), None) => true,
        (Verdict::Rejected(_), None) => false,
    };
    if changed {
        return Settled {
            outcome: Err(rejection(
                path,
                "changed while the plugin scanner examined it; run configurator again".to_owned(),
            )),
            cache_entry: None,
        };
    }
    let cache_entry = finding.cacheable.then(|| CacheEntry {
        path: path.display().to_string(),
        identity,
        sha256: None,
        verdict: finding.verdict.clone(),
        settings: finding.settings.clone(),
        died_with_settings: finding.died.then(|| settings_hashes.all.clone()),
    });
    Settled {
        outcome: outcome_of(
            path,
            candidate,
            None,
            finding.verdict,
            finding.settings,
            checked_by_this_executable,
        ),
        cache_entry,
    }
}

fn outcome_of(
    path: &Path,
    candidate: Candidate,
    sha256: Option<String>,
    verdict: Verdict,
    settings: Option<CheckedSettings>,
    checked_by_this_executable: bool,
) -> Result<PassedFile, Rejection> {
    match verdict {
        Verdict::Plugin(metadata) => Ok(PassedFile {
            path: path.to_owned(),
            identity: candidate.identity,
            sha256,
            metadata,
            settings,
            file: candidate.file,
            checked_by_this_executable,
        }),
        Verdict::Rejected(RejectedFile { reason, detail }) => Err(Rejection {
            path: path.to_owned(),
            reason: one_line(&reason),
            detail,
        }),
    }
}

fn rejection(path: &Path, reason: String) -> Rejection {
    Rejection {
        path: path.to_owned(),
        reason,
        detail: None,
    }
}

/// Computes the SHA-256 of each passed file that needs one and has none yet, in parallel, and
/// stores it in the file's cache entry. Returns how many files were hashed. A file that cannot
/// be read or has changed since it was examined is rejected.
fn hash_where_needed(files: &mut [Settled], options: &ScanOptions) -> usize {
    let needs_hash = |file: &Settled| match &file.outcome {
        Ok(passed) => {
            passed.sha256.is_none()
                && (options.hash_every_plugin
                    || options.sha256_pins.contains_key(&passed.metadata.name))
        }
        Err(_) => false,
    };
    let count = files.iter().filter(|file| needs_hash(file)).count();
    if count == 0 {
        // Not even the thread pool is started.
        return 0;
    }
    files
        .par_iter_mut()
        .filter(|file| needs_hash(file))
        .for_each(|file| {
            let Ok(passed) = &mut file.outcome else {
                return;
            };
            match sha256_of_examined(&passed.file, passed.identity) {
                Ok(sha256) => {
                    if let Some(entry) = &mut file.cache_entry {
                        entry.sha256 = Some(sha256.clone());
                    }
                    passed.sha256 = Some(sha256);
                }
                Err(reason) => {
                    let rejected = rejection(&passed.path, reason);
                    file.outcome = Err(rejected);
                }
            }
        });
    count
}

/// Returns the SHA-256 of `file` as lowercase hex, or the one-line reason it is rejected when
/// it cannot be read or no longer has `identity`, the identity that was examined.
fn sha256_of_examined(mut file: &File, identity: FileIdentity) -> Result<String, String> {
    let identity_now = || {
        file.metadata()
            .map(|metadata| FileIdentity::of(&metadata))
            .map_err(|error| format!("cannot be inspected: {error}"))
    };
    if identity_now()? != identity {
        return Err(
            "changed after the plugin scanner examined it; run configurator again".to_owned(),
        );
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|error| format!("cannot be read: {error}"))?;
    let sha256 =
        trust::sha256_of_reader(file).map_err(|error| format!("cannot be read: {error}"))?;
    // A write during the read changes the modification time, and the content hashed must be
    // the content examined.
    if identity_now()? != identity {
        return Err("changed while its SHA-256 was computed; run configurator again".to_owned());
    }
    Ok(sha256)
}

/// Joins the lines of `text` with spaces, so that a reason that quotes a multi-line message,
/// such as a plugin's panic message, still takes one line of output.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Rejects a passed file whose module has a SHA-256 pin that its content does not match.
fn check_pin(passed: PassedFile, pins: &BTreeMap<String, String>) -> Result<PassedFile, Rejection> {
    let Some(expected) = pins.get(&passed.metadata.name) else {
        return Ok(passed);
    };
    let Some(found) = &passed.sha256 else {
        // `hash_where_needed` hashes every pinned module's file or rejects it.
        return Err(rejection(
            &passed.path,
            format!(
                "its SHA-256 was not computed, so the pin for module `{}` cannot be checked; \
                 run configurator again",
                passed.metadata.name
            ),
        ));
    };
    if expected == found {
        return Ok(passed);
    }
    Err(rejection(
        &passed.path,
        format!(
            "its SHA-256 does not match the pin for module `{}` in the configuration: \
             expected {expected}, found {found}",
            passed.metadata.name
        ),
    ))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use sha2::{Digest as _, Sha256};

    use super::*;

    /// Writes `content` to `dir/name` and returns it as a passed file of module `name`, with
    /// the cache entry a scanner finding would give it.
    fn passed(dir: &Path, name: &str, content: &[u8]) -> Settled {
        let path = dir.join(format!("{name}.so"));
        fs::write(&path, content).unwrap();
        let candidate = candidate::open(&path, None).unwrap();
        let verdict = Verdict::Plugin(PluginMetadata::for_test(name));
        let cache_entry = CacheEntry {
            path: path.display().to_string(),
            identity: candidate.identity,
            sha256: None,
            verdict: verdict.clone(),
            settings: None,
            died_with_settings: None,
        };
        Settled {
            outcome: outcome_of(&path, candidate, None, verdict, None, true),
            cache_entry: Some(cache_entry),
        }
    }

    fn options(pins: &[(&str, &str)], hash_every_plugin: bool) -> ScanOptions {
        ScanOptions {
            strict: false,
            sha256_pins: pins
                .iter()
                .map(|(name, pin)| ((*name).to_owned(), (*pin).to_owned()))
                .collect(),
            cache_file: None,
            scanner_program: PathBuf::new(),
            scan_timeout: DEFAULT_SCAN_TIMEOUT,
            hash_every_plugin,
            interrupt: None,
            settings: ConfiguredSettings::new(),
        }
    }

    fn sha256_hex(content: &[u8]) -> String {
        format!("{:x}", Sha256::digest(content))
    }

    #[test]
    fn only_pinned_modules_are_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = vec![
            passed(dir.path(), "pinned", b"pinned content"),
            passed(dir.path(), "free", b"free content"),
        ];
        let options = options(&[("pinned", &"0".repeat(64))], false);

        assert_eq!(hash_where_needed(&mut files, &options), 1);

        let pinned = files[0].outcome.as_ref().unwrap();
        assert_eq!(pinned.sha256, Some(sha256_hex(b"pinned content")));
        assert_eq!(
            files[0].cache_entry.as_ref().unwrap().sha256,
            pinned.sha256,
            "the hash goes into the cache entry"
        );
        let free = files[1].outcome.as_ref().unwrap();
        assert_eq!(free.sha256, None);
        assert_eq!(files[1].cache_entry.as_ref().unwrap().sha256, None);
    }

    #[test]
    fn every_plugin_is_hashed_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = vec![
            passed(dir.path(), "first", b"first content"),
            passed(dir.path(), "second", b"second content"),
        ];

        assert_eq!(hash_where_needed(&mut files, &options(&[], true)), 2);

        for (file, content) in files.iter().zip([&b"first content"[..], b"second content"]) {
            let passed = file.outcome.as_ref().unwrap();
            assert_eq!(passed.sha256, Some(sha256_hex(content)));
        }
    }

    #[test]
    fn stored_hash_is_not_computed_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = vec![passed(dir.path(), "stored", b"content")];
        let stored = "ab".repeat(32);
        if let Ok(passed) = &mut files[0].outcome {
            passed.sha256 = Some(stored.clone());
        }

        assert_eq!(hash_where_needed(&mut files, &options(&[], true)), 0);
        let passed = files[0].outcome.as_ref().unwrap();
        assert_eq!(passed.sha256, Some(stored));
    }

    #[test]
    fn file_changed_since_examined_is_rejected_when_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = vec![passed(dir.path(), "changing", b"content")];
        fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("changing.so"))
            .and_then(|mut file| file.write_all(b" and more"))
            .unwrap();

        hash_where_needed(&mut files, &options(&[], true));

        let rejection = files[0].outcome.as_ref().unwrap_err();
        assert!(rejection.reason.contains("changed"), "{}", rejection.reason);
    }

    #[test]
    fn pin_mismatch_names_expected_and_found() {
        let dir = tempfile::tempdir().unwrap();
        let expected = "0".repeat(64);
        let mut files = vec![passed(dir.path(), "pinned", b"content")];
        let options = options(&[("pinned", &expected)], false);
        hash_where_needed(&mut files, &options);

        let passed = files.remove(0).outcome.unwrap();
        let rejection = check_pin(passed, &options.sha256_pins).unwrap_err();
        assert!(
            rejection.reason.contains(&format!("expected {expected}")),
            "{}",
            rejection.reason
        );
        assert!(
            rejection
                .reason
                .contains(&format!("found {}", sha256_hex(b"content"))),
            "{}",
            rejection.reason
        );
    }

    #[test]
    fn matching_pin_passes() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = vec![passed(dir.path(), "pinned", b"content")];
        let options = options(&[("pinned", &sha256_hex(b"content"))], false);
        hash_where_needed(&mut files, &options);

        let passed = files.remove(0).outcome.unwrap();
        assert!(check_pin(passed, &options.sha256_pins).is_ok());
    }

    #[test]
    fn running_executable_is_its_own_scanner() {
        let itself = std::env::current_exe().unwrap();
        let scanner = ScannerProgram::of(&itself);
        assert!(scanner.is_this_executable);
        assert_eq!(scanner.program, Path::new(RUNNING_EXECUTABLE));
        assert_eq!(scanner.identity, FileIdentity::of_running_executable());
    }

    #[test]
    fn other_program_is_not_this_executable() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("configurator");
        fs::copy(std::env::current_exe().unwrap(), &other).unwrap();
        let scanner = ScannerProgram::of(&other);
        assert!(!scanner.is_this_executable, "a copy is another file");
        assert_eq!(scanner.program, other);

        let missing = ScannerProgram::of(Path::new("/nonexistent/configurator"));
        assert!(!missing.is_this_executable);
        assert_eq!(missing.identity, None);
    }

    #[test]
    fn multi_line_reason_becomes_one_line() {
        assert_eq!(
            one_line("building the module failed: first\n  second\n\nthird\n"),
            "building the module failed: first second third"
        );
    }
}
