//! Mapping of system paths such as `/etc/hosts` onto a run's root directory, confined to it.
//!
//! The host resolves every path a module passes to its context with [`resolve_in_root`], and
//! the test harness behind the `testing` feature does the same, so that a module sees one set of rules in both.
//!
//! [`resolve_in_root`] follows symlinks the way the kernel would, so that `/etc/hosts`,
//! `/etc/../etc/hosts` and a symlink to it resolve to one path, and therefore one lock. A path
//! that would leave the root, through `..` above the root or through a symlink whose target lies
//! outside it, is an error naming the path.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Maximum symlinks followed while resolving one path, as Linux's `MAXSYMLINKS`.
const MAX_SYMLINK_HOPS: usize = 40;

/// Errors in resolving a path inside the root.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// `..` would climb above the root.
    #[error("path {} leaves the run's root {} through `..`", path.display(), root.display())]
    ParentOfRoot {
        /// The path as the module gave it.
        path: PathBuf,
        /// The run's root.
        root: PathBuf,
    },

    /// A symlink on the way points outside the root.
    #[error(
        "path {} leaves the run's root {}: symlink {} points to {}",
        path.display(),
        root.display(),
        link.display(),
        target.display()
    )]
    SymlinkOutside {
        /// The path as the module gave it.
        path: PathBuf,
        /// The run's root.
        root: PathBuf,
        /// The symlink.
        link: PathBuf,
        /// The symlink's target.
        target: PathBuf,
    },

    /// More symlinks than [`MAX_SYMLINK_HOPS`] on the way, likely a loop.
    #[error("path {} has too many levels of symbolic links", path.display())]
    TooManySymlinks {
        /// The path as the module gave it.
        path: PathBuf,
    },

    /// A component could not be inspected.
    #[error("cannot inspect {} while resolving {}", component.display(), path.display())]
    Inspect {
        /// The path as the module gave it.
        path: PathBuf,
        /// The component that failed.
        component: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
}

/// Resolves `path` under `root`, following symlinks, and rejects any path that leaves the root.
///
/// `root` must be canonical (absolute, without symlinks). Absolute and relative paths are both
/// taken relative to the root. Components that do not exist yet are kept as written, so a file
/// about to be created resolves too. Symlink targets are read as the kernel reads them: an
/// absolute target is a path on the real filesystem and must lie inside the root.
///
/// NOTE: the result is a path, checked at this moment. A module that later opens it races with
/// anyone who replaces a directory on the way by a symlink. Only modules and operators with
/// write access to the root can do that.
pub fn resolve_in_root(root: &Path, path: &Path) -> Result<PathBuf, PathError> {
    let mut pending: VecDeque<OsString> = VecDeque::new();
    push_components(&mut pending, path);
    let mut resolved = root.to_path_buf();
    let mut hops = 0;
    // Once a component is missing, nothing below it can be a symlink.
    let mut exists = true;

    while let Some(name) = pending.pop_front() {
        if name == ".." {
            if resolved == root {
                return Err(PathError::ParentOfRoot {
                    path: path.to_owned(),
                    root: root.to_owned(),
                });
            }
            resolved.pop();
            continue;
        }

        let next = resolved.join(&name);
        let metadata = if exists {
            symlink_metadata(&next, path)?
        } else {
            None
        };
        let Some(metadata) = metadata else {
            exists = false;
            resolved = next;
            continue;
        };
        if !metadata.file_type().is_symlink() {
            resolved = next;
            continue;
        }

        hops += 1;
        if hops > MAX_SYMLINK_HOPS {
            return Err(PathError::TooManySymlinks {
                path: path.to_owned(),
            });
        }
        let target = fs::read_link(&next).map_err(|source| PathError::Inspect {
            path: path.to_owned(),
            component: next.clone(),
            source,
        })?;
        let absolute_target = lexical_normal(&resolved.join(&target));
        let Ok(inside) = absolute_target.strip_prefix(root) else {
            return Err(PathError::SymlinkOutside {
                path: path.to_owned(),
                root: root.to_owned(),
                link: next,
                target,
            });
        };
        // Walk the target again from the root, so symlinks inside it are followed too.
        push_components(&mut pending, inside);
        resolved = root.to_path_buf();
    }
    Ok(resolved)
}

/// Maps `path` under `root` lexically: `.` is dropped, and `..` removes the previous component
/// but never climbs above the root. Symlinks are not followed; use it for host-chosen paths
/// such as the lock directory, never for paths a module passes.
pub fn resolve_under(root: &Path, path: &Path) -> PathBuf {
    let mut inside = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => inside.push(name),
            Component::ParentDir => {
                inside.pop();
            }
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
        }
    }
    root.join(inside)
}

/// Puts the components of `path` at the front of `pending`, before what is already there.
/// `.` and the leading `/` are dropped, and `..` is kept for the walk to handle.
fn push_components(pending: &mut VecDeque<OsString>, path: &Path) {
    let names: Vec<OsString> = path
        .components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_owned()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::Prefix(_) | Component::RootDir | Component::CurDir => None,
        })
        .collect();
    for name in names.into_iter().rev() {
        pending.push_front(name);
    }
}

/// Returns the metadata of `path` without following a final symlink, or `None` if it does
/// not exist.
fn symlink_metadata(component: &Path, path: &Path) -> Result<Option<fs::Metadata>, PathError> {
    match fs::symlink_metadata(component) {
        Ok(metadata) => Ok(Some(metadata)),
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(source) => Err(PathError::Inspect {
            path: path.to_owned(),
            component: component.to_owned(),
            source,
        }),
    }
}

/// Removes `.` and resolves `..` textually, for comparing a symlink target with the root.
fn lexical_normal(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A canonical temporary root with an `etc/hosts` file.
    fn root_with_hosts() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir(root.join("etc")).unwrap();
        fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
        (dir, root)
    }

    #[test]
    fn absolute_path_lands_under_root() {
        let (_dir, root) = root_with_hosts();
        let resolved = resolve_in_root(&root, Path::new("/etc/hosts")).unwrap();
        assert_eq!(resolved, root.join("etc/hosts"));
    }

    #[test]
    fn relative_path_is_relative_to_root() {
        let (_dir, root) = root_with_hosts();
        let resolved = resolve_in_root(&root, Path::new("etc/group")).unwrap();
        assert_eq!(resolved, root.join("etc/group"));
    }

    #[test]
    fn spellings_of_one_file_resolve_alike() {
        let (_dir, root) = root_with_hosts();
        symlink("hosts", root.join("etc/hosts-relative")).unwrap();
        symlink(root.join("etc/hosts"), root.join("etc/hosts-absolute")).unwrap();
        symlink("etc", root.join("config")).unwrap();

        let expected = root.join("etc/hosts");
        for spelling in [
            "/etc/hosts",
            "/etc/../etc/hosts",
            "/./etc//hosts",
            "/etc/hosts-relative",
            "/etc/hosts-absolute",
            "/config/hosts",
            "/config/../etc/hosts-relative",
        ] {
            let resolved = resolve_in_root(&root, Path::new(spelling)).unwrap();
            assert_eq!(resolved, expected, "{spelling}");
        }
    }

    #[test]
    fn missing_components_are_kept() {
        let (_dir, root) = root_with_hosts();
        let resolved = resolve_in_root(&root, Path::new("/var/cache/new/../file")).unwrap();
        assert_eq!(resolved, root.join("var/cache/file"));
    }

    #[test]
    fn parent_above_root_is_rejected() {
        let (_dir, root) = root_with_hosts();
        let error = resolve_in_root(&root, Path::new("/etc/../../outside")).unwrap_err();
        assert!(matches!(error, PathError::ParentOfRoot { .. }), "{error}");
        assert!(error.to_string().contains("/etc/../../outside"), "{error}");
    }

    #[test]
    fn absolute_symlink_outside_root_is_rejected() {
        let (_dir, root) = root_with_hosts();
        symlink("/etc/passwd", root.join("etc/evil")).unwrap();
        let error = resolve_in_root(&root, Path::new("/etc/evil")).unwrap_err();
        assert!(matches!(error, PathError::SymlinkOutside { .. }), "{error}");
        assert!(error.to_string().contains("/etc/evil"), "{error}");
    }

    #[test]
    fn relative_symlink_outside_root_is_rejected() {
        let (_dir, root) = root_with_hosts();
        symlink("../../..", root.join("etc/up")).unwrap();
        let error = resolve_in_root(&root, Path::new("/etc/up/etc/passwd")).unwrap_err();
        assert!(matches!(error, PathError::SymlinkOutside { .. }), "{error}");
    }

    #[test]
    fn directory_symlink_outside_root_is_rejected() {
        let (_dir, root) = root_with_hosts();
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), root.join("escape")).unwrap();
        let error = resolve_in_root(&root, Path::new("/escape/file")).unwrap_err();
        assert!(matches!(error, PathError::SymlinkOutside { .. }), "{error}");
    }

    #[test]
    fn symlink_loop_is_rejected() {
        let (_dir, root) = root_with_hosts();
        symlink("b", root.join("a")).unwrap();
        symlink("a", root.join("b")).unwrap();
        let error = resolve_in_root(&root, Path::new("/a")).unwrap_err();
        assert!(
            matches!(error, PathError::TooManySymlinks { .. }),
            "{error}"
        );
    }

    #[test]
    fn real_root_keeps_system_paths() {
        let resolved = resolve_in_root(Path::new("/"), Path::new("/usr/../usr")).unwrap();
        assert_eq!(resolved, Path::new("/usr"));
    }
}
