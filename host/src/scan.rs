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
//! 2. The [`cache`] supplies the findings for a file whose identity it stored before.
//! 3. Otherwise [`elf::check`] rejects what is not a loadable ELF shared library for this
//!    machine, including truncated copies, and the file's SHA-256 is computed.
//! 4. The remaining files go to the scanner helpers ([`pool::examine`]). A helper reports each
//!    file's metadata or its rejection, or dies on it, and a death rejects that file only.
//! 5. The findings are saved to the cache, and the SHA-256 pins of the configuration are
//!    checked against the files that passed.
//!
//! [`crate::modules::Discovered::scan`] then loads the passed files into the host.

mod cache;
mod candidate;
mod elf;
pub mod helper;
mod pool;
mod protocol;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rayon::prelude::*;

pub use candidate::open_regular_file;
pub use pool::{SCAN_SUBCOMMAND, StartError};
pub use protocol::FileIdentity;

use crate::config::Config;
use crate::loader::{self, DiscoverError, PluginMetadata, Rejection};
use crate::trust::{self, TrustPolicy};
use cache::{CacheEntry, ScanCache};
use pool::Scanner;
use protocol::{RejectedFile, Verdict};

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
    /// The `configurator` executable that runs as the scanner helper.
    pub scanner_program: PathBuf,
    /// How long the scanner may take to load one file.
    pub scan_timeout: Duration,
}

impl ScanOptions {
    /// Returns the options that `config` and `--insecure-plugins` set, with `scanner_program`
    /// as the helper.
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
        }
    }
}

/// A file the scanner passed, ready to be loaded into the host.
#[derive(Debug, Clone)]
pub struct PassedFile {
    /// The file.
    pub path: PathBuf,
    /// Its identity when it was examined; the host loads it only if it still has it.
    pub identity: FileIdentity,
    /// The SHA-256 of its content as lowercase hex.
    pub sha256: String,
    /// The metadata the scanner read from it.
    pub metadata: PluginMetadata,
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
}

/// Errors that stop discovery as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The plugin directory cannot be listed.
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// The scanner helper cannot be started.
    #[error(transparent)]
    Start(#[from] StartError),
}

/// The state of one directory entry.
enum Slot {
    /// Decided: a plugin or a rejection.
    Done(Result<PassedFile, Rejection>),
    /// Waiting for the scanner, with its identity and SHA-256.
    Pending(FileIdentity, String),
}

/// Examines every `*.so` entry of `plugin_dir`; see the module documentation for the steps.
pub fn scan_directory(
    plugin_dir: &Path,
    options: &ScanOptions,
) -> Result<DirectoryScan, ScanError> {
    let started = Instant::now();
    let paths = loader::discover(plugin_dir)?;
    let mut trust = options
        .strict
        .then(|| TrustPolicy::new(trust::current_uid()));
    let mut cache = ScanCache::open(options.cache_file.clone(), trust.as_mut());
    let mut scan = DirectoryScan::default();

    // Hashing new files is most of this step's work, so files are inspected in parallel. The
    // threads share the trust policy's memo of checked directories.
    let trust = Mutex::new(trust);
    let inspected: Vec<Inspected> = paths
        .par_iter()
        .map(|path| inspect(path, &trust, &cache))
        .collect();
    let mut slots = Vec::with_capacity(paths.len());
    for inspected in inspected {
        if inspected.from_cache {
            scan.from_cache += 1;
        }
        if let Some(entry) = inspected.cache_entry {
            cache.record(entry);
        }
        slots.push(inspected.slot);
    }

    let jobs: Vec<PathBuf> = paths
        .iter()
        .zip(&slots)
        .filter(|(_, slot)| matches!(slot, Slot::Pending(..)))
        .map(|(path, _)| path.clone())
        .collect();
    scan.examined = jobs.len();
    let scanner = Scanner {
        program: options.scanner_program.clone(),
        timeout: options.scan_timeout,
    };
    let mut findings = pool::examine(&scanner, &jobs)?.into_iter();

    for (path, slot) in paths.iter().zip(slots) {
        let outcome = match slot {
            Slot::Done(outcome) => outcome,
            Slot::Pending(identity, sha256) => {
                let finding = findings.next().expect("one finding per pending file");
                settle(path, identity, sha256, finding, &mut cache)
            }
        };
        match outcome.and_then(|passed| check_pin(passed, &options.sha256_pins)) {
            Ok(passed) => scan.passed.push(passed),
            Err(rejection) => scan.rejected.push(rejection),
        }
    }
    cache.save();

    tracing::debug!(
        "plugin discovery in {}: {} file(s), {} answered by the scan cache, {} examined by the \
         plugin scanner, in {:?}",
        plugin_dir.display(),
        paths.len(),
        scan.from_cache,
        scan.examined,
        started.elapsed()
    );
    Ok(scan)
}

/// The result of inspecting one entry, with the cache entry to record for it.
struct Inspected {
    slot: Slot,
    cache_entry: Option<CacheEntry>,
    from_cache: bool,
}

/// Opens one entry and decides it from the cache or the ELF check, or hashes it and leaves it
/// for the scanner.
fn inspect(path: &Path, trust: &Mutex<Option<TrustPolicy>>, cache: &ScanCache) -> Inspected {
    let reject = |reason: String| Inspected {
        slot: Slot::Done(Err(Rejection {
            path: path.to_owned(),
            reason,
            detail: None,
        })),
        cache_entry: None,
        from_cache: false,
    };
    let opened = {
        let mut trust = trust.lock().unwrap_or_else(PoisonError::into_inner);
        candidate::open(path, trust.as_mut())
    };
    let candidate = match opened {
        Ok(candidate) => candidate,
        Err(reason) => return reject(reason),
    };
    let identity = candidate.identity;

    if let Some(entry) = cache.lookup(&identity) {
        let outcome = outcome_of(path, identity, entry.sha256.clone(), entry.verdict.clone());
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
        };
        return Inspected {
            cache_entry: Some(entry),
            ..reject(reason)
        };
    }
    match trust::sha256_of_reader(&candidate.file) {
        Ok(sha256) => Inspected {
            slot: Slot::Pending(identity, sha256),
            cache_entry: None,
            from_cache: false,
        },
        Err(error) => reject(format!("cannot be read: {error}")),
    }
}

/// Turns the scanner's finding for one file into its outcome, and records it in the cache when
/// it belongs to the file.
fn settle(
    path: &Path,
    identity: FileIdentity,
    sha256: String,
    finding: pool::Finding,
    cache: &mut ScanCache,
) -> Result<PassedFile, Rejection> {
    if finding.identity.is_some_and(|seen| seen != identity) {
        return Err(Rejection {
            path: path.to_owned(),
            reason: "changed while the plugin scanner examined it; run configurator again"
                .to_owned(),
            detail: None,
        });
    }
    if finding.cacheable {
        cache.record(CacheEntry {
            path: path.display().to_string(),
            identity,
            sha256: Some(sha256.clone()),
            verdict: finding.verdict.clone(),
        });
    }
    outcome_of(path, identity, Some(sha256), finding.verdict)
}

fn outcome_of(
    path: &Path,
    identity: FileIdentity,
    sha256: Option<String>,
    verdict: Verdict,
) -> Result<PassedFile, Rejection> {
    match (verdict, sha256) {
        (Verdict::Plugin(metadata), Some(sha256)) => Ok(PassedFile {
            path: path.to_owned(),
            identity,
            sha256,
            metadata,
        }),
        (Verdict::Plugin(_), None) => Err(Rejection {
            path: path.to_owned(),
            reason: "its scan record has no SHA-256; run configurator again".to_owned(),
            detail: None,
        }),
        (Verdict::Rejected(RejectedFile { reason, detail }), _) => Err(Rejection {
            path: path.to_owned(),
            reason: one_line(&reason),
            detail,
        }),
    }
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
    match pins.get(&passed.metadata.name) {
        Some(expected) if *expected != passed.sha256 => Err(Rejection {
            reason: format!(
                "its SHA-256 does not match the pin for module `{}` in the configuration: \
                 expected {expected}, found {}",
                passed.metadata.name, passed.sha256
            ),
            path: passed.path,
            detail: None,
        }),
        _ => Ok(passed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_reason_becomes_one_line() {
        assert_eq!(
            one_line("building the module failed: first\n  second\n\nthird\n"),
            "building the module failed: first second third"
        );
    }
}
