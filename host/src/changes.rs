//! The file changes modules report through their context's helpers: [`ChangeLog`].
//!
//! It serves two features. In check mode (`run --check`) the helpers write nothing and report
//! each would-be write instead. The log keeps the new content of every such file as its staged
//! content, which later reads through the helpers return, so that a module and the modules
//! that depend on it decide as they would in a real run. With `run --diff` the log keeps, per
//! module and file, the content before the module's first write and after its last one, which
//! `output::diff_text` renders as unified diffs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// One module's change to one file, made or, in check mode, recorded instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The module that made the change.
    pub module: String,
    /// The file as a system path, such as `/etc/hosts`; a path outside the run's root is kept
    /// as the module passed it.
    pub path: PathBuf,
    /// The content before the module's first write; `None` when the file did not exist.
    pub old: Option<Vec<u8>>,
    /// The content after the module's last write.
    pub new: Vec<u8>,
}

/// The file changes of one run, shared by the services of all its modules.
#[derive(Debug, Default)]
pub struct ChangeLog {
    state: Mutex<ChangeState>,
}

#[derive(Debug, Default)]
struct ChangeState {
    /// In check mode, the content each file would have now, by path resolved under the root.
    staged: HashMap<PathBuf, Vec<u8>>,
    /// One entry per module and file, in the order of their first change.
    changes: Vec<FileChange>,
}

impl ChangeLog {
    /// Records that `module` replaced the content `old` of the file at `path` with `new`.
    ///
    /// `resolved` is the path under the run's root. With `stage`, which check mode sets, `new`
    /// becomes the file's staged content. A second change of the same file by the same module
    /// extends the first: the entry keeps its `old` and takes the new `new`.
    pub fn record(
        &self,
        module: &str,
        path: &Path,
        resolved: &Path,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
        stage: bool,
    ) {
        let mut state = self.state();
        if stage {
            state.staged.insert(resolved.to_owned(), new.clone());
        }
        let earlier = state
            .changes
            .iter_mut()
            .find(|change| change.module == module && change.path == path);
        match earlier {
            Some(change) => change.new = new,
            None => state.changes.push(FileChange {
                module: module.to_owned(),
                path: path.to_owned(),
                old,
                new,
            }),
        }
    }

    /// Returns the staged content of the file at `resolved`, a path under the run's root, if a
    /// module of this check run would have written it.
    pub fn staged(&self, resolved: &Path) -> Option<Vec<u8>> {
        self.state().staged.get(resolved).cloned()
    }

    /// Returns the changes in the order they were first made, leaving out those whose content
    /// ended as it started.
    pub fn changes(&self) -> Vec<FileChange> {
        self.state()
            .changes
            .iter()
            .filter(|change| change.old.as_deref() != Some(change.new.as_slice()))
            .cloned()
            .collect()
    }

    fn state(&self) -> MutexGuard<'_, ChangeState> {
        // Entries are inserted and replaced whole, so the state stays consistent after a panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(text: &str) -> Vec<u8> {
        text.as_bytes().to_vec()
    }

    #[test]
    fn repeated_writes_keep_first_old_and_last_new() {
        let log = ChangeLog::default();
        let path = Path::new("/etc/hosts");
        let resolved = Path::new("/root/etc/hosts");

        log.record(
            "hosts",
            path,
            resolved,
            Some(bytes("a\n")),
            bytes("b\n"),
            false,
        );
        log.record(
            "hosts",
            path,
            resolved,
            Some(bytes("b\n")),
            bytes("c\n"),
            false,
        );

        assert_eq!(
            log.changes(),
            [FileChange {
                module: "hosts".to_owned(),
                path: path.to_owned(),
                old: Some(bytes("a\n")),
                new: bytes("c\n"),
            }]
        );
    }

    #[test]
    fn each_module_has_its_own_change() {
        let log = ChangeLog::default();
        let path = Path::new("/etc/group");
        let resolved = Path::new("/root/etc/group");

        log.record("groups", path, resolved, None, bytes("a\n"), true);
        log.record(
            "users",
            path,
            resolved,
            Some(bytes("a\n")),
            bytes("a\nb\n"),
            true,
        );

        let modules: Vec<String> = log
            .changes()
            .into_iter()
            .map(|change| change.module)
            .collect();
        assert_eq!(modules, ["groups", "users"]);
        assert_eq!(log.staged(resolved), Some(bytes("a\nb\n")));
    }

    #[test]
    fn undone_change_is_left_out() {
        let log = ChangeLog::default();
        let path = Path::new("/etc/motd");
        let resolved = Path::new("/root/etc/motd");

        log.record(
            "motd",
            path,
            resolved,
            Some(bytes("x\n")),
            bytes("y\n"),
            false,
        );
        log.record(
            "motd",
            path,
            resolved,
            Some(bytes("y\n")),
            bytes("x\n"),
            false,
        );

        assert_eq!(log.changes(), []);
    }

    #[test]
    fn content_is_staged_only_when_asked() {
        let log = ChangeLog::default();
        let resolved = Path::new("/root/etc/motd");

        log.record(
            "motd",
            Path::new("/etc/motd"),
            resolved,
            None,
            bytes("x\n"),
            false,
        );

        assert_eq!(log.staged(resolved), None);
    }
}
