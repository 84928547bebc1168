//! Mapping of system paths onto the run's root, from `plugin_api::paths`, which the host shares
//! with the test harness module authors use, and [`Root`], which resolves the common case with
//! one system call.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use rustix::fs::{Mode, OFlags, ResolveFlags};

pub use plugin_api::paths::{PathError, resolve_in_root, resolve_under};

/// A run's root directory, with a descriptor of it opened on first use.
#[derive(Debug)]
pub struct Root {
    path: PathBuf,
    /// `None` once opening the root failed; every path then takes the walk.
    handle: OnceLock<Option<OwnedFd>>,
}

impl Root {
    /// Wraps `path`, which must be canonical, as [`resolve_in_root`] requires.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            handle: OnceLock::new(),
        }
    }

    /// Returns the root's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Resolves `path` under the root with the result and errors of [`resolve_in_root`].
    ///
    /// Most paths a module passes exist and contain no symlink and no `..`. For such a path,
    /// one `openat2` relative to the root with `RESOLVE_BENEATH` and `RESOLVE_NO_SYMLINKS`
    /// succeeds only if the kernel resolves it to the root joined with its components. That
    /// is the result of the walk in [`resolve_in_root`], which takes one `lstat` per
    /// component. Without `O_NOFOLLOW`, a symlink as the last component fails the call too.
    /// Every other path, and every failure of the call, takes the walk, which gives the exact
    /// result or error.
    pub fn resolve(&self, path: &Path) -> Result<PathBuf, PathError> {
        match self.resolve_plain(path) {
            Some(resolved) => Ok(resolved),
            None => resolve_in_root(&self.path, path),
        }
    }

    /// Returns the part of `resolved`, a path [`resolve`](Self::resolve) returned, below the
    /// root, such as `etc/hosts`.
    pub fn relative<'a>(&self, resolved: &'a Path) -> &'a Path {
        let bytes = resolved.as_os_str().as_bytes();
        let inside = bytes
            .strip_prefix(self.path.as_os_str().as_bytes())
            .unwrap_or(bytes);
        Path::new(OsStr::from_bytes(
            inside.strip_prefix(b"/").unwrap_or(inside),
        ))
    }

    fn resolve_plain(&self, path: &Path) -> Option<PathBuf> {
        let mut resolved =
            PathBuf::with_capacity(self.path.as_os_str().len() + 1 + path.as_os_str().len());
        resolved.push(&self.path);
        for component in path.components() {
            match component {
                Component::Normal(name) => resolved.push(name),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir | Component::Prefix(_) => return None,
            }
        }
        let inside = self.relative(&resolved);
        if inside.as_os_str().is_empty() {
            return None;
        }
        let handle = self.handle.get_or_init(|| {
            rustix::fs::open(
                &self.path,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok()
        });
        rustix::fs::openat2(
            handle.as_ref()?,
            inside,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )
        .ok()?;
        Some(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    /// Creates a canonical temporary root with `etc/hosts`, symlinks to it and to `etc`, and
    /// a symlink leaving the root.
    fn sample_root() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
        symlink("hosts", root.join("etc/hosts.link")).unwrap();
        symlink("etc", root.join("etc.link")).unwrap();
        symlink("/etc", root.join("outside")).unwrap();
        (dir, root)
    }

    #[test]
    fn resolve_matches_walk() {
        let (_dir, root_path) = sample_root();
        let root = Root::new(root_path.clone());
        for path in [
            "/etc/hosts",
            "etc/hosts",
            "/etc/./hosts",
            "/etc//hosts",
            "/etc/../etc/hosts",
            "/etc/hosts.link",
            "/etc.link/hosts",
            "/etc/missing",
            "/missing/deeper",
            "/",
            "/etc/hosts/",
        ] {
            let fast = root
                .resolve(Path::new(path))
                .map_err(|error| error.to_string());
            let walk =
                resolve_in_root(&root_path, Path::new(path)).map_err(|error| error.to_string());
            assert_eq!(fast, walk, "{path}");
        }
    }

    #[test]
    fn resolve_rejects_escapes() {
        let (_dir, root_path) = sample_root();
        let root = Root::new(root_path.clone());
        for path in ["/outside/passwd", "/../etc/passwd", "/etc/../../etc/passwd"] {
            let error = root.resolve(Path::new(path)).unwrap_err();
            let walk = resolve_in_root(&root_path, Path::new(path)).unwrap_err();
            assert_eq!(error.to_string(), walk.to_string(), "{path}");
        }
    }

    #[test]
    fn resolve_under_system_root_matches_walk() {
        let root = Root::new(PathBuf::from("/"));
        for path in ["/etc", "etc/.", "/"] {
            assert_eq!(
                root.resolve(Path::new(path)).unwrap(),
                resolve_in_root(Path::new("/"), Path::new(path)).unwrap(),
                "{path}"
            );
        }
        assert_eq!(
            root.relative(Path::new("/etc/hosts")),
            Path::new("etc/hosts")
        );
    }

    #[test]
    fn relative_strips_root() {
        let root = Root::new(PathBuf::from("/srv/root"));
        assert_eq!(
            root.relative(Path::new("/srv/root/etc/hosts")),
            Path::new("etc/hosts")
        );
        assert_eq!(root.relative(Path::new("/srv/root")), Path::new(""));
    }

    #[test]
    fn resolve_follows_symlink() {
        let (_dir, root_path) = sample_root();
        let root = Root::new(root_path.clone());
        assert_eq!(
            root.resolve(Path::new("/etc/hosts.link")).unwrap(),
            root_path.join("etc/hosts")
        );
    }
}
