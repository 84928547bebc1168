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
        /// What the deserializer expected and found.
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
    /// to make every key optional.
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
    pub fn read_to_string(&self, path: impl AsRef<Path>) -> crate::Result<Option<String>> {
        let path = path.as_ref();
        let resolved = self.resolve(path)?;
        // Recorded before the lock is taken, so that the host does not see an edit.
        self.host.record_access(
            AccessKind::Read,
            RSlice::from_slice(resolved.as_os_str().as_bytes()),
        );
        let lock = self.file_lock(path)?;
        crate::fs::read_unrecorded(lock.path())
    }

    /// Replaces a file atomically under its lock, unless it already has `contents`; returns
    /// whether it wrote. A new file gets `new_mode`; see [`crate::fs::write_atomic`].
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
    pub fn read_to_string(&self) -> crate::Result<Option<String>> {
        self.record(AccessKind::Read);
        crate::fs::read_unrecorded(&self.path)
    }

    /// Replaces the locked file atomically with `contents`; a new file gets `new_mode`.
    ///
    /// See [`crate::fs::write_atomic`]. The host's access audit sees the write.
    pub fn write_atomic(&self, contents: impl AsRef<[u8]>, new_mode: u32) -> crate::Result<()> {
        self.record(AccessKind::Write);
        crate::fs::write_unrecorded(&self.path, contents.as_ref(), new_mode)
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
    let resolved = resolve_with(host, path)?;
    let result = match timeout {
        None => host.lock(bytes_of(path)),
        Some(timeout) => {
            let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            host.lock_with_timeout(bytes_of(path), millis)
        }
    };
    match result {
        RResult::ROk(token) => Ok(FileLock {
            host: host.clone(),
            token,
            path: resolved,
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
