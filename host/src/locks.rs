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

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// Longest sidecar file name written in full; longer names are shortened and hashed.
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
}

/// The locks of one run, shared by all its modules.
#[derive(Debug)]
pub struct LockManager {
    lock_dir: PathBuf,
    /// Resolved path to the module holding it.
    holders: Mutex<HashMap<PathBuf, String>>,
    released: Condvar,
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
        self.manager.holders().remove(&self.path);
        self.manager.released.notify_all();
    }
}

impl LockManager {
    /// Creates the lock manager of a run, with sidecar files in `lock_dir`.
    pub fn new(lock_dir: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            lock_dir,
            holders: Mutex::new(HashMap::new()),
            released: Condvar::new(),
        })
    }

    /// Returns the directory of the sidecar lock files.
    pub fn lock_dir(&self) -> &Path {
        &self.lock_dir
    }

    /// Blocks until `module` holds the lock on `path`, a path already resolved under the root.
    ///
    /// `relative` is the path's spelling below the root, from which the sidecar file is named
    /// so that every process on the same root agrees on it.
    pub fn acquire(
        self: &Arc<Self>,
        module: &str,
        path: &Path,
        relative: &Path,
    ) -> Result<LockHandle, LockError> {
        self.acquire_in_process(module, path);
        // From here on the handle's drop undoes the in-process entry, also on error.
        let mut handle = LockHandle {
            manager: Arc::clone(self),
            path: path.to_owned(),
            sidecar: None,
        };
        handle.sidecar = Some(self.lock_sidecar(relative)?);
        Ok(handle)
    }

    /// Returns the module holding `path` in this run, if any.
    pub fn holder(&self, path: &Path) -> Option<String> {
        self.holders().get(path).cloned()
    }

    fn acquire_in_process(&self, module: &str, path: &Path) {
        let mut holders = self.holders();
        while holders.contains_key(path) {
            holders = self
                .released
                .wait(holders)
                .unwrap_or_else(PoisonError::into_inner);
        }
        holders.insert(path.to_owned(), module.to_owned());
    }

    fn lock_sidecar(&self, relative: &Path) -> Result<File, LockError> {
        fs::create_dir_all(&self.lock_dir).map_err(|source| LockError::CreateDir {
            path: self.lock_dir.clone(),
            source,
        })?;
        let sidecar = self.lock_dir.join(sidecar_name(relative));
        let sidecar_error = |source| LockError::Sidecar {
            path: sidecar.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&sidecar)
            .map_err(sidecar_error)?;

        let mut lock = fd_lock::RwLock::new(file);
        let guard = lock.write().map_err(sidecar_error)?;
        // The guard borrows the lock, so it cannot be stored beside it. Forgetting it skips
        // fd-lock's explicit unlock; the flock stays held until the file, the only descriptor of
        // its open file description, is closed in `LockHandle::drop`.
        std::mem::forget(guard);
        Ok(lock.into_inner())
    }

    fn holders(&self) -> MutexGuard<'_, HashMap<PathBuf, String>> {
        // The map stays consistent even if a holder panicked: entries are inserted and removed
        // whole.
        self.holders.lock().unwrap_or_else(PoisonError::into_inner)
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
}
