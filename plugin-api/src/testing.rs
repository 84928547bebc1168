//! An in-process host for unit-testing a module's `configure` without the `configurator`
//! binary, behind the cargo feature `testing`.
//!
//! [`TestHost`] implements [`HostServices`] against a root directory of the test's choosing, the
//! way the host does for a run with `--root`. Every path a module passes resolves under the root,
//! with symlinks followed, and a path that would leave the root is an error. Locks are exclusive
//! per resolved path and not re-entrant. A lock request that would close a wait-for cycle fails
//! at once, and a lock a module still holds when `configure` returns is released with a
//! warning. A panic in `configure` is caught and returned as [`RunError::Panicked`]. Messages
//! the module logs are collected for assertions instead of printed, and so are the file changes
//! the context's helpers make. [`TestHost::check`] runs a module in check mode, as
//! `configurator run --check` does.
//!
//! Unlike the host, it takes no locks between processes (no sidecar files), loads no `.so` file
//! and checks no metadata: it calls the module's Rust code directly.
//!
//! Enable it for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! plugin-api = { path = "../../plugin-api", features = ["testing"] }
//! ```
//!
//! # Example
//!
//! ```
//! use plugin_api::testing::TestHost;
//! use plugin_api::{ConfigurationModule, Context, LogLevel, Outcome, Result};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Settings {
//!     banner: String,
//! }
//!
//! struct Motd;
//!
//! impl ConfigurationModule for Motd {
//!     fn name(&self) -> &str {
//!         "motd"
//!     }
//!
//!     fn description(&self) -> &str {
//!         "Writes the login banner to /etc/motd"
//!     }
//!
//!     fn configure(&self, ctx: &Context) -> Result<Outcome> {
//!         let settings: Settings = ctx.settings()?;
//!         if ctx.write_atomic("/etc/motd", &format!("{}\n", settings.banner), 0o644)? {
//!             ctx.info("wrote /etc/motd");
//!             return Ok(Outcome::changed("wrote /etc/motd"));
//!         }
//!         Ok(Outcome::unchanged("/etc/motd is current"))
//!     }
//! }
//!
//! # fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
//! let host = TestHost::temporary()?;
//!
//! let outcome = host.run(&Motd, r#"banner = "hi""#)?;
//! assert!(outcome.is_changed());
//! assert_eq!(host.read("/etc/motd")?, "hi\n");
//! assert!(host.logged(LogLevel::Info, "wrote /etc/motd"));
//!
//! // A second run finds the file current.
//! assert!(!host.run(&Motd, r#"banner = "hi""#)?.is_changed());
//!
//! // A misspelt key is the module's error, as in a real run.
//! let error = host.run(&Motd, r#"baner = "hi""#).unwrap_err();
//! assert!(error.message().contains("baner"), "{error}");
//!
//! // A module without check support is not run in check mode.
//! let error = host.check(&Motd, r#"banner = "bye""#).unwrap_err();
//! assert!(matches!(error, plugin_api::testing::RunError::CheckUnsupported { .. }));
//! # Ok(())
//! # }
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, PoisonError};
use std::time::{Duration, Instant};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, ROption, RResult, RSlice, RStr, RString, RVec};
use tempfile::TempDir;

use crate::export::CurrentContext;
use crate::ffi::{AccessKind, HostServices, HostServices_TO, HostServicesBox, LogLevel};
use crate::{ConfigurationModule, Context, Outcome};

/// The examples of the module authors' guide, `docs/writing-modules.md`, compiled as
/// documentation tests so that the guide stays correct Rust.
#[cfg(doctest)]
#[doc = include_str!("../../docs/writing-modules.md")]
pub struct WritingModulesGuide;

/// Keys of a `[modules.NAME]` table that the host reads itself and never passes to a module.
const HOST_KEYS: [&str; 3] = ["enabled", "timeout", "version"];

/// Holder name of the locks a test takes itself with [`TestHost::lock`].
const TEST_HOLDER: &str = "test";

/// A host for unit tests: runs modules in-process against a root directory.
///
/// It can be shared between threads, so that a test can run two modules at once (for example
/// with [`std::thread::scope`]) and see their locks interact.
pub struct TestHost {
    root: PathBuf,
    shared: Arc<Shared>,
    lock_timeout: Option<Duration>,
    /// The temporary root of [`TestHost::temporary`], removed when the host is dropped.
    _temporary: Option<TempDir>,
}

impl TestHost {
    /// Creates a host whose root is `root`, an existing directory that the test owns.
    ///
    /// # Errors
    ///
    /// Returns the I/O error when `root` does not exist or is not a directory.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Self> {
        let root = root.as_ref();
        // Confinement compares resolved paths with the root, which needs its canonical form.
        let canonical = fs::canonicalize(root)?;
        if !canonical.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("test root {} is not a directory", root.display()),
            ));
        }
        Ok(Self {
            root: canonical,
            shared: Arc::new(Shared::default()),
            lock_timeout: None,
            _temporary: None,
        })
    }

    /// Creates a host whose root is a new, empty temporary directory, removed when the host is
    /// dropped.
    ///
    /// # Errors
    ///
    /// Returns the I/O error when the directory cannot be created.
    pub fn temporary() -> io::Result<Self> {
        let directory = tempfile::Builder::new()
            .prefix("plugin-api-test-root-")
            .tempdir()?;
        let mut host = Self::new(directory.path())?;
        host._temporary = Some(directory);
        Ok(host)
    }

    /// Makes a lock request without its own timeout fail after `timeout`, as the host's
    /// `--lock-timeout` does. Without it such a request waits without a limit.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = Some(timeout);
        self
    }

    /// Returns the root directory, in canonical form.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Returns where a system path such as `/etc/hosts` lives under the root, without following
    /// symlinks; `..` never climbs above the root. Use it to prepare and inspect files.
    pub fn path(&self, system_path: impl AsRef<Path>) -> PathBuf {
        let mut inside = PathBuf::new();
        for component in system_path.as_ref().components() {
            match component {
                Component::Normal(name) => inside.push(name),
                Component::ParentDir => {
                    inside.pop();
                }
                Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            }
        }
        self.root.join(inside)
    }

    /// Writes a file under the root, creating its parent directories, for example to give a
    /// module an existing `/etc/hosts` to edit.
    ///
    /// # Errors
    ///
    /// Returns the I/O error of creating the directories or writing the file.
    pub fn write(
        &self,
        system_path: impl AsRef<Path>,
        contents: impl AsRef<[u8]>,
    ) -> io::Result<()> {
        let path = self.path(system_path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, contents)
    }

    /// Reads a text file under the root.
    ///
    /// # Errors
    ///
    /// Returns the I/O error, of kind [`io::ErrorKind::NotFound`] when the file does not exist.
    pub fn read(&self, system_path: impl AsRef<Path>) -> io::Result<String> {
        fs::read_to_string(self.path(system_path))
    }

    /// Returns whether a file or directory exists under the root, without following a final
    /// symlink.
    pub fn exists(&self, system_path: impl AsRef<Path>) -> bool {
        fs::symlink_metadata(self.path(system_path)).is_ok()
    }

    /// Runs `module`'s `configure` with `settings`, the text of its `[modules.NAME]` table in
    /// TOML without the table header, such as `"banner = \"hi\""`; `""` is an empty table.
    ///
    /// The module gets a [`Context`] as in a real run, and `utils::file_lock` works on the
    /// calling thread. When `configure` returns, the locks it still holds are released with a
    /// warning in [`logs`](Self::logs), and its later calls to the host fail.
    ///
    /// # Errors
    ///
    /// [`RunError::InvalidSettings`] when `settings` is not TOML or contains a key that the host
    /// keeps for itself (`enabled`, `timeout`, `version`), [`RunError::Failed`] when the module
    /// returned an error, and [`RunError::Panicked`] when it panicked.
    pub fn run<M>(&self, module: &M, settings: &str) -> Result<Outcome, RunError>
    where
        M: ConfigurationModule + ?Sized,
    {
        self.run_in(module, settings, false)
    }

    /// Runs `module`'s `configure` in check mode, as `configurator run --check` does: the
    /// context's file helpers record the changes in [`changes`](Self::changes) instead of
    /// writing, and later reads through them, in this and later calls, see the recorded
    /// content. [`Context::is_check`] returns `true`.
    ///
    /// # Errors
    ///
    /// [`RunError::CheckUnsupported`] without calling `configure` when the module's
    /// `supports_check` returns `false`, as the host skips such a module; otherwise as
    /// [`run`](Self::run).
    pub fn check<M>(&self, module: &M, settings: &str) -> Result<Outcome, RunError>
    where
        M: ConfigurationModule + ?Sized,
    {
        self.run_in(module, settings, true)
    }

    fn run_in<M>(&self, module: &M, settings: &str, check: bool) -> Result<Outcome, RunError>
    where
        M: ConfigurationModule + ?Sized,
    {
        let name =
            catch_panic(|| module.name().to_owned()).map_err(|message| RunError::Panicked {
                module: "(unnamed)".to_owned(),
                message,
            })?;
        let settings = settings_text(&name, settings)?;
        if check {
            let supported =
                catch_panic(|| module.supports_check()).map_err(|message| RunError::Panicked {
                    module: name.clone(),
                    message,
                })?;
            if !supported {
                return Err(RunError::CheckUnsupported { module: name });
            }
        }

        let services = RunServices::new(self, &name, check);
        let context = Context::new(services.to_ffi(), name.clone(), settings);
        let result = catch_panic(|| {
            let _current = CurrentContext::enter(&context);
            module.configure(&context)
        });
        services.finish();

        match result {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(error)) => Err(RunError::Failed {
                module: name,
                message: format!("{error:#}"),
            }),
            Err(message) => Err(RunError::Panicked {
                module: name,
                message,
            }),
        }
    }

    /// Takes the lock on a system path as another module of the run would, until the returned
    /// guard is dropped. Tests use it to see how a module waits, times out or reports the holder,
    /// which messages name `test`.
    ///
    /// # Errors
    ///
    /// Returns the message the host would give: the path leaves the root, or the test already
    /// holds the lock.
    pub fn lock(&self, system_path: impl AsRef<Path>) -> Result<TestLock, String> {
        let path = resolve_in_root(&self.root, system_path.as_ref())?;
        let holder = self.shared.next_holder();
        self.shared
            .locks
            .acquire(holder, TEST_HOLDER, &path, None)?;
        Ok(TestLock {
            shared: Arc::clone(&self.shared),
            path,
        })
    }

    /// Returns every message logged so far, by every module run on this host and by the host
    /// itself about them, in order.
    pub fn logs(&self) -> Vec<LogRecord> {
        lock_ignoring_poison(&self.shared.logs).clone()
    }

    /// Returns whether a message at `level` containing `text` was logged.
    pub fn logged(&self, level: LogLevel, text: &str) -> bool {
        lock_ignoring_poison(&self.shared.logs)
            .iter()
            .any(|record| record.level == level && record.message.contains(text))
    }

    /// Forgets the messages logged so far.
    pub fn clear_logs(&self) {
        lock_ignoring_poison(&self.shared.logs).clear();
    }

    /// Returns every file change modules made, or in check mode would have made, through the
    /// context's helpers, `FileLock::write_atomic` and `plugin_api::fs::write_atomic`, in order.
    pub fn changes(&self) -> Vec<Change> {
        lock_ignoring_poison(&self.shared.changes).clone()
    }

    /// Forgets the recorded changes, and with them the content that check-mode runs recorded
    /// for later reads.
    pub fn clear_changes(&self) {
        lock_ignoring_poison(&self.shared.changes).clear();
        lock_ignoring_poison(&self.shared.staged).clear();
    }

    /// Returns every file access modules reported through their context, `FileLock` and
    /// `plugin_api::fs`, in order; the host's `run --audit` works from the same reports.
    pub fn accesses(&self) -> Vec<Access> {
        lock_ignoring_poison(&self.shared.accesses).clone()
    }
}

impl fmt::Debug for TestHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestHost")
            .field("root", &self.root)
            .field("lock_timeout", &self.lock_timeout)
            .finish_non_exhaustive()
    }
}

/// The ways a [`TestHost::run`] can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The settings text given to [`TestHost::run`] is not a valid table; the module never ran.
    #[error("invalid settings for module `{module}` in the test: {message}")]
    InvalidSettings {
        /// The module.
        module: String,
        /// The problem with the text.
        message: String,
    },

    /// `configure` returned an error.
    #[error("module `{module}` failed: {message}")]
    Failed {
        /// The module.
        module: String,
        /// The error chain, outermost first, separated by `: ` as the host prints it.
        message: String,
    },

    /// `configure` panicked.
    #[error("module `{module}` panicked: {message}")]
    Panicked {
        /// The module.
        module: String,
        /// The panic message and, when known, its location.
        message: String,
    },

    /// [`TestHost::check`] was given a module whose `supports_check` returns `false`; the
    /// module never ran.
    #[error("module `{module}` does not support check mode, so a check run skips it")]
    CheckUnsupported {
        /// The module.
        module: String,
    },
}

impl RunError {
    /// Returns the error chain, panic message or settings problem, without the module name.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidSettings { message, .. }
            | Self::Failed { message, .. }
            | Self::Panicked { message, .. } => message,
            Self::CheckUnsupported { .. } => "the module does not support check mode",
        }
    }

    /// Returns whether the module panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, Self::Panicked { .. })
    }
}

/// One message logged during a [`TestHost::run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The module the message is about.
    pub module: String,
    /// The severity.
    pub level: LogLevel,
    /// The text as the module passed it, or the host's own warning.
    pub message: String,
}

impl fmt::Display for LogRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            LogLevel::Error => "ERROR",
            LogLevel::Warn => "WARN",
            LogLevel::Info => "INFO",
            LogLevel::Debug => "DEBUG",
            LogLevel::Trace => "TRACE",
        };
        write!(f, "{level} [{}] {}", self.module, self.message)
    }
}

/// One file access a module reported, for checking that it reads and writes what it should.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The module.
    pub module: String,
    /// Whether it read or wrote.
    pub kind: AccessKind,
    /// The file as a system path, such as `/etc/hosts`.
    pub path: PathBuf,
}

/// One file change a module made, or in check mode would have made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The module.
    pub module: String,
    /// The file as a system path, such as `/etc/hosts`.
    pub path: PathBuf,
    /// The content before the change; `None` when the file did not exist.
    pub old: Option<Vec<u8>>,
    /// The new content.
    pub new: Vec<u8>,
    /// Whether the change was only recorded, by a [`TestHost::check`] run.
    pub check_mode: bool,
}

impl Change {
    /// Returns the new content as text, with invalid UTF-8 replaced.
    pub fn new_text(&self) -> String {
        String::from_utf8_lossy(&self.new).into_owned()
    }
}

/// A lock the test holds through [`TestHost::lock`], released when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct TestLock {
    shared: Arc<Shared>,
    path: PathBuf,
}

impl TestLock {
    /// Returns the locked path resolved under the root.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Debug for TestLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestLock")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Drop for TestLock {
    fn drop(&mut self) {
        self.shared.locks.release(&self.path);
    }
}

/// The state every run on one [`TestHost`] shares.
#[derive(Default)]
struct Shared {
    locks: LockTable,
    logs: Mutex<Vec<LogRecord>>,
    accesses: Mutex<Vec<Access>>,
    changes: Mutex<Vec<Change>>,
    /// The content check-mode runs would have written, by resolved path.
    staged: Mutex<HashMap<PathBuf, Vec<u8>>>,
    /// Identifies each run and each test lock as a distinct lock holder.
    next_holder: AtomicU64,
}

impl Shared {
    fn next_holder(&self) -> u64 {
        self.next_holder.fetch_add(1, Ordering::Relaxed)
    }

    fn log(&self, module: &str, level: LogLevel, message: String) {
        lock_ignoring_poison(&self.logs).push(LogRecord {
            module: module.to_owned(),
            level,
            message,
        });
    }
}

/// The in-process lock table: which holder has each resolved path, and which path each
/// waiting holder waits for, to detect deadlocks.
#[derive(Default)]
struct LockTable {
    state: Mutex<LockState>,
    released: Condvar,
}

#[derive(Default)]
struct LockState {
    /// Holder id and name by locked path.
    held: HashMap<PathBuf, (u64, String)>,
    /// The path each waiting holder waits for.
    waiting: HashMap<u64, PathBuf>,
}

impl LockTable {
    /// Takes the lock on `path` for `holder`, waiting up to `timeout` (without a limit when
    /// `None`).
    fn acquire(
        &self,
        holder: u64,
        name: &str,
        path: &Path,
        timeout: Option<Duration>,
    ) -> Result<(), String> {
        // A timeout too large for a deadline waits without a limit, as in the host.
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let mut state = lock_ignoring_poison(&self.state);
        loop {
            let Some((owner, owner_name)) = state.held.get(path).cloned() else {
                state.waiting.remove(&holder);
                state
                    .held
                    .insert(path.to_owned(), (holder, name.to_owned()));
                return Ok(());
            };
            if owner == holder {
                return Err(format!(
                    "module `{name}` already holds the lock on {}; locks are not re-entrant, so \
                     reuse the guard you have",
                    path.display()
                ));
            }
            if let Some(cycle) = state.cycle_from(holder, name, path) {
                state.waiting.remove(&holder);
                return Err(format!(
                    "deadlock: {}; take the locks in one order in every module, or lock them \
                     together with file_locks",
                    cycle.join("; ")
                ));
            }

            state.waiting.insert(holder, path.to_owned());
            state = match deadline {
                None => self
                    .released
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        state.waiting.remove(&holder);
                        return Err(format!(
                            "timed out after {:.1}s waiting for the lock on {}, held by module \
                             `{owner_name}`",
                            timeout.unwrap_or_default().as_secs_f64(),
                            path.display()
                        ));
                    }
                    self.released
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    fn release(&self, path: &Path) {
        lock_ignoring_poison(&self.state).held.remove(path);
        self.released.notify_all();
    }
}

impl LockState {
    /// Returns the steps of the wait-for cycle that `holder` would close by waiting for `path`,
    /// or `None` when waiting is safe.
    fn cycle_from(&self, holder: u64, name: &str, path: &Path) -> Option<Vec<String>> {
        let mut steps = Vec::new();
        let (mut waiter, mut wanted) = (name, path);
        // Each holder waits for at most one path, so the chain has at most one step per holder.
        for _ in 0..=self.waiting.len() {
            let (owner, owner_name) = self.held.get(wanted)?;
            steps.push(format!(
                "module `{waiter}` waits for {}, held by module `{owner_name}`",
                wanted.display()
            ));
            if *owner == holder {
                return Some(steps);
            }
            wanted = self.waiting.get(owner)?;
            waiter = owner_name;
        }
        None
    }
}

/// The host services of one module during one [`TestHost::run`].
#[derive(Clone)]
struct RunServices {
    inner: Arc<RunState>,
}

struct RunState {
    module: String,
    holder: u64,
    root: PathBuf,
    shared: Arc<Shared>,
    lock_timeout: Option<Duration>,
    /// Resolved path by token, for the locks the module holds.
    held: Mutex<HashMap<u64, PathBuf>>,
    next_token: AtomicU64,
    /// Cleared when `configure` returned; later calls fail, as with the host.
    active: AtomicBool,
    /// Whether this is a check-mode run.
    check: bool,
}

impl RunServices {
    fn new(host: &TestHost, module: &str, check: bool) -> Self {
        Self {
            inner: Arc::new(RunState {
                module: module.to_owned(),
                holder: host.shared.next_holder(),
                root: host.root.clone(),
                shared: Arc::clone(&host.shared),
                lock_timeout: host.lock_timeout,
                held: Mutex::new(HashMap::new()),
                next_token: AtomicU64::new(1),
                active: AtomicBool::new(true),
                check,
            }),
        }
    }

    fn to_ffi(&self) -> HostServicesBox {
        HostServices_TO::from_ptr(RArc::new(self.clone()), TD_Opaque)
    }

    /// Ends the module's access and releases the locks it still holds, with a warning each.
    fn finish(&self) {
        let state = &self.inner;
        state.active.store(false, Ordering::SeqCst);
        let leaked: Vec<PathBuf> = lock_ignoring_poison(&state.held)
            .drain()
            .map(|(_, path)| path)
            .collect();
        for path in leaked {
            state.shared.locks.release(&path);
            state.shared.log(
                &state.module,
                LogLevel::Warn,
                format!(
                    "module `{}` still held the lock on {} when configure returned; released it",
                    state.module,
                    path.display()
                ),
            );
        }
    }

    fn check_active(&self) -> Result<(), String> {
        if self.inner.active.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(format!(
                "module `{}` used host services after its configure returned",
                self.inner.module
            ))
        }
    }

    fn lock_path(&self, path: &Path, timeout: Option<Duration>) -> Result<u64, String> {
        self.check_active()?;
        let state = &self.inner;
        let resolved = resolve_in_root(&state.root, path)?;
        if lock_ignoring_poison(&state.held)
            .values()
            .any(|held| *held == resolved)
        {
            return Err(format!(
                "module `{}` already holds the lock on {}; locks are not re-entrant, so reuse \
                 the guard you have",
                state.module,
                resolved.display()
            ));
        }
        state
            .shared
            .locks
            .acquire(state.holder, &state.module, &resolved, timeout)?;

        // Checked under the `held` mutex, which `finish` takes after clearing `active`, so a lock
        // granted after `configure` returned is released here instead of staying taken.
        let mut held = lock_ignoring_poison(&state.held);
        if let Err(message) = self.check_active() {
            drop(held);
            state.shared.locks.release(&resolved);
            return Err(message);
        }
        let token = state.next_token.fetch_add(1, Ordering::Relaxed);
        held.insert(token, resolved);
        Ok(token)
    }
}

impl HostServices for RunServices {
    fn resolve(&self, path: RSlice<'_, u8>) -> RResult<RVec<u8>, RString> {
        guarded(|| {
            self.check_active()?;
            let resolved = resolve_in_root(&self.inner.root, path_of(&path))?;
            Ok(RVec::from(resolved.as_os_str().as_bytes()))
        })
    }

    fn lock(&self, path: RSlice<'_, u8>) -> RResult<u64, RString> {
        guarded(|| self.lock_path(path_of(&path), self.inner.lock_timeout))
    }

    fn unlock(&self, token: u64) {
        let _ = guarded(|| {
            if let Some(path) = lock_ignoring_poison(&self.inner.held).remove(&token) {
                self.inner.shared.locks.release(&path);
            }
            Ok(())
        });
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        let _ = guarded(|| {
            let state = &self.inner;
            state
                .shared
                .log(&state.module, level, message.as_str().to_owned());
            Ok(())
        });
    }

    fn root(&self) -> RVec<u8> {
        RVec::from(self.inner.root.as_os_str().as_bytes())
    }

    fn lock_with_timeout(&self, path: RSlice<'_, u8>, timeout_ms: u64) -> RResult<u64, RString> {
        guarded(|| self.lock_path(path_of(&path), Some(Duration::from_millis(timeout_ms))))
    }

    fn record_access(&self, kind: AccessKind, path: RSlice<'_, u8>) {
        let _ = guarded(|| {
            self.check_active()?;
            let state = &self.inner;
            // Paths outside the root are not the run's files; the host ignores them too.
            if let Ok(inside) = path_of(&path).strip_prefix(&state.root) {
                lock_ignoring_poison(&state.shared.accesses).push(Access {
                    module: state.module.clone(),
                    kind,
                    path: Path::new("/").join(inside),
                });
            }
            Ok(())
        });
    }

    fn check_mode(&self) -> bool {
        self.inner.check
    }

    fn records_changes(&self) -> bool {
        true
    }

    fn record_change(&self, path: RSlice<'_, u8>, old: ROption<RVec<u8>>, new: RVec<u8>) {
        let _ = guarded(|| {
            self.check_active()?;
            let state = &self.inner;
            let resolved = path_of(&path);
            let Ok(inside) = resolved.strip_prefix(&state.root) else {
                return Ok(());
            };
            let new = new.into_vec();
            if state.check {
                lock_ignoring_poison(&state.shared.staged).insert(resolved.to_owned(), new.clone());
            }
            lock_ignoring_poison(&state.shared.changes).push(Change {
                module: state.module.clone(),
                path: Path::new("/").join(inside),
                old: old.into_option().map(RVec::into_vec),
                new,
                check_mode: state.check,
            });
            Ok(())
        });
    }

    fn staged_content(&self, path: RSlice<'_, u8>) -> ROption<RVec<u8>> {
        if !self.inner.check {
            return ROption::RNone;
        }
        let staged = guarded(|| {
            Ok(lock_ignoring_poison(&self.inner.shared.staged)
                .get(path_of(&path))
                .cloned())
        });
        match staged {
            RResult::ROk(Some(content)) => ROption::RSome(RVec::from(content)),
            RResult::ROk(None) | RResult::RErr(_) => ROption::RNone,
        }
    }
}

/// Checks the settings text as the host checks a `[modules.NAME]` table and returns it in the
/// form the host passes on.
fn settings_text(module: &str, text: &str) -> Result<String, RunError> {
    let invalid = |message: String| RunError::InvalidSettings {
        module: module.to_owned(),
        message,
    };
    let table: toml::Table = toml::from_str(text).map_err(|error| invalid(error.to_string()))?;
    if let Some(key) = HOST_KEYS.iter().find(|key| table.contains_key(**key)) {
        return Err(invalid(format!(
            "`{key}` is read by the host and never reaches a module; leave it out"
        )));
    }
    Ok(table.to_string())
}

/// Resolves `path` under the canonical `root` as the host does, with the error as text.
fn resolve_in_root(root: &Path, path: &Path) -> Result<PathBuf, String> {
    crate::paths::resolve_in_root(root, path).map_err(|error| {
        let mut message = error.to_string();
        if let Some(source) = std::error::Error::source(&error) {
            message.push_str(&format!(": {source}"));
        }
        message
    })
}

fn path_of<'a>(bytes: &'a RSlice<'_, u8>) -> &'a Path {
    Path::new(OsStr::from_bytes(bytes.as_slice()))
}

/// Runs a service call, turning a panic into an error so that it never unwinds into module
/// code through the trait object.
fn guarded<T>(call: impl FnOnce() -> Result<T, String>) -> RResult<T, RString> {
    match panic::catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(value)) => RResult::ROk(value),
        Ok(Err(message)) => RResult::RErr(message.into()),
        Err(_) => RResult::RErr("the test host failed internally while serving this call".into()),
    }
}

fn lock_ignoring_poison<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

thread_local! {
    /// Whether this thread runs module code for a [`TestHost`], so that the panic hook records
    /// the panic's location.
    static IN_RUN: RefCell<bool> = const { RefCell::new(false) };

    /// Message and location of the last panic in module code on this thread.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`, turning a panic into its message followed by its location.
///
/// Unlike the plugin glue, it keeps the previous panic hook working, so the test still prints
/// the panic as usual.
fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_panic_hook();
    let was_in_run = IN_RUN.with(|flag| flag.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    IN_RUN.with(|flag| *flag.borrow_mut() = was_in_run);
    result.map_err(|payload| {
        LAST_PANIC
            .with(|last| last.borrow_mut().take())
            .unwrap_or_else(|| crate::export::payload_text(payload.as_ref()))
    })
}

/// Chains a hook before the current panic hook that records panics of module code run by a
/// [`TestHost`] on this thread.
fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_RUN.with(|flag| *flag.borrow()) {
                let text = crate::export::payload_text(info.payload());
                let message = match info.location() {
                    Some(location) => format!("{text} (at {location})"),
                    None => text,
                };
                LAST_PANIC.with(|last| *last.borrow_mut() = Some(message));
            }
            previous(info);
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::thread;

    use crate::{ContextError, Result, utils};

    /// A module whose `configure` runs a closure, so each test states its behaviour inline.
    struct Probe<F>(F);

    impl<F> ConfigurationModule for Probe<F>
    where
        F: Fn(&Context) -> Result<Outcome> + Send + Sync + 'static,
    {
        fn name(&self) -> &str {
            "probe"
        }

        fn description(&self) -> &str {
            "Runs the test's closure"
        }

        fn configure(&self, ctx: &Context) -> Result<Outcome> {
            (self.0)(ctx)
        }
    }

    fn probe<F>(f: F) -> Probe<F>
    where
        F: Fn(&Context) -> Result<Outcome> + Send + Sync + 'static,
    {
        Probe(f)
    }

    fn host() -> TestHost {
        TestHost::temporary().unwrap()
    }

    #[test]
    fn run_returns_outcome_and_writes_under_root() {
        let host = host();
        let module = probe(|ctx| {
            let wrote = ctx.write_atomic("/etc/motd", "hi\n", 0o644)?;
            Ok(Outcome::changed(format!("wrote: {wrote}")))
        });

        let outcome = host.run(&module, "").unwrap();

        assert!(outcome.is_changed());
        assert_eq!(outcome.message(), "wrote: true");
        assert_eq!(host.read("/etc/motd").unwrap(), "hi\n");
    }

    #[test]
    fn settings_reach_module() {
        #[derive(serde::Deserialize)]
        struct Settings {
            banner: String,
            count: u32,
        }
        let host = host();
        let module = probe(|ctx| {
            let settings: Settings = ctx.settings()?;
            Ok(Outcome::unchanged(format!(
                "{} x{}",
                settings.banner, settings.count
            )))
        });

        let outcome = host.run(&module, "banner = \"hi\"\ncount = 3").unwrap();

        assert_eq!(outcome.message(), "hi x3");
    }

    #[test]
    fn invalid_settings_text_is_rejected() {
        let host = host();
        let module = probe(|_| panic!("must not run"));

        let error = host.run(&module, "banner = ").unwrap_err();

        assert!(
            matches!(error, RunError::InvalidSettings { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn host_keys_are_rejected_in_settings() {
        let host = host();
        let module = probe(|_| Ok(Outcome::unchanged("")));

        for key in ["enabled = false", "timeout = 3", "version = \"1.0.0\""] {
            let error = host.run(&module, key).unwrap_err();

            assert!(
                matches!(error, RunError::InvalidSettings { .. }),
                "{key}: {error:?}"
            );
        }
    }

    #[test]
    fn module_error_keeps_whole_chain() {
        let host = host();
        let module =
            probe(|_| Err(anyhow::anyhow!("disk full").context("failed to write /etc/motd")));

        let error = host.run(&module, "").unwrap_err();

        assert!(!error.is_panic());
        assert_eq!(error.message(), "failed to write /etc/motd: disk full");
        assert_eq!(
            error.to_string(),
            "module `probe` failed: failed to write /etc/motd: disk full"
        );
    }

    #[test]
    fn panic_is_caught_with_location() {
        let host = host();
        let module = probe(|_| panic!("boom"));

        let error = host.run(&module, "").unwrap_err();

        assert!(error.is_panic(), "{error:?}");
        assert!(error.message().starts_with("boom (at "), "{error}");
        assert!(error.message().contains("testing.rs"), "{error}");
    }

    #[test]
    fn logs_are_collected_with_module_name() {
        let host = host();
        let module = probe(|ctx| {
            ctx.info("starting");
            ctx.warn("odd entry");
            Ok(Outcome::unchanged("done"))
        });

        host.run(&module, "").unwrap();

        let logs: Vec<String> = host.logs().iter().map(LogRecord::to_string).collect();
        assert_eq!(logs, ["INFO [probe] starting", "WARN [probe] odd entry"]);
        assert!(host.logged(LogLevel::Warn, "odd"));
        assert!(!host.logged(LogLevel::Error, "odd"));
        host.clear_logs();
        assert!(host.logs().is_empty());
    }

    #[test]
    fn path_leaving_root_is_error() {
        let host = host();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), host.path("/etc")).unwrap();
        let module = probe(|ctx| {
            let through_parent = ctx.resolve("/../secret").unwrap_err();
            let through_link = ctx.resolve("/etc/hosts").unwrap_err();
            Ok(Outcome::unchanged(format!(
                "{through_parent}\n{through_link}"
            )))
        });

        let outcome = host.run(&module, "").unwrap();

        let (parent, link) = outcome.message().split_once('\n').unwrap();
        assert!(parent.contains("through `..`"), "{parent}");
        assert!(link.contains("symlink"), "{link}");
    }

    #[test]
    fn symlink_inside_root_is_followed() {
        let host = host();
        host.write("/data/hosts", "").unwrap();
        fs::create_dir(host.path("/etc")).unwrap();
        std::os::unix::fs::symlink("../data/hosts", host.path("/etc/hosts")).unwrap();
        let module = probe(|ctx| {
            let resolved = ctx.resolve("/etc/hosts")?;
            Ok(Outcome::unchanged(resolved.display().to_string()))
        });

        let outcome = host.run(&module, "").unwrap();

        assert_eq!(
            outcome.message(),
            host.root().join("data/hosts").display().to_string()
        );
    }

    #[test]
    fn lock_is_not_reentrant() {
        let host = host();
        let module = probe(|ctx| {
            let _first = ctx.file_lock("/etc/hosts")?;
            let second = ctx.file_lock("/etc/../etc/hosts").unwrap_err();
            Ok(Outcome::unchanged(second.to_string()))
        });

        let outcome = host.run(&module, "").unwrap();

        assert!(outcome.message().contains("not re-entrant"), "{outcome:?}");
    }

    #[test]
    fn lock_timeout_names_holder() {
        let host = host();
        let _held = host.lock("/etc/hosts").unwrap();
        let module = probe(|ctx| {
            let error = ctx
                .file_lock_timeout("/etc/hosts", Duration::from_millis(50))
                .unwrap_err();
            Ok(Outcome::unchanged(error.to_string()))
        });

        let outcome = host.run(&module, "").unwrap();

        assert!(outcome.message().contains("timed out"), "{outcome:?}");
        assert!(outcome.message().contains("module `test`"), "{outcome:?}");
    }

    #[test]
    fn default_lock_timeout_applies() {
        let host = host().with_lock_timeout(Duration::from_millis(50));
        let _held = host.lock("/etc/hosts").unwrap();
        let module = probe(|ctx| {
            let error = ctx.file_lock("/etc/hosts").unwrap_err();
            Ok(Outcome::unchanged(error.to_string()))
        });

        let outcome = host.run(&module, "").unwrap();

        assert!(outcome.message().contains("timed out"), "{outcome:?}");
    }

    #[test]
    fn lock_waits_for_release() {
        let host = host();
        let held = host.lock("/etc/hosts").unwrap();
        let module = probe(|ctx| {
            let _lock = ctx.file_lock("/etc/hosts")?;
            Ok(Outcome::changed("locked"))
        });

        let outcome = thread::scope(|scope| {
            let running = scope.spawn(|| host.run(&module, ""));
            thread::sleep(Duration::from_millis(50));
            assert!(
                !running.is_finished(),
                "the module waits for the test's lock"
            );
            drop(held);
            running.join().unwrap()
        });

        assert!(outcome.unwrap().is_changed());
    }

    #[test]
    fn huge_lock_timeout_waits_for_release() {
        let host = host().with_lock_timeout(Duration::MAX);
        let held = host.lock("/etc/hosts").unwrap();
        let module = probe(|ctx| {
            let _lock = ctx.file_lock("/etc/hosts")?;
            Ok(Outcome::changed("locked"))
        });

        let outcome = thread::scope(|scope| {
            let running = scope.spawn(|| host.run(&module, ""));
            thread::sleep(Duration::from_millis(50));
            drop(held);
            running.join().unwrap()
        });

        assert!(outcome.unwrap().is_changed());
    }

    #[test]
    fn deadlock_between_modules_is_error() {
        let host = host();
        // Each module locks one file, waits until the other holds its own, then requests it.
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let module = |first: &'static str, second: &'static str| {
            let barrier = Arc::clone(&barrier);
            probe(move |ctx| {
                let _first = ctx.file_lock(first)?;
                barrier.wait();
                match ctx.file_lock_timeout(second, Duration::from_secs(5)) {
                    Ok(_) => Ok(Outcome::unchanged("got both")),
                    Err(error) => Ok(Outcome::changed(error.to_string())),
                }
            })
        };
        let (one, two) = (module("/a", "/b"), module("/b", "/a"));

        let (first, second) = thread::scope(|scope| {
            let first = scope.spawn(|| host.run(&one, ""));
            let second = scope.spawn(|| host.run(&two, ""));
            (first.join().unwrap(), second.join().unwrap())
        });

        // One request closes the cycle and fails at once; the other then gets its lock.
        let messages = [first.unwrap(), second.unwrap()];
        let deadlocks: Vec<_> = messages
            .iter()
            .filter(|outcome| outcome.message().starts_with("failed to lock"))
            .collect();
        assert_eq!(deadlocks.len(), 1, "{messages:?}");
        assert!(deadlocks[0].message().contains("deadlock"), "{messages:?}");
    }

    #[test]
    fn leaked_lock_is_released_with_warning() {
        let host = host();
        let module = probe(|ctx| {
            std::mem::forget(ctx.file_lock("/etc/hosts")?);
            Ok(Outcome::unchanged("leaked"))
        });

        host.run(&module, "").unwrap();

        assert!(host.logged(LogLevel::Warn, "still held the lock"));
        let lock = host.lock("/etc/hosts");
        assert!(lock.is_ok(), "{lock:?}");
    }

    #[test]
    fn lock_after_configure_returned_fails() {
        let host = host();
        let kept = Arc::new(Mutex::new(None));
        let module = {
            let kept = Arc::clone(&kept);
            probe(move |ctx| {
                *kept.lock().unwrap() = Some(ctx.host().clone());
                Ok(Outcome::unchanged(""))
            })
        };

        host.run(&module, "").unwrap();

        let services = kept.lock().unwrap().take().unwrap();
        let context = Context::new(services, "probe", "");
        let error = context.file_lock("/etc/hosts").unwrap_err();
        assert!(
            error.to_string().contains("after its configure returned"),
            "{error}"
        );
    }

    #[test]
    fn utils_file_lock_works_in_configure() {
        let host = host();
        let module = probe(|_| {
            let lock = utils::file_lock("/etc/hosts")?;
            Ok(Outcome::unchanged(lock.path().display().to_string()))
        });

        let outcome = host.run(&module, "").unwrap();

        assert_eq!(
            outcome.message(),
            host.root().join("etc/hosts").display().to_string()
        );
        assert!(matches!(
            utils::file_lock("/etc/hosts"),
            Err(ContextError::NoContext { .. })
        ));
    }

    #[test]
    fn accesses_are_recorded_as_system_paths() {
        let host = host();
        host.write("/etc/hosts", "127.0.0.1 localhost\n").unwrap();
        let module = probe(|ctx| {
            ctx.read_to_string("/etc/hosts")?;
            ctx.append_line_if_missing("/etc/hosts", "::1 localhost")?;
            Ok(Outcome::changed("appended"))
        });

        host.run(&module, "").unwrap();

        let accesses: Vec<(AccessKind, PathBuf)> = host
            .accesses()
            .into_iter()
            .map(|access| (access.kind, access.path))
            .collect();
        let hosts = PathBuf::from("/etc/hosts");
        assert_eq!(
            accesses,
            [
                (AccessKind::Read, hosts.clone()),
                (AccessKind::Read, hosts.clone()),
                (AccessKind::Write, hosts),
            ]
        );
        assert_eq!(
            host.read("/etc/hosts").unwrap(),
            "127.0.0.1 localhost\n::1 localhost\n"
        );
    }

    /// A module with check support that appends a line to `/etc/hosts`.
    struct Appender;

    impl ConfigurationModule for Appender {
        fn name(&self) -> &str {
            "appender"
        }

        fn description(&self) -> &str {
            "Appends a line to /etc/hosts"
        }

        fn supports_check(&self) -> bool {
            true
        }

        fn configure(&self, ctx: &Context) -> Result<Outcome> {
            let check = ctx.is_check();
            if ctx.append_line_if_missing("/etc/hosts", "10.0.0.5 build")? {
                return Ok(Outcome::changed(format!("appended, check mode {check}")));
            }
            Ok(Outcome::unchanged(format!("present, check mode {check}")))
        }
    }

    #[test]
    fn check_records_without_writing() {
        let host = host();
        host.write("/etc/hosts", "127.0.0.1 localhost\n").unwrap();

        let first = host.check(&Appender, "").unwrap();
        let second = host.check(&Appender, "").unwrap();

        assert_eq!(first, Outcome::changed("appended, check mode true"));
        assert_eq!(
            second,
            Outcome::unchanged("present, check mode true"),
            "a later check run reads what the first would have written"
        );
        assert_eq!(host.read("/etc/hosts").unwrap(), "127.0.0.1 localhost\n");
        let changes = host.changes();
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].path, Path::new("/etc/hosts"));
        assert_eq!(
            changes[0].old.as_deref(),
            Some(&b"127.0.0.1 localhost\n"[..])
        );
        assert_eq!(
            changes[0].new_text(),
            "127.0.0.1 localhost\n10.0.0.5 build\n"
        );
        assert!(changes[0].check_mode);
    }

    #[test]
    fn real_run_records_changes() {
        let host = host();

        let outcome = host.run(&Appender, "").unwrap();

        assert_eq!(outcome, Outcome::changed("appended, check mode false"));
        assert_eq!(host.read("/etc/hosts").unwrap(), "10.0.0.5 build\n");
        let changes = host.changes();
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].old, None);
        assert!(!changes[0].check_mode);
        host.clear_changes();
        assert!(host.changes().is_empty());
    }

    #[test]
    fn check_skips_module_without_support() {
        let host = host();
        let module = probe(|_| panic!("must not run"));

        let error = host.check(&module, "").unwrap_err();

        assert_eq!(
            error,
            RunError::CheckUnsupported {
                module: "probe".to_owned()
            }
        );
    }

    #[test]
    fn path_maps_system_paths_lexically() {
        let host = host();

        assert_eq!(host.path("/etc/hosts"), host.root().join("etc/hosts"));
        assert_eq!(host.path("etc/../../hosts"), host.root().join("hosts"));
        assert!(!host.exists("/etc/hosts"));
    }

    #[test]
    fn new_rejects_missing_root() {
        let dir = tempfile::tempdir().unwrap();

        let error = TestHost::new(dir.path().join("missing")).unwrap_err();

        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }
}
