//! Host-mediated file locks: the service behind a module's `file_lock`.
//!
//! A lock on a path is two locks taken in order:
//!
//! 1. an in-process entry keyed by the resolved path, which excludes the other modules of this
//!    run and records which module holds the path;
//! 2. an exclusive `flock` (through `fd-lock`) on a sidecar file in the lock directory, which
//!    excludes other processes such as a second `configurator run` on the same root.
//!
//! The sidecar file is never the protected file itself: a module that replaces the file by
//! renaming a new one over it would leave a lock on the protected file stranded on the old
//! inode.
//!
//! The in-process table also records which module waits for which path, so a request that would
//! close a wait-for cycle between modules fails at once with a [`LockError::Deadlock`] naming
//! every module and file of the cycle. Waits may be bounded by a timeout; `flock` has none of
//! its own, so the cross-process part then waits in a thread of its own that gives the lock
//! back if the wait has ended by the time the lock comes.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, mpsc};

use rustix::fs::{Mode, OFlags};
use std::thread;
use std::time::{Duration, Instant};

/// Maximum sidecar file name length written in full; longer names are shortened and hashed.
const MAX_SIDECAR_NAME: usize = 200;

/// Errors in taking a lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The lock directory could not be created.
    #[error("cannot create lock directory {}", path.display())]
    CreateDir {
        /// The lock directory.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },

    /// The sidecar lock file could not be opened or locked.
    #[error("cannot lock sidecar file {}", path.display())]
    Sidecar {
        /// The sidecar file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },

    /// Waiting would close a cycle of modules that each wait for a lock the next one holds.
    #[error("{}", deadlock_message(.0))]
    Deadlock(Vec<WaitEdge>),

    /// The lock was not free within the timeout.
    #[error(
        "timed out after {} waiting for the lock on {}, held by {}",
        format_timeout(*.timeout),
        .path.display(),
        holder_text(.holder.as_deref())
    )]
    Timeout {
        /// The path whose lock was requested.
        path: PathBuf,
        /// How long the request waited.
        timeout: Duration,
        /// The module of this run holding the lock, or `None` when another process holds it.
        holder: Option<String>,
    },
}

/// One step of a deadlock: `module` waits for the lock on `path`, which `holder` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitEdge {
    /// The waiting module.
    pub module: String,
    /// The path it waits for.
    pub path: PathBuf,
    /// The module holding that path.
    pub holder: String,
}

impl fmt::Display for WaitEdge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "module `{}` waits for {}, held by module `{}`",
            self.module,
            self.path.display(),
            self.holder
        )
    }
}

fn deadlock_message(cycle: &[WaitEdge]) -> String {
    let steps: Vec<String> = cycle.iter().map(WaitEdge::to_string).collect();
    format!(
        "deadlock: {}; take the locks in one order in every module, or lock them together \
         with file_locks",
        steps.join("; ")
    )
}

fn format_timeout(timeout: Duration) -> String {
    format!("{:.1}s", timeout.as_secs_f64())
}

fn holder_text(holder: Option<&str>) -> String {
    match holder {
        Some(module) => format!("module `{module}`"),
        None => "another process".to_owned(),
    }
}

/// The locks of one run, shared by all its modules.
#[derive(Debug)]
pub struct LockManager {
    lock_dir: PathBuf,
    /// Whether locks take a sidecar file too; a check run, which must create nothing under
    /// the root, takes in-process locks only.
    sidecars: bool,
    /// A descriptor of `lock_dir`, opened with the first lock.
    lock_dir_handle: OnceLock<OwnedFd>,
    default_timeout: Option<Duration>,
    table: Mutex<LockTable>,
    next_waiter: AtomicU64,
}

/// The holders of and waiters for each path, within this run.
#[derive(Debug, Default)]
struct LockTable {
    /// Resolved path to the module holding it.
    holders: HashMap<PathBuf, String>,
    /// Each waiting request, by a unique id, to its module and the path it waits for.
    waiting: HashMap<u64, (String, PathBuf)>,
    /// Each path that has waiters, with the condition they wait on and their number. One
    /// condition per path lets a release wake one waiter of that path instead of all.
    queues: HashMap<PathBuf, (Arc<Condvar>, usize)>,
}

impl LockTable {
    /// Marks `path` free and wakes one of its waiters.
    fn release(&mut self, path: &Path) {
        self.holders.remove(path);
        if let Some((released, _)) = self.queues.get(path) {
            released.notify_one();
        }
    }

    /// Registers one more waiter of `path` and returns the condition to wait on.
    fn enqueue(&mut self, path: &Path) -> Arc<Condvar> {
        let (released, count) = self
            .queues
            .entry(path.to_owned())
            .or_insert_with(|| (Arc::new(Condvar::new()), 0));
        *count += 1;
        Arc::clone(released)
    }

    /// Removes a waiter of `path`. A waiter that gives up may have taken the wake-up of a
    /// release, so it passes the wake-up on when the path is free.
    fn dequeue(&mut self, path: &Path) {
        let free = !self.holders.contains_key(path);
        if let Some((released, count)) = self.queues.get_mut(path) {
            *count -= 1;
            if *count == 0 {
                self.queues.remove(path);
            } else if free {
                released.notify_one();
            }
        }
    }
}

impl LockTable {
    /// Returns the wait-for cycle that `module` waiting for `path` would close, if any.
    ///
    /// NOTE: the graph is kept per module, not per thread. A cycle that only forms when a lock
    /// changes hands, because one module waits on two of its own threads at once, is not
    /// detected here. A lock timeout still ends such a wait.
    fn cycle_through(&self, module: &str, path: &Path) -> Option<Vec<WaitEdge>> {
        let holder = self.holders.get(path)?;
        let first = WaitEdge {
            module: module.to_owned(),
            path: path.to_owned(),
            holder: holder.clone(),
        };
        self.path_back_to(module, vec![first])
    }

    /// Extends the wait-for chain `edges` from its last holder and returns it once it reaches
    /// `origin`. The search is depth-first and skips modules already on the chain.
    fn path_back_to(&self, origin: &str, edges: Vec<WaitEdge>) -> Option<Vec<WaitEdge>> {
        let last_holder = &edges.last()?.holder;
        if last_holder == origin {
            return Some(edges);
        }
        let mut requests: Vec<&(String, PathBuf)> = self
            .waiting
            .values()
            .filter(|(waiter, _)| waiter == last_holder)
            .collect();
        requests.sort();
        for (waiter, wanted) in requests {
            let Some(holder) = self.holders.get(wanted) else {
                continue;
            };
            if edges.iter().any(|edge| &edge.module == holder) && holder != origin {
                continue;
            }
            let mut longer = edges.clone();
            longer.push(WaitEdge {
                module: waiter.clone(),
                path: wanted.clone(),
                holder: holder.clone(),
            });
            if let Some(cycle) = self.path_back_to(origin, longer) {
                return Some(cycle);
            }
        }
        None
    }
}

/// A held lock; dropping it releases both the `flock` and the in-process entry.
#[derive(Debug)]
pub struct LockHandle {
    manager: Arc<LockManager>,
    path: PathBuf,
    /// The sidecar file; closing its only descriptor releases the `flock`.
    sidecar: Option<File>,
}

impl LockHandle {
    /// Returns the resolved path this lock protects.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LockHandle {
    fn drop(&mut self) {
        // Release the cross-process lock before letting another thread of this run in.
        drop(self.sidecar.take());
        self.manager.table().release(&self.path);
    }
}

impl LockManager {
    /// Creates the lock manager of a run, with sidecar files in `lock_dir` and waits without
    /// a time limit.
    pub fn new(lock_dir: PathBuf) -> Arc<Self> {
        Self::with_timeout(lock_dir, None)
    }

    /// Creates the lock manager of a run whose waits fail after `default_timeout`, if given.
    pub fn with_timeout(lock_dir: PathBuf, default_timeout: Option<Duration>) -> Arc<Self> {
        Self::build(lock_dir, true, default_timeout)
    }

    /// Creates the lock manager of a check run: its locks exclude the other modules of the run
    /// but take no sidecar file, so they create nothing and do not exclude other processes.
    pub fn without_sidecars(default_timeout: Option<Duration>) -> Arc<Self> {
        Self::build(PathBuf::new(), false, default_timeout)
    }

    fn build(lock_dir: PathBuf, sidecars: bool, default_timeout: Option<Duration>) -> Arc<Self> {
        Arc::new(Self {
            lock_dir,
            sidecars,
            lock_dir_handle: OnceLock::new(),
            default_timeout,
            table: Mutex::new(LockTable::default()),
            next_waiter: AtomicU64::new(0),
        })
    }

    /// Returns the timeout of waits that set none of their own.
    pub fn default_timeout(&self) -> Option<Duration> {
        self.default_timeout
    }

    /// Returns the directory of the sidecar lock files; empty for a manager without sidecars.
    pub fn lock_dir(&self) -> &Path {
        &self.lock_dir
    }

    /// Waits until `module` holds the lock on `path`, a path already resolved under the root,
    /// for at most the run's default timeout.
    ///
    /// `relative` is the path's spelling below the root, from which the sidecar file is named
    /// so that every process on the same root agrees on it.
    pub fn acquire(
        self: &Arc<Self>,
        module: &str,
        path: &Path,
        relative: &Path,
    ) -> Result<LockHandle, LockError> {
        self.acquire_with_timeout(module, path, relative, self.default_timeout)
    }

    /// Like [`acquire`](Self::acquire), with its own timeout; `None` waits without a limit.
    pub fn acquire_with_timeout(
        self: &Arc<Self>,
        module: &str,
        path: &Path,
        relative: &Path,
        timeout: Option<Duration>,
    ) -> Result<LockHandle, LockError> {
        let deadline = timeout.map(|timeout| (Instant::now() + timeout, timeout));
        self.acquire_in_process(module, path, deadline)?;
        // From here on the handle's drop undoes the in-process entry, also on error.
        let mut handle = LockHandle {
            manager: Arc::clone(self),
            path: path.to_owned(),
            sidecar: None,
        };
        if self.sidecars {
            handle.sidecar = Some(self.lock_sidecar(path, relative, deadline)?);
        }
        Ok(handle)
    }

    /// Returns the module holding `path` in this run, if any.
    pub fn holder(&self, path: &Path) -> Option<String> {
        self.table().holders.get(path).cloned()
    }

    fn acquire_in_process(
        &self,
        module: &str,
        path: &Path,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<(), LockError> {
        let mut table = self.table();
        if !table.holders.contains_key(path) {
            table.holders.insert(path.to_owned(), module.to_owned());
            return Ok(());
        }
        if let Some(cycle) = table.cycle_through(module, path) {
            return Err(LockError::Deadlock(cycle));
        }

        let waiter = self.next_waiter.fetch_add(1, Ordering::Relaxed);
        table
            .waiting
            .insert(waiter, (module.to_owned(), path.to_owned()));
        let released = table.enqueue(path);
        while table.holders.contains_key(path) {
            table = match deadline {
                None => released.wait(table).unwrap_or_else(PoisonError::into_inner),
                Some((deadline, timeout)) => {
                    let now = Instant::now();
                    if now >= deadline {
                        table.waiting.remove(&waiter);
                        table.dequeue(path);
                        return Err(LockError::Timeout {
                            path: path.to_owned(),
                            timeout,
                            holder: table.holders.get(path).cloned(),
                        });
                    }
                    released
                        .wait_timeout(table, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
        table.waiting.remove(&waiter);
        table.holders.insert(path.to_owned(), module.to_owned());
        table.dequeue(path);
        Ok(())
    }

    fn lock_sidecar(
        &self,
        path: &Path,
        relative: &Path,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<File, LockError> {
        let name = sidecar_name(relative);
        let sidecar_error = |source| LockError::Sidecar {
            path: self.lock_dir.join(&name),
            source,
        };
        // Opening relative to a descriptor of the lock directory spares the kernel a walk of
        // the directory's whole path on every lock.
        let file = rustix::fs::openat(
            self.lock_dir_handle()?,
            name.as_str(),
            OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map(File::from)
        .map_err(|errno| sidecar_error(errno.into()))?;

        let mut lock = fd_lock::RwLock::new(file);
        // Each guard borrows the lock, so it cannot be stored beside it. Forgetting it skips
        // fd-lock's explicit unlock; the flock stays held until the file, the only descriptor of
        // its open file description, is closed in `LockHandle::drop`.
        let mut try_lock = || match lock.try_write() {
            Ok(guard) => {
                std::mem::forget(guard);
                Ok(true)
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(error) => Err(sidecar_error(error)),
        };
        if try_lock()? {
            return Ok(lock.into_inner());
        }
        // Say why the run stalls while another process holds the lock.
        tracing::info!(
            "waiting for the lock on {}, held by another process",
            path.display()
        );
        let Some((deadline, timeout)) = deadline else {
            std::mem::forget(lock.write().map_err(sidecar_error)?);
            return Ok(lock.into_inner());
        };

        // flock has no timeout, and polling would let this process's other threads take the
        // lock between polls forever. So a thread of its own waits in a blocking flock and hands
        // the file over. If the wait here has given up by then, the file is dropped, which
        // releases the lock at once.
        let (sender, receiver) = mpsc::sync_channel(1);
        let file = lock.into_inner();
        thread::spawn(move || {
            let mut lock = fd_lock::RwLock::new(file);
            let locked = lock.write().map(std::mem::forget);
            let _ = sender.send(locked.map(|()| lock.into_inner()));
        });
        match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Ok(file)) => Ok(file),
            Ok(Err(error)) => Err(sidecar_error(error)),
            Err(_) => Err(LockError::Timeout {
                path: path.to_owned(),
                timeout,
                holder: None,
            }),
        }
    }

    /// Returns a descriptor of the lock directory, creating the directory and opening it on
    /// first use.
    fn lock_dir_handle(&self) -> Result<&OwnedFd, LockError> {
        if let Some(handle) = self.lock_dir_handle.get() {
            return Ok(handle);
        }
        let create_error = |source| LockError::CreateDir {
            path: self.lock_dir.clone(),
            source,
        };
        fs::create_dir_all(&self.lock_dir).map_err(create_error)?;
        let handle = rustix::fs::open(
            &self.lock_dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|errno| create_error(errno.into()))?;
        // Another thread may have opened it meanwhile; either descriptor will do.
        Ok(self.lock_dir_handle.get_or_init(|| handle))
    }

    fn table(&self) -> MutexGuard<'_, LockTable> {
        // The table stays consistent even if a holder panicked: entries are inserted and removed
        // whole.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One lock request of a module and how long it waited, for `run --report`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockWait {
    /// The module that requested the lock.
    pub module: String,
    /// The locked file as a system path, such as `/etc/hosts`.
    pub path: PathBuf,
    /// The module of this run holding the path when the request began; `None` when no module
    /// of this run held it, though another process may have.
    pub holder: Option<String>,
    /// Time from the request to the grant or the failure.
    pub waited: Duration,
    /// Whether the lock was granted; `false` after a timeout.
    pub acquired: bool,
}

/// The lock requests of one run, shared by the services of all its modules.
#[derive(Debug, Default)]
pub struct LockWaitLog {
    waits: Mutex<Vec<LockWait>>,
}

impl LockWaitLog {
    /// Appends one lock request.
    pub fn record(&self, wait: LockWait) {
        self.waits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(wait);
    }

    /// Returns the recorded requests in the order they ended.
    pub fn waits(&self) -> Vec<LockWait> {
        self.waits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Names the sidecar file for a path below the root: bytes other than ASCII letters, digits,
/// `.`, `_` and `-` are percent-encoded, so distinct paths get distinct names.
fn sidecar_name(relative: &Path) -> String {
    use std::fmt::Write as _;
    use std::os::unix::ffi::OsStrExt as _;

    let bytes = relative.as_os_str().as_bytes();
    let mut name = String::with_capacity(bytes.len() + 5);
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-') {
            name.push(byte as char);
        } else {
            let _ = write!(name, "%{byte:02X}");
        }
    }
    if name.len() > MAX_SIDECAR_NAME {
        let hash = fnv1a(bytes);
        name.truncate(MAX_SIDECAR_NAME - 17);
        let _ = write!(name, "~{hash:016x}");
    }
    name.push_str(".lock");
    name
}

/// 64-bit FNV-1a: a hash that every host version computes the same way, unlike std's hashers.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;
    use std::time::Duration;

    #[test]
    fn sidecar_names_are_distinct_and_safe() {
        assert_eq!(sidecar_name(Path::new("etc/hosts")), "etc%2Fhosts.lock");
        assert_ne!(
            sidecar_name(Path::new("etc/a b")),
            sidecar_name(Path::new("etc/a_b"))
        );
        assert_ne!(
            sidecar_name(Path::new("etc%2Fx")),
            sidecar_name(Path::new("etc/x"))
        );
    }

    #[test]
    fn long_sidecar_names_are_shortened_and_distinct() {
        let long_a = "a/".repeat(300);
        let long_b = format!("{}b", "a/".repeat(300));
        let name_a = sidecar_name(Path::new(&long_a));
        assert!(
            name_a.len() <= MAX_SIDECAR_NAME + ".lock".len(),
            "{}",
            name_a.len()
        );
        assert_ne!(name_a, sidecar_name(Path::new(&long_b)));
    }

    #[test]
    fn lock_excludes_other_threads() {
        let dir = tempfile::tempdir().unwrap();
        let manager = LockManager::new(dir.path().join("locks"));
        let target = dir.path().join("shared");
        let inside = Arc::new(AtomicUsize::new(0));

        thread::scope(|scope| {
            for index in 0..4 {
                let (manager, target, inside) = (&manager, &target, &inside);
                scope.spawn(move || {
                    for _ in 0..20 {
                        let handle = manager
                            .acquire(&format!("m{index}"), target, Path::new("shared"))
                            .unwrap();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        thread::sleep(Duration::from_micros(200));
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(handle);
                    }
                });
            }
        });
    }

    #[test]
    fn lock_without_sidecars_excludes_threads_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let manager = LockManager::without_sidecars(Some(Duration::from_millis(20)));
        let target = dir.path().join("shared");

        let handle = manager.acquire("m1", &target, Path::new("shared")).unwrap();
        let error = manager
            .acquire("m2", &target, Path::new("shared"))
            .unwrap_err();

        assert!(
            matches!(&error, LockError::Timeout { holder: Some(holder), .. } if holder == "m1"),
            "{error}"
        );
        drop(handle);
        assert!(manager.acquire("m2", &target, Path::new("shared")).is_ok());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn holder_is_recorded_until_release() {
        let dir = tempfile::tempdir().unwrap();
        let manager = LockManager::new(dir.path().join("locks"));
        let target = dir.path().join("etc/hosts");
        let handle = manager
            .acquire("hosts", &target, Path::new("etc/hosts"))
            .unwrap();
        assert_eq!(manager.holder(&target).as_deref(), Some("hosts"));
        assert!(dir.path().join("locks/etc%2Fhosts.lock").exists());
        drop(handle);
        assert_eq!(manager.holder(&target), None);
    }

    #[test]
    fn sidecar_flock_excludes_another_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let manager = LockManager::new(dir.path().join("locks"));
        let target = dir.path().join("etc/hosts");
        let handle = manager
            .acquire("hosts", &target, Path::new("etc/hosts"))
            .unwrap();

        // Another open file description, as another process would have, must not get the lock.
        let other = File::open(dir.path().join("locks/etc%2Fhosts.lock")).unwrap();
        let mut other = fd_lock::RwLock::new(other);
        assert!(other.try_write().is_err(), "flock was not held");
        drop(handle);
        assert!(other.try_write().is_ok(), "flock was not released");
    }

    /// Waits until `manager` records `module` as waiting for a lock.
    fn wait_until_waiting(manager: &LockManager, module: &str) {
        while !manager
            .table()
            .waiting
            .values()
            .any(|(waiter, _)| waiter == module)
        {
            thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn lock_order_inversion_is_reported_as_deadlock() {
        let dir = tempfile::tempdir().unwrap();
        let manager = LockManager::new(dir.path().join("locks"));
        let (x, y) = (dir.path().join("x"), dir.path().join("y"));
        let a_holds_x = manager.acquire("a", &x, Path::new("x")).unwrap();
        let b_holds_y = manager.acquire("b", &y, Path::new("y")).unwrap();

        thread::scope(|scope| {
            let a_waits = scope.spawn(|| manager.acquire("a", &y, Path::new("y")).map(drop));
            wait_until_waiting(&manager, "a");

            let error = manager.acquire("b", &x, Path::new("x")).unwrap_err();

            let LockError::Deadlock(cycle) = &error else {
                panic!("expected a deadlock, got {error}");
            };
            assert_eq!(cycle.len(), 2, "{error}");
            let text = error.to_string();
            for name in [
                "`a`",
                "`b`",
                &x.display().to_string(),
                &y.display().to_string(),
            ] {
                assert!(text.contains(name), "{name} missing from: {text}");
            }
            drop(b_holds_y);
            a_waits
                .join()
                .unwrap()
                .expect("a gets y once b gives it up");
        });
        drop(a_holds_x);
    }

    #[test]
    fn three_module_cycle_is_reported_as_deadlock() {
        let dir = tempfile::tempdir().unwrap();
        let manager = LockManager::new(dir.path().join("locks"));
        let paths: Vec<PathBuf> = ["p0", "p1", "p2"]
            .iter()
            .map(|name| dir.path().join(name))
            .collect();
        let modules = ["m0", "m1", "m2"];
        let held: Vec<LockHandle> = (0..3)
            .map(|index| {
                manager
                    .acquire(modules[index], &paths[index], Path::new(modules[index]))
                    .unwrap()
            })
            .collect();

        thread::scope(|scope| {
            // m0 waits for p1 (held by m1), m1 waits for p2 (held by m2).
            let waits: Vec<_> = (0..2)
                .map(|index| {
                    let (manager, paths, modules) = (&manager, &paths, &modules);
                    let waiter = scope.spawn(move || {
                        manager
                            .acquire(
                                modules[index],
                                &paths[index + 1],
                                Path::new(modules[index + 1]),
                            )
                            .map(drop)
                    });
                    wait_until_waiting(manager, modules[index]);
                    waiter
                })
                .collect();

            // m2 asking for p0 closes the cycle.
            let error = manager
                .acquire("m2", &paths[0], Path::new("m0"))
                .unwrap_err();

            let LockError::Deadlock(cycle) = &error else {
                panic!("expected a deadlock, got {error}");
            };
            let waiting: Vec<&str> = cycle.iter().map(|edge| edge.module.as_str()).collect();
            assert_eq!(waiting, ["m2", "m0", "m1"], "{error}");
            drop(held);
            for waiter in waits {
                waiter
                    .join()
                    .unwrap()
                    .expect("each waiter gets its lock after the release");
            }
        });
    }

    #[test]
    fn waiting_without_cycle_is_no_deadlock() {
        let dir = tempfile::tempdir().unwrap();
        let manager = LockManager::new(dir.path().join("locks"));
        let x = dir.path().join("x");
        let a_holds_x = manager.acquire("a", &x, Path::new("x")).unwrap();

        thread::scope(|scope| {
            let b_waits = scope.spawn(|| manager.acquire("b", &x, Path::new("x")).map(drop));
            let c_waits = scope.spawn(|| manager.acquire("c", &x, Path::new("x")).map(drop));
            wait_until_waiting(&manager, "b");
            wait_until_waiting(&manager, "c");
            drop(a_holds_x);
            b_waits.join().unwrap().unwrap();
            c_waits.join().unwrap().unwrap();
        });
    }

    #[test]
    fn timeout_names_holding_module() {
        let dir = tempfile::tempdir().unwrap();
        let manager = LockManager::new(dir.path().join("locks"));
        let x = dir.path().join("x");
        let _held = manager.acquire("hosts", &x, Path::new("x")).unwrap();

        let error = manager
            .acquire_with_timeout("motd", &x, Path::new("x"), Some(Duration::from_millis(30)))
            .unwrap_err();

        assert!(
            matches!(&error, LockError::Timeout { holder: Some(module), .. } if module == "hosts")
        );
        assert!(
            error.to_string().contains("held by module `hosts`"),
            "{error}"
        );
        assert!(
            manager.table().waiting.is_empty(),
            "the timed-out request stopped waiting"
        );
    }

    #[test]
    fn timeout_names_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let manager =
            LockManager::with_timeout(dir.path().join("locks"), Some(Duration::from_millis(30)));
        let x = dir.path().join("etc/hosts");
        fs::create_dir_all(manager.lock_dir()).unwrap();
        let sidecar = File::create(manager.lock_dir().join("etc%2Fhosts.lock")).unwrap();
        let mut other_process = fd_lock::RwLock::new(sidecar);
        let _held = other_process.try_write().unwrap();

        let error = manager
            .acquire("hosts", &x, Path::new("etc/hosts"))
            .unwrap_err();

        assert!(
            error.to_string().contains("held by another process"),
            "{error}"
        );
        assert_eq!(
            manager.holder(&x),
            None,
            "the failed request left no in-process entry"
        );
    }
}
