//! Mapping of system paths such as `/etc/hosts` onto the run's root directory.

use std::path::{Component, Path, PathBuf};

/// Resolves `path` under `root`, lexically: `.` is dropped and `..` removes the previous
/// component but never climbs above the root, the way `..` behaves at `/`.
///
/// Relative paths are taken relative to the root. Symlinks are not followed, so two spellings
/// of one file reached through a symlink map to two different paths.
pub fn resolve_under(root: &Path, path: &Path) -> PathBuf {
    let mut inside = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                inside.pop();
            }
            Component::Normal(name) => inside.push(name),
        }
    }
    root.join(inside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_path_lands_under_root() {
        let resolved = resolve_under(Path::new("/sandbox"), Path::new("/etc/hosts"));
        assert_eq!(resolved, Path::new("/sandbox/etc/hosts"));
    }

    #[test]
    fn parent_components_stop_at_root() {
        let resolved = resolve_under(
            Path::new("/sandbox"),
            Path::new("/etc/../../../etc/./hosts"),
        );
        assert_eq!(resolved, Path::new("/sandbox/etc/hosts"));
    }

    #[test]
    fn relative_path_is_relative_to_root() {
        let resolved = resolve_under(Path::new("/sandbox"), Path::new("etc/group"));
        assert_eq!(resolved, Path::new("/sandbox/etc/group"));
    }

    #[test]
    fn real_root_keeps_system_paths() {
        let resolved = resolve_under(Path::new("/"), Path::new("/etc/hosts"));
        assert_eq!(resolved, Path::new("/etc/hosts"));
    }
}
