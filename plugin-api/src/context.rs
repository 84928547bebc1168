//! What a module sees of the host while it runs: [`Context`] and the [`FileLock`] guard.
//!
//! Every service here forwards to the host through the [`HostServices`] trait object, because
//! each plugin carries its own copy of this crate and shares no state with the host otherwise.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use abi_stable::std_types::{RResult, RSlice, RStr};
use serde::de::DeserializeOwned;

use crate::ffi::{HostServicesBox, LogLevel};

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
        lock_with(&self.host, path.as_ref())
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

pub(crate) fn lock_with(host: &HostServicesBox, path: &Path) -> Result<FileLock, ContextError> {
    let resolved = resolve_with(host, path)?;
    match host.lock(bytes_of(path)) {
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
