//! What a module sees of the host while it runs: [`Context`] and the [`FileLock`] guard.
//!
//! Every service here forwards to the host through the [`HostServices`] trait object, because
//! each plugin carries its own copy of this crate and shares no state with the host otherwise.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use std::time::Duration;

use abi_stable::std_types::{RResult, RSlice, RStr};
use serde::de::DeserializeOwned;

use crate::ffi::{AccessKind, HostServicesBox, LogLevel};

/// Errors from the host services a [`Context`] offers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// The module's settings table does not fit the type the module asked for.
    #[error("invalid settings for module `{module}`: {message}")]
    InvalidSettings {
        /// The module whose `[modules.NAME]` table is invalid.
        module: String,
        /// The deserializer's message: what it expected and found.
        message: String,
    },

    /// The host could not take the lock for a path.
    #[error("failed to lock {}: {message}", path.display())]
    Lock {
        /// The path as the module passed it.
        path: PathBuf,
        /// The host's reason.
        message: String,
    },

    /// The host could not resolve a path under the run's root.
    #[error("cannot resolve {} under the run's root: {message}", path.display())]
    Resolve {
        /// The path as the module passed it.
        path: PathBuf,
        /// The host's reason.
        message: String,
    },

    /// [`utils::file_lock`](crate::utils::file_lock) ran on a thread that is not running a
    /// module's `configure`.
    #[error(
        "utils::file_lock({}) was called outside a module's configure thread; \
         call Context::file_lock, or call utils::file_lock from the thread running configure",
        path.display()
    )]
    NoContext {
        /// The path the module tried to lock.
        path: PathBuf,
    },
}

/// The handle a module's `configure` receives: host services scoped to this module and run.
pub struct Context {
    host: HostServicesBox,
    module: String,
    settings: String,
}

impl Context {
    /// Creates a context for `module` with its settings table as TOML text.
    ///
    /// The generated plugin glue and test harnesses call this; a module receives its context
    /// ready-made.
    pub fn new(
        host: HostServicesBox,
        module: impl Into<String>,
        settings: impl Into<String>,
    ) -> Self {
        Self {
            host,
            module: module.into(),
            settings: settings.into(),
        }
    }

    /// Returns the name of the module this context belongs to.
    pub fn module_name(&self) -> &str {
        &self.module
    }

    /// Deserializes the module's `[modules.NAME]` table from the configuration file.
    ///
    /// A module without a table gets an empty one, so give the settings type `#[serde(default)]`
    /// to make every key optional. Declare the same type in
    /// [`export_module!`](crate::export_module) (`settings = T`) so that the host checks every
    /// table before any module runs.
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T, ContextError> {
        toml::from_str(&self.settings).map_err(|err| ContextError::InvalidSettings {
            module: self.module.clone(),
            message: err.message().to_owned(),
        })
    }

    /// Resolves a system path such as `/etc/hosts` to where it lives under the run's root.
    ///
    /// Relative paths are taken relative to the root as well.
    pub fn resolve(&self, path: impl AsRef<Path>) -> Result<PathBuf, ContextError> {
        resolve_with(&self.host, path.as_ref())
    }

    /// Returns the run's root directory (`/` on a real system).
    pub fn root(&self) -> PathBuf {
        path_from_bytes(self.host.root().as_slice())
    }

    /// Returns whether the run is a dry run (`configurator run --check`).
    ///
    /// The context's file helpers then record what they would write instead of writing, so a
    /// module that changes files only through them needs no check of its own. A module that
    /// changes the system in any other way, such as by running a tool, must leave that out
    /// when this returns `true`. See [Check mode](crate#check-mode).
    pub fn is_check(&self) -> bool {
        self.host.check_mode()
    }

    /// Takes the exclusive lock for a system path, blocking until it is free.
    ///
    /// The lock excludes every other module of this run and every other Configurator process
    /// working on the same root. It is released when the returned guard is dropped. Hold it
    /// around the whole read-modify-write of a shared file.
    pub fn file_lock(&self, path: impl AsRef<Path>) -> Result<FileLock, ContextError> {
        lock_with(&self.host, path.as_ref(), None)
    }

    /// Like [`file_lock`](Self::file_lock), but gives up after `timeout` with an error naming
    /// the module or process that holds the lock.
    pub fn file_lock_timeout(
        &self,
        path: impl AsRef<Path>,
        timeout: Duration,
    ) -> Result<FileLock, ContextError> {
        lock_with(&self.host, path.as_ref(), Some(timeout))
    }

    /// Reads a text file under its lock, returning `None` when it does not exist.
    ///
    /// The host's access audit counts this as a plain read, one that relies on what other
    /// modules wrote, unlike a read through a [`FileLock`] the module holds to edit the file.
    /// In check mode a file that a module of the run would have written reads as that content.
    pub fn read_to_string(&self, path: impl AsRef<Path>) -> crate::Result<Option<String>> {
        let path = path.as_ref();
        let resolved = self.resolve(path)?;
        // Recorded before the lock is taken, so that the host does not see an edit.
        self.host.record_access(
            AccessKind::Read,
            RSlice::from_slice(resolved.as_os_str().as_bytes()),
        );
        let lock = self.file_lock(path)?;
        crate::fs::read_as_seen(Some(&self.host), lock.path())
    }

    /// Replaces a file atomically under its lock, unless it already has `contents`; returns
    /// whether it wrote. A new file gets `new_mode`; see [`crate::fs::write_atomic`].
    ///
    /// In check mode it writes nothing and returns whether it would have written; the host
    /// records the new content (see [`FileLock::write_atomic`]).
    pub fn write_atomic(
        &self,
        path: impl AsRef<Path>,
        contents: &str,
        new_mode: u32,
    ) -> crate::Result<bool> {
        let lock = self.file_lock(path)?;
        if lock.read_to_string()?.as_deref() == Some(contents) {
            return Ok(false);
        }
        lock.write_atomic(contents, new_mode)?;
        Ok(true)
    }

    /// Appends `line` to a text file under its lock unless a line equal to it is already there;
    /// returns whether it wrote. A missing file is created with mode `0o644`.
    ///
    /// In check mode it writes nothing and returns whether it would have written.
    pub fn append_line_if_missing(
        &self,
        path: impl AsRef<Path>,
        line: &str,
    ) -> crate::Result<bool> {
        let lock = self.file_lock(path)?;
        let mut text = lock.read_to_string()?.unwrap_or_default();
        if text.lines().any(|existing| existing == line) {
            return Ok(false);
        }
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(line);
        text.push('\n');
        lock.write_atomic(&text, 0o644)?;
        Ok(true)
    }

    /// Takes the locks for several paths at once, in one canonical order (sorted by resolved
    /// path, duplicates removed), so that two modules locking the same set can never deadlock
    /// each other. The guards are returned in that order.
    pub fn file_locks<P: AsRef<Path>>(
        &self,
        paths: impl IntoIterator<Item = P>,
    ) -> Result<Vec<FileLock>, ContextError> {
        let mut resolved = Vec::new();
        for path in paths {
            let path = path.as_ref();
            resolved.push((self.resolve(path)?, path.to_owned()));
        }
        resolved.sort();
        resolved.dedup_by(|later, earlier| later.0 == earlier.0);

        // On an error the guards taken so far drop and release their locks.
        resolved
            .iter()
            .map(|(_, path)| self.file_lock(path))
            .collect()
    }

    /// Records a message at `level`; the host prefixes it with the module's name.
    pub fn log(&self, level: LogLevel, message: impl fmt::Display) {
        self.host.log(level, RStr::from_str(&message.to_string()));
    }

    /// Records an error message.
    pub fn error(&self, message: impl fmt::Display) {
        self.log(LogLevel::Error, message);
    }

    /// Records a warning.
    pub fn warn(&self, message: impl fmt::Display) {
        self.log(LogLevel::Warn, message);
    }

    /// Records a progress message.
    pub fn info(&self, message: impl fmt::Display) {
        self.log(LogLevel::Info, message);
    }

    /// Records a troubleshooting message.
    pub fn debug(&self, message: impl fmt::Display) {
        self.log(LogLevel::Debug, message);
    }

    pub(crate) fn host(&self) -> &HostServicesBox {
        &self.host
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("module", &self.module)
            .finish_non_exhaustive()
    }
}

/// An exclusive host-mediated lock on one path, released when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct FileLock {
    host: HostServicesBox,
    token: u64,
    path: PathBuf,
}

impl FileLock {
    /// Returns the locked path resolved under the run's root: the file to read and write.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the locked file as text, returning `None` when it does not exist.
    ///
    /// The host's access audit sees the read as part of editing a shared file under its lock.
    /// In check mode a file that a module of the run would have written reads as that content.
    pub fn read_to_string(&self) -> crate::Result<Option<String>> {
        self.record(AccessKind::Read);
        crate::fs::read_as_seen(Some(&self.host), &self.path)
    }

    /// Replaces the locked file atomically with `contents`; a new file gets `new_mode`.
    ///
    /// See [`crate::fs::write_atomic`]. The host's access audit sees the write. In check mode
    /// nothing is written: the host records `contents` as the file's new content, which later
    /// reads through the context's helpers return for the rest of the run.
    ///
    /// Before writing, it removes the file's temporary files that earlier writes, killed
    /// before their rename, left behind (`.NAME.XXXXXX.tmp` beside the file): under the lock
    /// no other writer through the context can be using one.
    pub fn write_atomic(&self, contents: impl AsRef<[u8]>, new_mode: u32) -> crate::Result<()> {
        self.record(AccessKind::Write);
        crate::fs::write_or_record(
            Some(&self.host),
            &self.path,
            contents.as_ref(),
            new_mode,
            crate::fs::LeftoverTemps::Remove,
        )
    }

    fn record(&self, kind: AccessKind) {
        self.host
            .record_access(kind, RSlice::from_slice(self.path.as_os_str().as_bytes()));
    }
}

impl fmt::Debug for FileLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileLock")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        self.host.unlock(self.token);
    }
}

pub(crate) fn lock_with(
    host: &HostServicesBox,
    path: &Path,
    timeout: Option<Duration>,
) -> Result<FileLock, ContextError> {
    // `u64::MAX` requests a wait without a limit, so a finite timeout stays below it.
    let millis = match timeout {
        None => u64::MAX,
        Some(timeout) => {
            u64::try_from(timeout.as_millis()).map_or(u64::MAX - 1, |ms| ms.min(u64::MAX - 1))
        }
    };
    match host.lock_resolved(bytes_of(path), millis) {
        RResult::ROk(grant) => Ok(FileLock {
            host: host.clone(),
            token: grant.token,
            path: path_from_bytes(grant.path.as_slice()),
        }),
        RResult::RErr(message) => Err(ContextError::Lock {
            path: path.to_owned(),
            message: message.into(),
        }),
    }
}

fn resolve_with(host: &HostServicesBox, path: &Path) -> Result<PathBuf, ContextError> {
    match host.resolve(bytes_of(path)) {
        RResult::ROk(bytes) => Ok(path_from_bytes(bytes.as_slice())),
        RResult::RErr(message) => Err(ContextError::Resolve {
            path: path.to_owned(),
            message: message.into(),
        }),
    }
}

fn bytes_of(path: &Path) -> RSlice<'_, u8> {
    RSlice::from_slice(path.as_os_str().as_bytes())
}

fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::fs;
    use std::sync::{Arc, Mutex};

    use abi_stable::sabi_trait::TD_Opaque;
    use abi_stable::std_types::{RArc, ROption, RString, RVec};

    use super::*;
    use crate::ffi::{HostServices, HostServices_TO};

    /// One change a module reported through `record_change`.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Change {
        path: PathBuf,
        old: Option<String>,
        new: String,
    }

    /// The host side of one module under a temporary root, as far as the file helpers use it.
    /// Paths resolve by joining them to the root and every lock is granted. In check mode each
    /// recorded change becomes the file's content for later reads, as in the real host.
    #[derive(Clone)]
    struct RecordingHost {
        root: PathBuf,
        check: bool,
        records: bool,
        changes: Arc<Mutex<Vec<Change>>>,
        staged: Arc<Mutex<HashMap<PathBuf, Vec<u8>>>>,
    }

    impl RecordingHost {
        fn new(root: &Path, check: bool, records: bool) -> Self {
            Self {
                root: root.to_owned(),
                check,
                records,
                changes: Arc::default(),
                staged: Arc::default(),
            }
        }

        fn context(&self) -> Context {
            let host = HostServices_TO::from_ptr(RArc::new(self.clone()), TD_Opaque);
            Context::new(host, "motd", "")
        }

        fn changes(&self) -> Vec<Change> {
            self.changes.lock().unwrap().clone()
        }
    }

    /// Returns the system path `path` as a path under `root`, without checking confinement.
    fn join_under(root: &Path, path: RSlice<'_, u8>) -> RVec<u8> {
        let path = path_from_bytes(path.as_slice());
        let inside = path.strip_prefix("/").unwrap_or(&path);
        RVec::from(root.join(inside).as_os_str().as_bytes())
    }

    impl HostServices for RecordingHost {
        fn resolve(&self, path: RSlice<'_, u8>) -> RResult<RVec<u8>, RString> {
            RResult::ROk(join_under(&self.root, path))
        }

        fn lock(&self, _path: RSlice<'_, u8>) -> RResult<u64, RString> {
            RResult::ROk(1)
        }

        fn unlock(&self, _token: u64) {}

        fn log(&self, _level: LogLevel, _message: RStr<'_>) {}

        fn root(&self) -> RVec<u8> {
            RVec::from(self.root.as_os_str().as_bytes())
        }

        fn check_mode(&self) -> bool {
            self.check
        }

        fn records_changes(&self) -> bool {
            self.records
        }

        fn record_change(&self, path: RSlice<'_, u8>, old: ROption<RVec<u8>>, new: RVec<u8>) {
            let path = path_from_bytes(path.as_slice());
            let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).unwrap();
            self.changes.lock().unwrap().push(Change {
                path: path.clone(),
                old: old.as_ref().map(|old| text(old)).into_option(),
                new: text(&new),
            });
            if self.check {
                self.staged.lock().unwrap().insert(path, new.into_vec());
            }
        }

        fn staged_content(&self, path: RSlice<'_, u8>) -> ROption<RVec<u8>> {
            let path = path_from_bytes(path.as_slice());
            self.staged
                .lock()
                .unwrap()
                .get(&path)
                .map(|content| RVec::from(content.as_slice()))
                .into()
        }
    }

    /// A host that implements only the services of plugin-api 1.0, as an older host does.
    #[derive(Clone)]
    struct OlderHost {
        root: PathBuf,
    }

    impl HostServices for OlderHost {
        fn resolve(&self, path: RSlice<'_, u8>) -> RResult<RVec<u8>, RString> {
            RResult::ROk(join_under(&self.root, path))
        }

        fn lock(&self, _path: RSlice<'_, u8>) -> RResult<u64, RString> {
            RResult::ROk(1)
        }

        fn unlock(&self, _token: u64) {}

        fn log(&self, _level: LogLevel, _message: RStr<'_>) {}

        fn root(&self) -> RVec<u8> {
            RVec::from(self.root.as_os_str().as_bytes())
        }
    }

    fn entries_of(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn is_check_follows_the_host() {
        let dir = tempfile::tempdir().unwrap();

        assert!(
            RecordingHost::new(dir.path(), true, true)
                .context()
                .is_check()
        );
        assert!(
            !RecordingHost::new(dir.path(), false, true)
                .context()
                .is_check()
        );
    }

    #[test]
    fn check_write_atomic_records_instead_of_writing() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("etc")).unwrap();
        fs::write(dir.path().join("etc/motd"), "old\n").unwrap();
        let host = RecordingHost::new(dir.path(), true, true);
        let ctx = host.context();

        let wrote = ctx.write_atomic("/etc/motd", "new\n", 0o644).unwrap();

        assert!(wrote, "write_atomic reports the write it would make");
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/motd")).unwrap(),
            "old\n"
        );
        assert_eq!(entries_of(&dir.path().join("etc")), ["motd"]);
        assert_eq!(
            host.changes(),
            [Change {
                path: dir.path().join("etc/motd"),
                old: Some("old\n".to_owned()),
                new: "new\n".to_owned(),
            }]
        );
    }

    #[test]
    fn check_write_atomic_of_same_content_records_nothing() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("etc")).unwrap();
        fs::write(dir.path().join("etc/motd"), "same\n").unwrap();
        let host = RecordingHost::new(dir.path(), true, true);

        let wrote = host
            .context()
            .write_atomic("/etc/motd", "same\n", 0o644)
            .unwrap();

        assert!(!wrote);
        assert_eq!(host.changes(), []);
    }

    #[test]
    fn check_reads_see_recorded_content() {
        let dir = tempfile::tempdir().unwrap();
        let host = RecordingHost::new(dir.path(), true, true);
        let ctx = host.context();

        ctx.write_atomic("/etc/hostname", "web01\n", 0o644).unwrap();

        assert_eq!(
            ctx.read_to_string("/etc/hostname").unwrap().as_deref(),
            Some("web01\n")
        );
        let lock = ctx.file_lock("/etc/hostname").unwrap();
        assert_eq!(lock.read_to_string().unwrap().as_deref(), Some("web01\n"));
        assert!(
            !ctx.write_atomic("/etc/hostname", "web01\n", 0o644).unwrap(),
            "the recorded content counts as current"
        );
        assert_eq!(
            entries_of(dir.path()),
            Vec::<String>::new(),
            "check mode creates neither the file nor its directory"
        );
    }

    #[test]
    fn check_append_builds_on_recorded_content() {
        let dir = tempfile::tempdir().unwrap();
        let host = RecordingHost::new(dir.path(), true, true);
        let ctx = host.context();

        assert!(ctx.append_line_if_missing("/etc/shells", "/bin/a").unwrap());
        assert!(ctx.append_line_if_missing("/etc/shells", "/bin/b").unwrap());
        assert!(!ctx.append_line_if_missing("/etc/shells", "/bin/a").unwrap());

        let path = dir.path().join("etc/shells");
        assert_eq!(
            host.changes(),
            [
                Change {
                    path: path.clone(),
                    old: None,
                    new: "/bin/a\n".to_owned(),
                },
                Change {
                    path: path.clone(),
                    old: Some("/bin/a\n".to_owned()),
                    new: "/bin/a\n/bin/b\n".to_owned(),
                },
            ]
        );
        assert!(!path.exists());
    }

    #[test]
    fn check_lock_write_atomic_records_instead_of_writing() {
        let dir = tempfile::tempdir().unwrap();
        let host = RecordingHost::new(dir.path(), true, true);
        let ctx = host.context();

        let lock = ctx.file_lock("/etc/group").unwrap();
        lock.write_atomic("root:x:0:\n", 0o644).unwrap();

        assert!(!dir.path().join("etc").exists());
        assert_eq!(
            lock.read_to_string().unwrap().as_deref(),
            Some("root:x:0:\n")
        );
        assert_eq!(host.changes().len(), 1);
    }

    #[test]
    fn check_fs_helpers_record_on_configure_thread_only() {
        let dir = tempfile::tempdir().unwrap();
        let host = RecordingHost::new(dir.path(), true, true);
        let ctx = host.context();
        let path = ctx.resolve("/etc/motd").unwrap();

        {
            let _current = crate::export::CurrentContext::enter(&ctx);
            crate::fs::write_atomic(&path, "staged\n", 0o644).unwrap();

            assert!(!path.exists(), "check mode writes nothing");
            assert_eq!(
                crate::fs::read_to_string_if_exists(&path)
                    .unwrap()
                    .as_deref(),
                Some("staged\n")
            );
        }
        assert_eq!(host.changes().len(), 1);

        // Without a configure call on this thread the helpers know no host and write.
        crate::fs::write_atomic(&path, "written\n", 0o644).unwrap();

        assert_eq!(fs::read_to_string(&path).unwrap(), "written\n");
        assert_eq!(host.changes().len(), 1);
    }

    #[test]
    fn check_write_to_directory_fails() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc/motd")).unwrap();
        let host = RecordingHost::new(dir.path(), true, true);
        let lock = host.context().file_lock("/etc/motd").unwrap();

        let error = lock.write_atomic("text\n", 0o644).unwrap_err();

        assert!(format!("{error:#}").contains("is a directory"), "{error:#}");
        assert_eq!(host.changes(), []);
    }

    /// Returns the sorted names in `dir`.
    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn lock_write_atomic_removes_leftover_temps() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        fs::create_dir(&etc).unwrap();
        for name in [
            "big",
            ".big.AbC123.tmp",
            ".big.zz9Q0x.tmp",
            ".big.short.tmp",
            "other",
        ] {
            fs::write(etc.join(name), "x").unwrap();
        }
        fs::write(etc.join(".other.AbC123.tmp"), "x").unwrap();
        let host = RecordingHost::new(dir.path(), false, false);
        let lock = host.context().file_lock("/etc/big").unwrap();

        lock.write_atomic("new\n", 0o644).unwrap();

        assert_eq!(
            names_in(&etc),
            [".big.short.tmp", ".other.AbC123.tmp", "big", "other"],
            "only the locked file's own temporary files are removed"
        );
        assert_eq!(fs::read_to_string(etc.join("big")).unwrap(), "new\n");
    }

    #[test]
    fn check_lock_write_atomic_keeps_leftover_temps() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        fs::create_dir(&etc).unwrap();
        fs::write(etc.join(".big.AbC123.tmp"), "x").unwrap();
        let host = RecordingHost::new(dir.path(), true, true);
        let lock = host.context().file_lock("/etc/big").unwrap();

        lock.write_atomic("new\n", 0o644).unwrap();

        assert_eq!(
            names_in(&etc),
            [".big.AbC123.tmp"],
            "a check run changes nothing"
        );
    }

    #[test]
    fn write_to_root_fails_before_creating_anything() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        let host = RecordingHost::new(&root, false, true);
        let lock = host.context().file_lock("/").unwrap();

        let error = lock.write_atomic("text\n", 0o644).unwrap_err();

        let message = format!("{error:#}");
        assert!(message.contains(&root.display().to_string()), "{message}");
        assert!(message.contains("the run's root directory"), "{message}");
        assert_eq!(names_in(dir.path()), ["root"], "nothing beside the root");
        assert_eq!(names_in(&root), Vec::<String>::new(), "nothing in the root");
        assert_eq!(host.changes(), []);
    }

    #[test]
    fn real_write_is_reported_when_host_records_changes() {
        let dir = tempfile::tempdir().unwrap();
        let host = RecordingHost::new(dir.path(), false, true);
        let ctx = host.context();

        assert!(ctx.write_atomic("/etc/motd", "hello\n", 0o644).unwrap());
        assert!(ctx.append_line_if_missing("/etc/motd", "world").unwrap());

        let path = dir.path().join("etc/motd");
        assert_eq!(fs::read_to_string(&path).unwrap(), "hello\nworld\n");
        assert_eq!(
            host.changes(),
            [
                Change {
                    path: path.clone(),
                    old: None,
                    new: "hello\n".to_owned(),
                },
                Change {
                    path: path.clone(),
                    old: Some("hello\n".to_owned()),
                    new: "hello\nworld\n".to_owned(),
                },
            ]
        );
    }

    #[test]
    fn real_write_reports_nothing_unless_requested() {
        let dir = tempfile::tempdir().unwrap();
        let host = RecordingHost::new(dir.path(), false, false);

        host.context()
            .write_atomic("/etc/motd", "hello\n", 0o644)
            .unwrap();

        assert_eq!(
            fs::read_to_string(dir.path().join("etc/motd")).unwrap(),
            "hello\n"
        );
        assert_eq!(host.changes(), []);
    }

    #[test]
    fn older_host_runs_helpers_for_real() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostServices_TO::from_ptr(
            RArc::new(OlderHost {
                root: dir.path().to_owned(),
            }),
            TD_Opaque,
        );
        let ctx = Context::new(host, "motd", "");

        assert!(!ctx.is_check());
        assert!(ctx.write_atomic("/etc/motd", "hello\n", 0o644).unwrap());
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/motd")).unwrap(),
            "hello\n"
        );
    }
}
