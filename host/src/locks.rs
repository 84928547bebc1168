//! Host-mediated file locks: the service behind a module's `file_lock`.
//!
//! A lock on a path is two locks taken in order:
//!
//! 1. an in-process entry keyed by the resolved path, which excludes the other modules of this
//!    run and records which module holds the path;
//! 2. an exclusive `flock` on a sidecar file in the lock directory, which excludes other
//!    processes such as a second `configurator run` on the same root.
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
//!
//! Most locks are held for microseconds, so the common cases avoid system calls and sleeping
//! threads (`docs/benchmarks.md` measures them against bare `flock`):
//!
//! - the sidecar files of up to [`MAX_OPEN_SIDECARS`] paths stay open between locks, and a
//!   lock on such a path takes and releases the `flock` on that descriptor;
//! - a request for a held path spins for a while before it sleeps. One spinning request
//!   takes the path at its release without waking anyone, and a sleeping request gets the
//!   path handed over at most [`FAIR_INTERVAL`] after the previous hand-over;
//! - while requests of this run wait for a path, its `flock` passes from holder to holder
//!   instead of being released and taken again, for at most [`MAX_FLOCK_PASSES`] holders in
//!   a row, so other processes still get their turn.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::hash::BuildHasherDefault;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, mpsc};

use rustix::fs::{FlockOperation, Mode, OFlags};
use std::thread;
use std::time::{Duration, Instant};

use crate::deadline::deadline_after;

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
    /// Releases of any path so far; a spinning request watches it change.
    releases: AtomicU64,
}

/// How many times a request for a held path checks for a release before it sleeps: tens of
/// microseconds, longer than most locks are held.
const MAX_SPINS: u32 = 2_000;

/// How many checks a spinning request makes before it lets other threads run once.
const SPINS_PER_YIELD: u32 = 64;

/// How many holders in a row a sidecar's `flock` may pass to without being released.
const MAX_FLOCK_PASSES: u32 = 64;

/// Maximum time that spinning requests may keep sleeping ones from a path they all want.
const FAIR_INTERVAL: Duration = Duration::from_millis(1);

/// Maximum number of sidecar files a run keeps open between locks. Later paths open and close their
/// sidecar file on every lock, so a module locking thousands of files cannot exhaust the
/// process's descriptors.
const MAX_OPEN_SIDECARS: usize = 64;

/// The holders of and waiters for each path, within this run.
#[derive(Debug, Default)]
struct LockTable {
    /// Each path that is held, wanted or has an open sidecar file. Paths are resolved, so
    /// equal paths have equal bytes, which hash faster than a `Path`'s components.
    paths: HashMap<OsString, PathState, BuildHasherDefault<PathHasher>>,
    /// Each sleeping request, by a unique id, to its module and the path it waits for.
    waiting: HashMap<u64, (String, PathBuf)>,
    /// How many paths have a sidecar file kept open.
    open_sidecars: usize,
}

/// The state of one path in [`LockTable`].
#[derive(Debug)]
struct PathState {
    /// The module holding the path.
    holder: Option<Arc<str>>,
    /// Requests that watch for a release of the path before they sleep.
    spinning: usize,
    /// Requests sleeping on `released`.
    sleeping: usize,
    released: Arc<Condvar>,
    /// Whether the free path is kept for a sleeping request; see [`LockTable::release`].
    handed_over: bool,
    /// When the path was last handed over to the sleeping requests.
    last_hand_over: Instant,
    /// The sidecar file kept open between locks; see [`Sidecar::Shared`].
    sidecar: Option<Arc<File>>,
    /// Whether `sidecar` is still locked for the next holder; see [`LockTable::pass_flock`].
    flock_passed: bool,
    /// How many times in a row the `flock` passed to the next holder.
    passes: u32,
}

impl Default for PathState {
    fn default() -> Self {
        Self {
            holder: None,
            spinning: 0,
            sleeping: 0,
            released: Arc::default(),
            handed_over: false,
            last_hand_over: Instant::now(),
            sidecar: None,
            flock_passed: false,
            passes: 0,
        }
    }
}

impl LockTable {
    /// Returns the state of `path`, adding it if it has none.
    fn state(&mut self, path: &Path) -> &mut PathState {
        let key = path.as_os_str();
        if !self.paths.contains_key(key) {
            self.paths.insert(key.to_owned(), PathState::default());
        }
        self.paths.get_mut(key).expect("the state was just added")
    }

    /// Returns the module holding `path`.
    fn holder(&self, path: &Path) -> Option<&Arc<str>> {
        self.paths.get(path.as_os_str())?.holder.as_ref()
    }

    /// Decides, as the holder of `path` releases it, whether its sidecar's `flock` stays held
    /// for the next holder in this process instead of being released and taken again.
    ///
    /// The `flock` passes while requests of this run wait, for at most [`MAX_FLOCK_PASSES`]
    /// holders in a row. Then it is released, so that other processes get their turn.
    fn pass_flock(&mut self, path: &Path) -> bool {
        let Some(state) = self.paths.get_mut(path.as_os_str()) else {
            return false;
        };
        let waited_for = state.spinning > 0 || state.sleeping > 0;
        if waited_for && state.passes < MAX_FLOCK_PASSES {
            state.passes += 1;
            state.flock_passed = true;
            true
        } else {
            state.passes = 0;
            false
        }
    }

    /// Marks `path` free and wakes a sleeping request, if any.
    ///
    /// While a request spins, it takes the path at once and no sleeping request is woken:
    /// waking a thread costs more than the whole lock usually does. So that spinning requests
    /// cannot keep sleeping ones out for long, a release at least [`FAIR_INTERVAL`] after the
    /// last hand-over hands the path to the sleeping requests instead.
    fn release(&mut self, path: &Path) {
        let Some(state) = self.paths.get_mut(path.as_os_str()) else {
            return;
        };
        state.holder = None;
        if state.sleeping > 0 {
            if state.spinning == 0 {
                state.released.notify_one();
            } else if state.last_hand_over.elapsed() >= FAIR_INTERVAL {
                state.handed_over = true;
                state.last_hand_over = Instant::now();
                state.released.notify_one();
            }
        }
        self.forget_if_unused(path);
    }

    /// Removes the state of `path` when nothing refers to it any more.
    fn forget_if_unused(&mut self, path: &Path) {
        let unused = self.paths.get(path.as_os_str()).is_some_and(|state| {
            state.holder.is_none()
                && state.spinning == 0
                && state.sleeping == 0
                && state.sidecar.is_none()
        });
        if unused {
            self.paths.remove(path.as_os_str());
        }
    }
}

/// The hasher of the lock table, whose keys are short paths: the multiply-and-rotate scheme
/// of rustc's `FxHasher`, eight bytes per step. It is several times faster than std's default
/// SipHash, which guards against crafted keys that modules have no reason to send.
#[derive(Debug, Default)]
struct PathHasher(u64);

impl std::hash::Hasher for PathHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("chunks of eight bytes"));
            self.add(word);
        }
        for &byte in chunks.remainder() {
            self.add(u64::from(byte));
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl PathHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl LockTable {
    /// Returns the wait-for cycle that `module` waiting for `path` would close, if any.
    ///
    /// NOTE: the graph is kept per module, not per thread. A cycle that only forms when a lock
    /// changes hands, because one module waits on two of its own threads at once, is not
    /// detected here. A lock timeout still ends such a wait.
    fn cycle_through(&self, module: &str, path: &Path) -> Option<Vec<WaitEdge>> {
        let holder = self.holder(path)?;
        let first = WaitEdge {
            module: module.to_owned(),
            path: path.to_owned(),
            holder: holder.to_string(),
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
            let Some(holder) = self.holder(wanted) else {
                continue;
            };
            if edges.iter().any(|edge| *edge.module == **holder) && **holder != *origin {
                continue;
            }
            let mut longer = edges.clone();
            longer.push(WaitEdge {
                module: waiter.clone(),
                path: wanted.clone(),
                holder: holder.to_string(),
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
    /// The locked sidecar file, absent in a check run.
    sidecar: Option<Sidecar>,
}

/// The sidecar file kept open for a path, as a request that takes the path in this run gets it.
#[derive(Debug)]
struct OpenSidecar {
    file: Arc<File>,
    /// Whether the previous holder left it locked for this one.
    locked: bool,
}

/// The sidecar file of a held lock.
#[derive(Debug)]
enum Sidecar {
    /// The descriptor the manager keeps open for the path between locks, locked with `flock`
    /// and unlocked on release. Only the module holding the path in this run uses it, so one
    /// open file description serves every lock on the path in turn.
    Shared(Arc<File>),
    /// A descriptor of this lock alone; closing it releases the `flock`.
    Own(#[expect(dead_code, reason = "held only to be closed on release")] File),
}

impl LockHandle {
    /// Returns the resolved path this lock protects.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LockHandle {
    fn drop(&mut self) {
        let mut table = self.manager.table();
        // Release the cross-process lock before letting another thread of this run in, unless
        // one waits and the lock passes to it.
        match self.sidecar.take() {
            Some(Sidecar::Shared(file)) if !table.pass_flock(&self.path) => {
                // An unlock fails only for an invalid descriptor, and closing the descriptor at
                // the end of the run would release the lock anyway.
                let _ = rustix::fs::flock(&*file, FlockOperation::Unlock);
            }
            sidecar => drop(sidecar),
        }
        table.release(&self.path);
        drop(table);
        // Counted once the table is unlocked, so that a spinning request that notices the
        // change finds the table free.
        self.manager.releases.fetch_add(1, Ordering::Release);
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
            releases: AtomicU64::new(0),
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
        module: impl Into<Arc<str>>,
        path: &Path,
        relative: &Path,
    ) -> Result<LockHandle, LockError> {
        self.acquire_with_timeout(module, path, relative, self.default_timeout)
    }

    /// Like [`acquire`](Self::acquire), with its own timeout; `None` waits without a limit.
    pub fn acquire_with_timeout(
        self: &Arc<Self>,
        module: impl Into<Arc<str>>,
        path: &Path,
        relative: &Path,
        timeout: Option<Duration>,
    ) -> Result<LockHandle, LockError> {
        // A timeout too large for a deadline waits without a limit.
        let deadline = timeout.and_then(|timeout| {
            deadline_after(Instant::now(), timeout).map(|deadline| (deadline, timeout))
        });
        let open_sidecar = self.acquire_in_process(module.into(), path, deadline)?;
        // From here on the handle's drop undoes the in-process entry, also on error.
        let mut handle = LockHandle {
            manager: Arc::clone(self),
            path: path.to_owned(),
            sidecar: None,
        };
        if self.sidecars {
            handle.sidecar = Some(self.lock_sidecar(path, relative, deadline, open_sidecar)?);
        }
        Ok(handle)
    }

    /// Returns the module holding `path` in this run, if any.
    pub fn holder(&self, path: &Path) -> Option<String> {
        self.table().holder(path).map(|holder| holder.to_string())
    }

    /// Waits until `module` holds `path` in this run and returns the sidecar file kept open
    /// for it, if any.
    ///
    /// A lock is mostly held for a few microseconds, less than it costs to put a thread to
    /// sleep and wake it. So a request for a held path first spins, watching for a release,
    /// like a futex-based mutex does, and sleeps only when none comes within [`MAX_SPINS`].
    /// Requests are not served in order: a spinning request may take the path before one that
    /// sleeps, as with `flock` itself.
    fn acquire_in_process(
        &self,
        module: Arc<str>,
        path: &Path,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<Option<OpenSidecar>, LockError> {
        let mut table = self.table();
        let mut sleeper = None;
        // Spins since the request began or last woke up, whatever lock each release was of.
        let mut spins = 0;
        loop {
            let state = table.state(path);
            // A path handed over to the sleeping requests goes to one of them.
            if state.holder.is_none() && (!state.handed_over || sleeper.is_some()) {
                state.holder = Some(Arc::clone(&module));
                state.handed_over = false;
                let sidecar = state.sidecar.clone().map(|file| OpenSidecar {
                    file,
                    locked: std::mem::take(&mut state.flock_passed),
                });
                if let Some(id) = sleeper {
                    table.waiting.remove(&id);
                }
                return Ok(sidecar);
            }

            // One spinning request per path is enough to take it at its release; more would
            // take processors from the holder.
            if spins < MAX_SPINS && state.spinning == 0 {
                state.spinning += 1;
                let seen = self.releases.load(Ordering::Acquire);
                drop(table);
                while spins < MAX_SPINS && self.releases.load(Ordering::Relaxed) == seen {
                    std::hint::spin_loop();
                    spins += 1;
                    if spins % SPINS_PER_YIELD == 0 {
                        // With more threads than processors, the holder may be waiting for
                        // this one.
                        thread::yield_now();
                    }
                }
                table = self.table();
                table.state(path).spinning -= 1;
                // Some lock was released, or the spinning is over: look again.
                continue;
            }

            let id = match sleeper {
                Some(id) => id,
                None => {
                    if let Some(cycle) = table.cycle_through(&module, path) {
                        table.forget_if_unused(path);
                        return Err(LockError::Deadlock(cycle));
                    }
                    let id = self.next_waiter.fetch_add(1, Ordering::Relaxed);
                    table
                        .waiting
                        .insert(id, (module.to_string(), path.to_owned()));
                    sleeper = Some(id);
                    id
                }
            };
            let timeout = match deadline {
                None => None,
                Some((deadline, timeout)) => {
                    let now = Instant::now();
                    if now >= deadline {
                        table.waiting.remove(&id);
                        let holder = table.holder(path).map(|holder| holder.to_string());
                        table.forget_if_unused(path);
                        return Err(LockError::Timeout {
                            path: path.to_owned(),
                            timeout,
                            holder,
                        });
                    }
                    Some(deadline - now)
                }
            };
            let state = table.state(path);
            state.sleeping += 1;
            let released = Arc::clone(&state.released);
            table = match timeout {
                None => released.wait(table).unwrap_or_else(PoisonError::into_inner),
                Some(timeout) => {
                    released
                        .wait_timeout(table, timeout)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
            table.state(path).sleeping -= 1;
            spins = 0;
            // A release may wake this request just as it times out. The next round takes the
            // path if it is free, so that wake-up is not lost.
        }
    }

    /// Takes the `flock` of `path`'s sidecar file, whose in-process entry the caller holds.
    /// `open` is the descriptor kept open for the path, if any.
    fn lock_sidecar(
        &self,
        path: &Path,
        relative: &Path,
        deadline: Option<(Instant, Duration)>,
        open: Option<OpenSidecar>,
    ) -> Result<Sidecar, LockError> {
        let sidecar_error = |source| LockError::Sidecar {
            path: self.lock_dir.join(sidecar_name(relative)),
            source,
        };
        if let Some(OpenSidecar { file, locked }) = open {
            if locked {
                return Ok(Sidecar::Shared(file));
            }
            match rustix::fs::flock(&*file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Sidecar::Shared(file)),
                Err(errno) if errno == rustix::io::Errno::WOULDBLOCK => {}
                Err(errno) => return Err(sidecar_error(errno.into())),
            }
        }

        let name = sidecar_name(relative);
        // Opening relative to a descriptor of the lock directory spares the kernel a walk of
        // the directory's whole path.
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
        // fd-lock's explicit unlock; the flock stays held until the file is unlocked or closed
        // when the handle is dropped.
        let mut try_lock = || match lock.try_write() {
            Ok(guard) => {
                std::mem::forget(guard);
                Ok(true)
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(error) => Err(sidecar_error(error)),
        };
        if try_lock()? {
            return Ok(self.keep_open(path, lock.into_inner()));
        }
        // Say why the run stalls while another process holds the lock.
        tracing::info!(
            "waiting for the lock on {}, held by another process",
            path.display()
        );
        let Some((deadline, timeout)) = deadline else {
            std::mem::forget(lock.write().map_err(sidecar_error)?);
            return Ok(Sidecar::Own(lock.into_inner()));
        };

        // flock has no timeout, and polling would let this process's other threads take the
        // lock between polls forever. So a thread of its own waits in a blocking flock on a
        // descriptor of its own and hands the file over. If the wait here has given up by
        // then, the file is dropped, which releases the lock at once.
        let (sender, receiver) = mpsc::sync_channel(1);
        let file = lock.into_inner();
        thread::spawn(move || {
            let mut lock = fd_lock::RwLock::new(file);
            let locked = lock.write().map(std::mem::forget);
            let _ = sender.send(locked.map(|()| lock.into_inner()));
        });
        match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Ok(file)) => Ok(Sidecar::Own(file)),
            Ok(Err(error)) => Err(sidecar_error(error)),
            Err(_) => Err(LockError::Timeout {
                path: path.to_owned(),
                timeout,
                holder: None,
            }),
        }
    }

    /// Keeps the newly opened and locked sidecar `file` of `path` open for later locks, while
    /// fewer than [`MAX_OPEN_SIDECARS`] are.
    fn keep_open(&self, path: &Path, file: File) -> Sidecar {
        let mut table = self.table();
        if table.open_sidecars >= MAX_OPEN_SIDECARS {
            return Sidecar::Own(file);
        }
        let file = Arc::new(file);
        table.open_sidecars += 1;
        table.state(path).sidecar = Some(Arc::clone(&file));
        Sidecar::Shared(file)
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
                            .acquire(format!("m{index}"), target, Path::new("shared"))
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

    #[test]
    fn passed_flock_excludes_other_processes() {
        let dir = tempfile::tempdir().unwrap();
        let manager = LockManager::new(dir.path().join("locks"));
        let target = dir.path().join("etc/hosts");
        let sidecar = dir.path().join("locks/etc%2Fhosts.lock");
        let first = manager
            .acquire("first", &target, Path::new("etc/hosts"))
            .unwrap();
        let mut other_process = fd_lock::RwLock::new(File::open(&sidecar).unwrap());

        thread::scope(|scope| {
            let (granted, release) = (mpsc::channel(), mpsc::channel::<()>());
            let (manager, target) = (&manager, &target);
            scope.spawn(move || {
                let second = manager
                    .acquire("second", target, Path::new("etc/hosts"))
                    .unwrap();
                granted.0.send(()).unwrap();
                release.1.recv().unwrap();
                drop(second);
            });
            wait_until_waiting(manager, "second");
            drop(first);
            granted.1.recv().unwrap();
            assert!(
                other_process.try_write().is_err(),
                "the flock was released while module `second` held the path"
            );
            release.0.send(()).unwrap();
        });
        assert!(
            other_process.try_write().is_ok(),
            "the flock stayed held after the last module released the path"
        );
    }

    #[test]
    fn sleeping_request_gets_busy_lock() {
        let dir = tempfile::tempdir().unwrap();
        let manager = LockManager::new(dir.path().join("locks"));
        let target = dir.path().join("shared");
        let done = std::sync::atomic::AtomicBool::new(false);

        thread::scope(|scope| {
            for index in 0..2 {
                let (manager, target, done) = (&manager, &target, &done);
                scope.spawn(move || {
                    let started = Instant::now();
                    while !done.load(Ordering::SeqCst)
                        && started.elapsed() < Duration::from_secs(30)
                    {
                        let handle = manager
                            .acquire(format!("busy{index}"), target, Path::new("shared"))
                            .unwrap();
                        thread::sleep(Duration::from_micros(50));
                        drop(handle);
                    }
                });
            }
            let waited = manager.acquire_with_timeout(
                "patient",
                &target,
                Path::new("shared"),
                Some(Duration::from_secs(20)),
            );
            done.store(true, Ordering::SeqCst);
            assert!(waited.is_ok(), "{:?}", waited.err());
        });
    }

    #[test]
    fn lock_beyond_open_sidecar_limit_excludes() {
        let dir = tempfile::tempdir().unwrap();
        let manager = LockManager::new(dir.path().join("locks"));
        for index in 0..MAX_OPEN_SIDECARS + 10 {
            let name = format!("file{index}");
            drop(
                manager
                    .acquire("m", &dir.path().join(&name), Path::new(&name))
                    .unwrap(),
            );
        }
        assert_eq!(manager.table().open_sidecars, MAX_OPEN_SIDECARS);

        let last = format!("file{}", MAX_OPEN_SIDECARS + 9);
        let handle = manager
            .acquire("m", &dir.path().join(&last), Path::new(&last))
            .unwrap();
        let sidecar = File::open(manager.lock_dir().join(format!("{last}.lock"))).unwrap();
        assert!(fd_lock::RwLock::new(sidecar).try_write().is_err());
        drop(handle);
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
    fn huge_timeout_waits_without_limit() {
        let dir = tempfile::tempdir().unwrap();
        let manager = LockManager::with_timeout(dir.path().join("locks"), Some(Duration::MAX));
        let x = dir.path().join("x");
        let held = manager.acquire("hosts", &x, Path::new("x")).unwrap();

        let waiting = thread::spawn({
            let manager = Arc::clone(&manager);
            let x = x.clone();
            move || {
                manager
                    .acquire("motd", &x, Path::new("x"))
                    .map(|handle| handle.path().to_owned())
            }
        });
        thread::sleep(Duration::from_millis(30));
        drop(held);

        assert_eq!(waiting.join().unwrap().unwrap(), x);
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
