//! The host's implementation of [`HostServices`]: what one module may ask of the host while its
//! `configure` runs.
//!
//! Each module gets its own [`ModuleServices`], which stores the module's name, the run's root
//! and lock manager, the locks the module holds, and whether the run is a check run. Its methods are called from plugin code
//! through `extern "C"` functions, so none of them may unwind: each catches panics and turns them
//! into an error or a log line.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, ROption, RResult, RSlice, RStr, RString, RVec};
use plugin_api::ffi::{self, HostServices, HostServices_TO, HostServicesBox, LockGrant, LogLevel};

use crate::audit::{Access, AccessKind, AccessLog};
use crate::changes::ChangeLog;
use crate::locks::{LockHandle, LockManager, LockWait, LockWaitLog};
use crate::paths::Root;

/// Host services bound to one module of one run.
#[derive(Debug, Clone)]
pub struct ModuleServices {
    inner: Arc<ServiceState>,
}

#[derive(Debug)]
struct ServiceState {
    module: Arc<str>,
    root: Root,
    locks: Arc<LockManager>,
    /// The locks the module holds, by token; a module holds few at a time.
    held: Mutex<Vec<(u64, LockHandle)>>,
    next_token: AtomicU64,
    /// [`ACTIVE`] until `configure` returns or the host abandons the module; later calls from a
    /// thread the module left behind fail.
    phase: AtomicU8,
    /// The log that records accesses when the run is audited.
    audit: Option<Arc<AccessLog>>,
    /// Whether the run is a check run, in which the module's helpers write nothing.
    check: bool,
    /// The log of file changes, kept in check runs and for diffs.
    changes: Option<Arc<ChangeLog>>,
    /// The log of lock requests and their waits, for `run --report`.
    lock_waits: Option<Arc<LockWaitLog>>,
}

/// The module's `configure` is running.
const ACTIVE: u8 = 0;
/// The module's `configure` returned.
const RETURNED: u8 = 1;
/// The host gave up on the module, which timed out or was interrupted, and left its thread.
const ABANDONED: u8 = 2;

impl ModuleServices {
    /// Creates the services for `module` in a run on `root`.
    pub fn new(module: &str, root: &Path, locks: Arc<LockManager>) -> Self {
        Self {
            inner: Arc::new(ServiceState {
                module: Arc::from(module),
                root: Root::new(root.to_owned()),
                locks,
                held: Mutex::new(Vec::new()),
                next_token: AtomicU64::new(1),
                phase: AtomicU8::new(ACTIVE),
                audit: None,
                check: false,
                changes: None,
                lock_waits: None,
            }),
        }
    }

    /// Creates the services for `module` recording its file accesses in `audit`, if given.
    pub fn audited(
        module: &str,
        root: &Path,
        locks: Arc<LockManager>,
        audit: Option<Arc<AccessLog>>,
    ) -> Self {
        let mut services = Self::new(module, root, locks);
        if let Some(state) = Arc::get_mut(&mut services.inner) {
            state.audit = audit;
        }
        services
    }

    /// Makes the services those of a check run when `check` is set, and records the module's
    /// file changes in `changes`, if given. A check run needs `changes` to keep the content it
    /// does not write.
    pub fn with_changes(mut self, check: bool, changes: Option<Arc<ChangeLog>>) -> Self {
        if let Some(state) = Arc::get_mut(&mut self.inner) {
            state.check = check;
            state.changes = changes;
        }
        self
    }

    /// Records the module's lock requests and how long each waited in `lock_waits`, if given.
    pub fn with_lock_waits(mut self, lock_waits: Option<Arc<LockWaitLog>>) -> Self {
        if let Some(state) = Arc::get_mut(&mut self.inner) {
            state.lock_waits = lock_waits;
        }
        self
    }

    /// Returns the ABI-stable trait object handed to the module.
    pub fn to_ffi(&self) -> HostServicesBox {
        HostServices_TO::from_ptr(RArc::new(self.clone()), TD_Opaque)
    }

    /// Ends the module's access after its `configure` returned, releasing every lock it still
    /// holds (a leaked guard, or one dropped by a panic that was caught) with a warning.
    pub fn finish(&self) {
        self.end(RETURNED);
    }

    /// Ends the access of a module the host gave up on while its `configure` still runs,
    /// releasing every lock it holds with a warning. Its later calls fail, and a lock it was
    /// waiting for is released as soon as it is granted.
    pub fn abandon(&self) {
        self.end(ABANDONED);
    }

    fn end(&self, phase: u8) {
        // The first ending wins: the worker's `finish` after an abandon changes nothing.
        let _ =
            self.inner
                .phase
                .compare_exchange(ACTIVE, phase, Ordering::SeqCst, Ordering::SeqCst);
        let when = match self.inner.phase.load(Ordering::SeqCst) {
            ABANDONED => "when the host abandoned it",
            _ => "when configure returned",
        };
        let leaked: Vec<LockHandle> = self.held().drain(..).map(|(_, handle)| handle).collect();
        for handle in leaked {
            tracing::warn!(
                "module `{}` still held the lock on {} {when}; released it",
                self.inner.module,
                handle.path().display(),
            );
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Vec<(u64, LockHandle)>> {
        self.inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn check_active(&self) -> Result<(), String> {
        let when = match self.inner.phase.load(Ordering::SeqCst) {
            ACTIVE => return Ok(()),
            ABANDONED => "the host abandoned it after a timeout or an interrupt",
            _ => "its configure returned",
        };
        Err(format!(
            "module `{}` used host services after {when}",
            self.inner.module
        ))
    }

    fn resolve_path(&self, path: &Path) -> Result<PathBuf, String> {
        self.inner.root.resolve(path).map_err(|error| {
            tracing::warn!("module `{}`: {error}", self.inner.module);
            format!("{:#}", anyhow::Error::from(error))
        })
    }

    /// Records an access for the audit, if the run is audited. `resolved` is under the root.
    fn record(&self, kind: AccessKind, resolved: &Path) {
        let Some(audit) = &self.inner.audit else {
            return;
        };
        let inside = resolved
            .strip_prefix(self.inner.root.path())
            .unwrap_or(resolved);
        let locked = kind == AccessKind::Lock
            || self
                .held()
                .iter()
                .any(|(_, handle)| handle.path() == resolved);
        let kind = match kind {
            AccessKind::Read if locked => AccessKind::ReadUnderLock,
            other => other,
        };
        audit.record(Access {
            module: self.inner.module.to_string(),
            kind,
            path: Path::new("/").join(inside),
            locked,
        });
    }

    fn lock_path(&self, path: &Path, timeout: Option<Duration>) -> Result<u64, String> {
        self.lock_and_resolve(path, timeout).map(|(token, _)| token)
    }

    fn lock_and_resolve(
        &self,
        path: &Path,
        timeout: Option<Duration>,
    ) -> Result<(u64, PathBuf), String> {
        self.check_active()?;
        let resolved = self.resolve_path(path)?;
        let relative = self.inner.root.relative(&resolved);
        // Locks are not re-entrant: waiting for a lock the module itself holds would never end.
        if self
            .held()
            .iter()
            .any(|(_, handle)| handle.path() == resolved)
        {
            return Err(format!(
                "module `{}` already holds the lock on {}; locks are not re-entrant, so reuse \
                 the guard you have",
                self.inner.module,
                resolved.display()
            ));
        }
        tracing::debug!(module = %self.inner.module, path = %resolved.display(), "waiting for lock");
        // The holder is read before the request, so it is the module the wait began behind.
        let logged = self
            .inner
            .lock_waits
            .as_ref()
            .map(|log| (log, self.inner.locks.holder(&resolved), Instant::now()));
        let acquired = self.inner.locks.acquire_with_timeout(
            Arc::clone(&self.inner.module),
            &resolved,
            relative,
            timeout,
        );
        if let Some((log, holder, requested)) = logged {
            log.record(LockWait {
                module: self.inner.module.to_string(),
                path: Path::new("/").join(relative),
                holder,
                waited: requested.elapsed(),
                acquired: acquired.is_ok(),
            });
        }
        let handle = acquired.map_err(|error| format!("{:#}", anyhow::Error::from(error)))?;

        let token = self.inner.next_token.fetch_add(1, Ordering::Relaxed);
        // Checked under the `held` mutex, which `end` takes after changing the phase, so a lock
        // granted after the module's access ended is released here instead of being stranded.
        let mut held = self.held();
        if let Err(message) = self.check_active() {
            drop(held);
            drop(handle);
            return Err(message);
        }
        held.push((token, handle));
        drop(held);
        self.record(AccessKind::Lock, &resolved);

        tracing::debug!(module = %self.inner.module, path = %resolved.display(), "lock acquired");
        Ok((token, resolved))
    }
}

impl HostServices for ModuleServices {
    fn resolve(&self, path: RSlice<'_, u8>) -> RResult<RVec<u8>, RString> {
        guarded(|| {
            self.check_active()?;
            let resolved = self.resolve_path(path_of(&path))?;
            Ok(RVec::from(resolved.as_os_str().as_bytes()))
        })
    }

    fn lock(&self, path: RSlice<'_, u8>) -> RResult<u64, RString> {
        guarded(|| self.lock_path(path_of(&path), self.inner.locks.default_timeout()))
    }

    fn lock_resolved(&self, path: RSlice<'_, u8>, timeout_ms: u64) -> RResult<LockGrant, RString> {
        guarded(|| {
            let timeout = match timeout_ms {
                u64::MAX => self.inner.locks.default_timeout(),
                millis => Some(Duration::from_millis(millis)),
            };
            let (token, resolved) = self.lock_and_resolve(path_of(&path), timeout)?;
            Ok(LockGrant {
                token,
                path: RVec::from(resolved.as_os_str().as_bytes()),
            })
        })
    }

    fn lock_with_timeout(&self, path: RSlice<'_, u8>, timeout_ms: u64) -> RResult<u64, RString> {
        guarded(|| self.lock_path(path_of(&path), Some(Duration::from_millis(timeout_ms))))
    }

    fn record_access(&self, kind: ffi::AccessKind, path: RSlice<'_, u8>) {
        let _ = guarded(|| {
            self.check_active()?;
            // The module passes the path it opened, already resolved under the root; a path
            // elsewhere is not one of the run's files.
            let opened = path_of(&path);
            if opened.starts_with(self.inner.root.path()) {
                let kind = match kind {
                    ffi::AccessKind::Read => AccessKind::Read,
                    ffi::AccessKind::Write => AccessKind::Write,
                };
                self.record(kind, opened);
            }
            Ok(())
        });
    }

    fn check_mode(&self) -> bool {
        self.inner.check
    }

    fn records_changes(&self) -> bool {
        self.inner.changes.is_some()
    }

    fn record_change(&self, path: RSlice<'_, u8>, old: ROption<RVec<u8>>, new: RVec<u8>) {
        let _ = guarded(|| {
            self.check_active()?;
            let Some(changes) = &self.inner.changes else {
                return Ok(());
            };
            // The module passes the path it wrote, resolved under the root; the diff names the
            // system path.
            let resolved = path_of(&path);
            let system_path = match resolved.strip_prefix(self.inner.root.path()) {
                Ok(inside) => Path::new("/").join(inside),
                Err(_) => resolved.to_owned(),
            };
            changes.record(
                &self.inner.module,
                &system_path,
                resolved,
                old.into_option().map(RVec::into_vec),
                new.into_vec(),
                self.inner.check,
            );
            Ok(())
        });
    }

    fn staged_content(&self, path: RSlice<'_, u8>) -> ROption<RVec<u8>> {
        let staged = guarded(|| {
            self.check_active()?;
            let staged = match &self.inner.changes {
                Some(changes) if self.inner.check => changes.staged(path_of(&path)),
                _ => None,
            };
            Ok(staged.map(RVec::from))
        });
        // A module whose access ended reads the file itself, like a module of a real run.
        staged.into_result().ok().flatten().into()
    }

    fn unlock(&self, token: u64) {
        let _ = guarded(|| {
            let mut held = self.held();
            let handle = held
                .iter()
                .position(|(held_token, _)| *held_token == token)
                .map(|index| held.swap_remove(index));
            drop(held);
            drop(handle);
            Ok(())
        });
    }

    fn log(&self, level: LogLevel, message: RStr<'_>) {
        let _ = guarded(|| {
            // In a check run a module logs what it does as if it wrote, such as "wrote
            // /etc/motd", because its helpers hide the difference.
            if self.inner.check {
                let message = format!("(check mode) {}", message.as_str());
                log_module_message(&self.inner.module, level, &message);
            } else {
                log_module_message(&self.inner.module, level, message.as_str());
            }
            Ok(())
        });
    }

    fn root(&self) -> RVec<u8> {
        RVec::from(self.inner.root.path().as_os_str().as_bytes())
    }
}

/// Runs a service call, turning a panic into an error so that it never unwinds into plugin code.
fn guarded<T>(call: impl FnOnce() -> Result<T, String>) -> RResult<T, RString> {
    match panic::catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(value)) => RResult::ROk(value),
        Ok(Err(message)) => RResult::RErr(message.into()),
        Err(_) => RResult::RErr("the host failed internally while serving this call".into()),
    }
}

fn path_of<'a>(bytes: &'a RSlice<'_, u8>) -> &'a Path {
    Path::new(OsStr::from_bytes(bytes.as_slice()))
}

/// Emits a module's own message as a host log event prefixed with the module's name.
pub fn log_module_message(module: &str, level: LogLevel, message: &str) {
    let message = crate::output::printable(message);
    let as_field = MODULE_NAME_AS_FIELD.load(Ordering::Relaxed);
    macro_rules! emit {
        ($level:ident) => {
            if as_field {
                tracing::$level!(module = %module, "{message}")
            } else {
                tracing::$level!("[{module}] {message}")
            }
        };
    }
    match level {
        LogLevel::Error => emit!(error),
        LogLevel::Warn => emit!(warn),
        LogLevel::Info => emit!(info),
        LogLevel::Debug => emit!(debug),
        LogLevel::Trace => emit!(trace),
    }
}

/// Whether module messages carry the module's name in a `module` field instead of a `[NAME]`
/// prefix of the text. JSON logs set it, because their readers filter on fields.
static MODULE_NAME_AS_FIELD: AtomicBool = AtomicBool::new(false);

/// Makes module messages carry the module's name in a `module` field, for `--log-format json`,
/// instead of a `[NAME]` prefix of the message.
pub fn log_module_name_as_field(enabled: bool) {
    MODULE_NAME_AS_FIELD.store(enabled, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::Context;

    fn services(root: &Path) -> ModuleServices {
        ModuleServices::new("hosts", root, LockManager::new(root.join("locks")))
    }

    #[test]
    fn context_resolves_under_root() {
        let dir = tempfile::tempdir().unwrap();
        let services = services(dir.path());
        let context = Context::new(services.to_ffi(), "hosts", "");
        assert_eq!(
            context.resolve("/etc/hosts").unwrap(),
            dir.path().join("etc/hosts")
        );
        assert_eq!(context.root(), dir.path());
    }

    #[test]
    fn dropped_guard_releases_lock() {
        let dir = tempfile::tempdir().unwrap();
        let services = services(dir.path());
        let context = Context::new(services.to_ffi(), "hosts", "");
        let guard = context.file_lock("/etc/hosts").unwrap();
        assert_eq!(guard.path(), dir.path().join("etc/hosts"));
        assert_eq!(services.held().len(), 1);
        drop(guard);
        assert!(services.held().is_empty());
    }

    #[test]
    fn finish_releases_leaked_locks() {
        let dir = tempfile::tempdir().unwrap();
        let services = services(dir.path());
        let context = Context::new(services.to_ffi(), "hosts", "");
        std::mem::forget(context.file_lock("/etc/hosts").unwrap());
        services.finish();
        assert!(services.held().is_empty());
        assert_eq!(
            services.inner.locks.holder(&dir.path().join("etc/hosts")),
            None
        );
    }

    #[test]
    fn relocking_a_held_path_fails_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let services = services(dir.path());
        let context = Context::new(services.to_ffi(), "hosts", "");
        let _guard = context.file_lock("/etc/hosts").unwrap();
        let error = context.file_lock("/etc/../etc/hosts").unwrap_err();
        assert!(
            error.to_string().contains("already holds the lock"),
            "{error}"
        );
    }

    #[test]
    fn file_locks_sorted_and_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        let services = services(dir.path());
        let context = Context::new(services.to_ffi(), "hosts", "");

        let guards = context
            .file_locks(["/etc/passwd", "/etc/group", "/etc/../etc/passwd"])
            .unwrap();

        let paths: Vec<_> = guards.iter().map(|guard| guard.path().to_owned()).collect();
        assert_eq!(
            paths,
            [dir.path().join("etc/group"), dir.path().join("etc/passwd")]
        );
        assert_eq!(services.held().len(), 2);
    }

    #[test]
    fn escape_attempts_are_rejected_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("etc/evil")).unwrap();
        let services = services(&root);
        let context = Context::new(services.to_ffi(), "hosts", "");

        for path in ["/../etc/passwd", "/etc/evil"] {
            let error = context.resolve(path).unwrap_err();
            assert!(error.to_string().contains(path), "{error}");
            let error = context.file_lock(path).unwrap_err();
            assert!(error.to_string().contains(path), "{error}");
        }
        assert!(services.held().is_empty());
    }

    #[test]
    fn services_fail_after_abandon() {
        let dir = tempfile::tempdir().unwrap();
        let services = services(dir.path());
        let context = Context::new(services.to_ffi(), "hosts", "");
        let guard = context.file_lock("/etc/hosts").unwrap();

        services.abandon();

        assert_eq!(
            services.inner.locks.holder(&dir.path().join("etc/hosts")),
            None,
            "abandoning releases the locks the module holds"
        );
        let error = context.file_lock("/etc/motd").unwrap_err();
        assert!(error.to_string().contains("abandoned"), "{error}");
        drop(guard);
    }

    #[test]
    fn lock_granted_after_abandon_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let locks = LockManager::new(dir.path().join("locks"));
        let holder = ModuleServices::new("holder", dir.path(), Arc::clone(&locks));
        let waiter = ModuleServices::new("waiter", dir.path(), Arc::clone(&locks));
        let holder_context = Context::new(holder.to_ffi(), "holder", "");
        let guard = holder_context.file_lock("/etc/hosts").unwrap();

        let waiting = std::thread::spawn({
            let waiter = waiter.clone();
            move || {
                let context = Context::new(waiter.to_ffi(), "waiter", "");
                context.file_lock("/etc/hosts").map(drop)
            }
        });
        // The waiter is abandoned whether or not it has started waiting; either way its call
        // must fail and leave the lock free.
        waiter.abandon();
        drop(guard);
        let result = waiting.join().unwrap();

        assert!(result.is_err(), "an abandoned module was granted a lock");
        assert_eq!(locks.holder(&dir.path().join("etc/hosts")), None);
        assert!(waiter.held().is_empty());
    }

    #[test]
    fn check_write_is_staged_for_the_next_module() {
        let dir = tempfile::tempdir().unwrap();
        let locks = LockManager::without_sidecars(None);
        let changes = Arc::new(ChangeLog::default());
        let writer = ModuleServices::new("system", dir.path(), Arc::clone(&locks))
            .with_changes(true, Some(Arc::clone(&changes)));
        let reader = ModuleServices::new("hosts", dir.path(), Arc::clone(&locks))
            .with_changes(true, Some(Arc::clone(&changes)));
        let writer_context = Context::new(writer.to_ffi(), "system", "");
        let reader_context = Context::new(reader.to_ffi(), "hosts", "");

        assert!(writer_context.is_check());
        assert!(
            writer_context
                .write_atomic("/etc/system_config", "hostname=web01\n", 0o644)
                .unwrap()
        );
        writer.finish();

        assert_eq!(
            reader_context
                .read_to_string("/etc/system_config")
                .unwrap()
                .as_deref(),
            Some("hostname=web01\n"),
            "a later module reads what the writer would have written"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let recorded = changes.changes();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].module, "system");
        assert_eq!(recorded[0].path, Path::new("/etc/system_config"));
        assert_eq!(recorded[0].old, None);
    }

    #[test]
    fn real_write_is_recorded_for_diff() {
        let dir = tempfile::tempdir().unwrap();
        let changes = Arc::new(ChangeLog::default());
        let services = services(dir.path()).with_changes(false, Some(Arc::clone(&changes)));
        let context = Context::new(services.to_ffi(), "hosts", "");

        assert!(!context.is_check());
        context.write_atomic("/etc/hosts", "new\n", 0o644).unwrap();

        assert_eq!(
            std::fs::read_to_string(dir.path().join("etc/hosts")).unwrap(),
            "new\n"
        );
        let recorded = changes.changes();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].new, b"new\n");
        assert_eq!(
            changes.staged(&dir.path().join("etc/hosts")),
            None,
            "only a check run stages content"
        );
    }

    #[test]
    fn services_fail_after_finish() {
        let dir = tempfile::tempdir().unwrap();
        let services = services(dir.path());
        let context = Context::new(services.to_ffi(), "hosts", "");
        services.finish();
        let error = context.file_lock("/etc/hosts").unwrap_err();
        assert!(
            error.to_string().contains("after its configure returned"),
            "{error}"
        );
    }
}
