//! The scan cache: what the plugin scanner and the ELF check found for each file, keyed by
//! the file's identity, so that an unchanged plugin directory is not examined again.
//!
//! The cache is a JSON file, [`ScanCache::open`] reads it and [`ScanCache::save`] replaces it
//! atomically (a temporary file in the same directory, then a rename). The host ignores the
//! whole file and rebuilds it when anything is wrong with it, such as unreadable JSON, an entry
//! that fails validation or a file written by another build of the host or of the scanner. The
//! cache only saves time, so ignoring it costs nothing else. When the trust policy is on, a
//! cache file that another user could have written is ignored as well, because the host relies
//! on it. A plugin verdict of a scanner that is the running executable replaces the layout
//! check in the host (see [`crate::loader::load_passed`]). A stored SHA-256 is shown and
//! checked against pins without reading the file again.
//!
//! An entry is used only when the file's identity (device, inode, size, modification and
//! status-change times in nanoseconds) is the one stored. Writing to a file changes its
//! modification or status-change time, and nobody can set the status-change time by hand, so
//! an equal identity means unchanged content. An entry has a SHA-256 only once a discovery
//! needed one (`list`, `run --report` or a pin) and stored it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs;
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::protocol::{CheckedSettings, FileIdentity, Verdict};
use crate::trust::{self, TrustPolicy};

/// The format of the cache file; a file of another format is ignored.
///
/// Format 2 allowed a plugin entry without a SHA-256. Format 3 added a plugin's check mode
/// support, format 4 the checksum of the entries, format 5 the result of a plugin's settings
/// check, and format 6 the settings with which a file killed the scanner.
const FORMAT: u32 = 6;

/// One file's findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The file's path when it was examined, for people reading the cache; lookups use the
    /// identity.
    pub path: String,
    /// The file's identity when it was examined.
    pub identity: FileIdentity,
    /// The SHA-256 of its content as lowercase hex, once a discovery has computed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The verdict of examining it.
    pub verdict: Verdict,
    /// For a plugin, the result of its settings check on the settings text it was checked with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<CheckedSettings>,
    /// For a file that killed the plugin scanner, the SHA-256 of all configured settings at the
    /// time, because the death may have come from the plugin's settings check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub died_with_settings: Option<String>,
}

/// The file on disk. The entries stay JSON text here, because the checksum covers that text.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheFile<'a> {
    format: u32,
    /// The builds of the host and of the scanner that wrote the file; see [`scanner_stamp`].
    #[serde(borrow)]
    scanner: Cow<'a, str>,
    /// The SHA-256 of the text of `entries`, lowercase hex; see [`checksum`].
    checksum: String,
    /// A JSON array of [`CacheEntry`].
    #[serde(borrow)]
    entries: &'a RawValue,
}

/// The cache of one discovery: the entries read from the file and those of this discovery.
#[derive(Debug)]
pub struct ScanCache {
    file: Option<PathBuf>,
    stamp: String,
    stored: HashMap<FileIdentity, CacheEntry>,
    current: Vec<CacheEntry>,
}

impl ScanCache {
    /// Reads the cache file `file`, or starts empty when there is none, it is not trusted, it
    /// is damaged or it was written with another host or `scanner` executable (`None` when its
    /// identity is unknown). With `file` `None` nothing is read or written.
    pub fn open(
        file: Option<PathBuf>,
        scanner: Option<FileIdentity>,
        trust: Option<&mut TrustPolicy>,
    ) -> Self {
        let stamp = scanner_stamp(scanner);
        let stored = match &file {
            Some(path) => read_entries(path, &stamp, trust).unwrap_or_else(|problem| {
                if let Some(problem) = problem {
                    tracing::warn!(
                        "ignoring the plugin scan cache {}: {problem}; it will be rebuilt",
                        path.display()
                    );
                }
                HashMap::new()
            }),
            None => HashMap::new(),
        };
        Self {
            file,
            stamp,
            stored,
            current: Vec::new(),
        }
    }

    /// Returns the stored entry for a file with `identity`.
    pub fn lookup(&self, identity: &FileIdentity) -> Option<&CacheEntry> {
        self.stored.get(identity)
    }

    /// Keeps `entry` for the file written by [`save`](Self::save).
    pub fn record(&mut self, entry: CacheEntry) {
        self.current.push(entry);
    }

    /// Writes the entries recorded in this discovery, replacing the file, unless they are the
    /// entries that were read. A failure is logged, never returned: the next discovery only
    /// examines more files.
    pub fn save(&mut self) {
        let Some(path) = &self.file else {
            return;
        };
        let unchanged = self.current.len() == self.stored.len()
            && self
                .current
                .iter()
                .all(|entry| self.stored.get(&entry.identity) == Some(entry));
        if unchanged {
            return;
        }
        self.current.sort_by(|a, b| a.path.cmp(&b.path));
        let entries = std::mem::take(&mut self.current);
        match write_atomically(path, &self.stamp, &entries) {
            Ok(()) => tracing::debug!(
                "wrote {} entries to the plugin scan cache {}",
                entries.len(),
                path.display()
            ),
            Err(error) => tracing::warn!(
                "cannot write the plugin scan cache {}: {error}; the next run examines every \
                 plugin file again",
                path.display()
            ),
        }
    }
}

/// Returns the cache file to use for `plugin_dir` when the configuration names none, or `None`
/// when there is no place for one.
///
/// The directory is `$XDG_CACHE_HOME/configurator` when `XDG_CACHE_HOME` is set to an absolute
/// path, else `/var/cache/configurator` for root and `$HOME/.cache/configurator` for other
/// users. Each plugin directory has its own file there, named after a hash of its canonical
/// path, so that runs on different plugin directories do not evict each other's entries.
pub fn default_file(plugin_dir: &Path, user: u32) -> Option<PathBuf> {
    let absolute = |variable: &str| {
        std::env::var_os(variable)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    let directory = if let Some(cache_home) = absolute("XDG_CACHE_HOME") {
        cache_home.join("configurator")
    } else if user == 0 {
        PathBuf::from("/var/cache/configurator")
    } else {
        absolute("HOME")?.join(".cache/configurator")
    };
    let canonical = fs::canonicalize(plugin_dir).unwrap_or_else(|_| plugin_dir.to_owned());
    let digest = trust::sha256_of_reader(canonical.as_os_str().as_encoded_bytes()).ok()?;
    Some(directory.join(format!("scan-{}.json", &digest[..16])))
}

/// Identifies the builds that decide the verdicts: the host's version and interface version,
/// and the identities of the running executable and of the `scanner` executable. A cache
/// written by another build is ignored, because that build may judge files differently, and
/// because the host skips the layout check only for verdicts of a scanner that is its own
/// executable.
fn scanner_stamp(scanner: Option<FileIdentity>) -> String {
    let describe = |identity: Option<FileIdentity>| {
        identity.map_or_else(
            || "unknown".to_owned(),
            |identity| {
                format!(
                    "{}:{}:{}:{}:{}",
                    identity.device,
                    identity.inode,
                    identity.size,
                    identity.mtime_ns,
                    identity.ctime_ns
                )
            },
        )
    };
    format!(
        "configurator {} plugin-api {} executable {} scanner {}",
        env!("CARGO_PKG_VERSION"),
        plugin_api::ffi::INTERFACE_VERSION,
        describe(FileIdentity::of_running_executable()),
        describe(scanner)
    )
}

/// Largest cache file the host reads; an entry takes a few hundred bytes, so this allows far
/// more plugins than a directory holds.
const MAX_CACHE_BYTES: u64 = 256 * 1024 * 1024;

/// Reads and validates the cache file.
///
/// `Err(None)` means there is no file or it is from another build, which is not worth a
/// warning. `Err(Some(problem))` means it is damaged or not trusted.
fn read_entries(
    path: &Path,
    stamp: &str,
    trust: Option<&mut TrustPolicy>,
) -> Result<HashMap<FileIdentity, CacheEntry>, Option<String>> {
    // The file is opened without blocking and checked through its descriptor, so that the file
    // read is the one checked: a FIFO would block the read and a device such as /dev/zero
    // would never end it.
    let mut file = match super::candidate::open_regular_file(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(None),
        Err(error) => return Err(Some(format!("cannot open it: {error}"))),
    };
    let metadata = file
        .metadata()
        .map_err(|error| Some(format!("cannot inspect it: {error}")))?;
    if !metadata.is_file() {
        return Err(Some("it is not a regular file".to_owned()));
    }
    if metadata.len() > MAX_CACHE_BYTES {
        return Err(Some(format!(
            "it is larger than {MAX_CACHE_BYTES} bytes, more than any real cache"
        )));
    }
    if let Some(trust) = trust {
        trust
            .check_file(path, &metadata)
            .map_err(|error| Some(format!("it is not trusted: {error}")))?;
    }
    let mut text = String::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.read_to_string(&mut text)
        .map_err(|error| Some(format!("cannot read it: {error}")))?;
    let damaged = |error: serde_json::Error| Some(format!("it is damaged: {error}"));
    let contents: CacheFile = serde_json::from_str(&text).map_err(damaged)?;
    if contents.format != FORMAT || contents.scanner != stamp {
        tracing::debug!(
            "the plugin scan cache {} was written by another build of configurator; \
             rebuilding it",
            path.display()
        );
        return Err(None);
    }
    if checksum(contents.entries) != contents.checksum {
        return Err(Some(
            "it is damaged: its checksum does not match its entries".to_owned(),
        ));
    }
    let stored: Vec<CacheEntry> = serde_json::from_str(contents.entries.get()).map_err(damaged)?;
    let mut entries = HashMap::with_capacity(stored.len());
    for entry in stored {
        validate(&entry).map_err(|problem| Some(format!("it is damaged: {problem}")))?;
        entries.insert(entry.identity, entry);
    }
    Ok(entries)
}

/// Returns the SHA-256 of the text of `entries`, in lowercase hex.
///
/// A damaged file whose JSON still parses, with a changed verdict or hash, no longer matches
/// its checksum. The checksum is no signature: a user who can write the cache file, which the
/// trust policy allows only to root and the host's user, can also write a matching one.
fn checksum(entries: &RawValue) -> String {
    trust::sha256_of_reader(entries.get().as_bytes()).expect("reading from memory cannot fail")
}

/// Checks what a damaged file could get wrong without breaking the JSON syntax.
fn validate(entry: &CacheEntry) -> Result<(), String> {
    if let Some(sha256) = &entry.sha256
        && !trust::is_sha256_hex(sha256)
    {
        return Err(format!(
            "the entry for {} has an invalid SHA-256",
            entry.path
        ));
    }
    match &entry.verdict {
        Verdict::Plugin(metadata) => {
            if metadata.name.trim().is_empty() {
                return Err(format!("the entry for plugin {} is incomplete", entry.path));
            }
        }
        Verdict::Rejected(rejected) => {
            if rejected.reason.trim().is_empty() {
                return Err(format!("the entry for {} has no reason", entry.path));
            }
        }
    }
    Ok(())
}

/// Writes `entries` with the build `stamp` to the cache file `path`, replacing it atomically.
fn write_atomically(path: &Path, stamp: &str, entries: &[CacheEntry]) -> io::Result<()> {
    let directory = path.parent().unwrap_or(Path::new("."));
    // Not writable by group or others whatever the umask, or the trust policy would ignore
    // the cache.
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(directory)?;
    let mut file = tempfile::Builder::new()
        .prefix(".scan-")
        .suffix(".tmp")
        .tempfile_in(directory)?;
    // Serialized in memory first: serde_json writes each token separately, which would take
    // one system call per token on an unbuffered file.
    let entries = RawValue::from_string(serde_json::to_string(entries)?)?;
    let contents = CacheFile {
        format: FORMAT,
        scanner: Cow::Borrowed(stamp),
        checksum: checksum(&entries),
        entries: &entries,
    };
    let mut text = serde_json::to_vec(&contents)?;
    text.push(b'\n');
    file.write_all(&text)?;
    file.as_file().sync_all()?;
    file.persist(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, inode: u64) -> CacheEntry {
        CacheEntry {
            path: path.to_owned(),
            identity: FileIdentity {
                device: 1,
                inode,
                size: 10,
                mtime_ns: 20,
                ctime_ns: 30,
            },
            sha256: Some("ab".repeat(32)),
            verdict: Verdict::rejected("not a plugin"),
            settings: None,
            died_with_settings: None,
        }
    }

    /// Saves a cache with the entry of `/p/a.so` (inode 7) to `dir/scan.json` and returns the
    /// file's path.
    fn saved_cache(dir: &Path) -> PathBuf {
        let file = dir.join("scan.json");
        let mut cache = ScanCache::open(Some(file.clone()), None, None);
        cache.record(entry("/p/a.so", 7));
        cache.save();
        file
    }

    #[test]
    fn saved_entries_are_found_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache/scan.json");
        let mut cache = ScanCache::open(Some(file.clone()), None, None);
        cache.record(entry("/p/a.so", 7));
        cache.save();

        let cache = ScanCache::open(Some(file.clone()), None, None);
        let found = cache.lookup(&entry("/p/a.so", 7).identity).unwrap();
        assert_eq!(found, &entry("/p/a.so", 7));
        assert!(cache.lookup(&entry("/p/a.so", 8).identity).is_none());
    }

    #[test]
    fn edited_verdict_fails_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let file = saved_cache(dir.path());
        let text = fs::read_to_string(&file).unwrap();
        let edited = text.replacen("not a plugin", "not a plugin either", 1);
        assert_ne!(edited, text);
        fs::write(&file, edited).unwrap();

        let problem = read_entries(&file, &scanner_stamp(None), None).unwrap_err();

        assert_eq!(
            problem.as_deref(),
            Some("it is damaged: its checksum does not match its entries")
        );
    }

    #[test]
    fn unhashed_entry_omits_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scan.json");
        let unhashed = CacheEntry {
            sha256: None,
            verdict: Verdict::Plugin(crate::loader::PluginMetadata::for_test("hosts")),
            ..entry("/p/hosts.so", 7)
        };
        let mut cache = ScanCache::open(Some(file.clone()), None, None);
        cache.record(unhashed.clone());
        cache.save();
        let text = fs::read_to_string(&file).unwrap();
        assert!(!text.contains("sha256"), "{text}");

        let cache = ScanCache::open(Some(file), None, None);
        assert_eq!(cache.lookup(&unhashed.identity), Some(&unhashed));
    }

    #[test]
    fn another_scanner_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scan.json");
        let scanner = entry("/usr/bin/configurator", 99).identity;
        let mut cache = ScanCache::open(Some(file.clone()), Some(scanner), None);
        cache.record(entry("/p/a.so", 7));
        cache.save();

        let same = ScanCache::open(Some(file.clone()), Some(scanner), None);
        assert!(same.lookup(&entry("/p/a.so", 7).identity).is_some());
        let other = ScanCache::open(Some(file), None, None);
        assert!(other.lookup(&entry("/p/a.so", 7).identity).is_none());
    }

    #[test]
    fn damaged_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = saved_cache(dir.path());
        let text = fs::read_to_string(&file).unwrap();
        fs::write(&file, &text[..text.len() / 2]).unwrap();

        let cache = ScanCache::open(Some(file), None, None);
        assert!(cache.lookup(&entry("/p/a.so", 7).identity).is_none());
    }

    #[test]
    fn invalid_hash_makes_the_file_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let file = saved_cache(dir.path());
        let text = fs::read_to_string(&file).unwrap();
        fs::write(&file, text.replace(&"ab".repeat(32), &"zz".repeat(32))).unwrap();

        let cache = ScanCache::open(Some(file), None, None);
        assert!(cache.lookup(&entry("/p/a.so", 7).identity).is_none());
    }

    #[test]
    fn another_build_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scan.json");
        write_atomically(
            &file,
            "configurator 0.0.0 from elsewhere",
            &[entry("/p/a.so", 7)],
        )
        .unwrap();

        let cache = ScanCache::open(Some(file), None, None);
        assert!(cache.lookup(&entry("/p/a.so", 7).identity).is_none());
    }

    #[test]
    fn default_file_differs_per_plugin_directory() {
        let first = default_file(Path::new("/opt/a"), 0);
        let second = default_file(Path::new("/opt/b"), 0);
        assert_ne!(first, second);
    }
}
