//! The access audit of `run --audit`: what each module read, wrote and locked through its
//! context, and the rule violations that shows.
//!
//! [`AccessLog`] collects [`Access`] records while the run goes on; [`analyze`] turns them into
//! [`Finding`]s after it. Two kinds of finding:
//!
//! - a module read a file another module wrote, neither writing it nor holding its lock to edit
//!   it, and the writer is not among the reader's dependencies, so the reader relies on an
//!   order nothing guarantees;
//! - two modules that may run at the same time (neither depends on the other and neither is
//!   sequential) both wrote one file, at least one of them without holding its lock.
//!
//! Only accesses through the context and `plugin_api::fs` are seen: a module that opens files
//! with `std::fs` directly is invisible to the audit.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;

use crate::module::ModuleInfo;

/// The kind of a recorded file access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessKind {
    /// Read its content without holding its lock, relying on what other modules wrote.
    Read,
    /// Read its content while holding its lock, as part of editing a shared file.
    ReadUnderLock,
    /// Replaced or changed its content.
    Write,
    /// Took its lock.
    Lock,
}

/// One recorded access.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Access {
    /// The module that made it.
    pub module: String,
    /// The kind of access.
    pub kind: AccessKind,
    /// The file, as a system path such as `/etc/hosts`.
    #[serde(serialize_with = "crate::output::json::serialize_path")]
    pub path: PathBuf,
    /// Whether the module held the file's lock at the time.
    pub locked: bool,
}

/// The accesses of one run, shared by every module's services.
#[derive(Debug, Default)]
pub struct AccessLog {
    accesses: Mutex<Vec<Access>>,
}

impl AccessLog {
    /// Records one access.
    pub fn record(&self, access: Access) {
        self.accesses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(access);
    }

    /// Returns every access recorded so far, sorted and without repeats.
    pub fn accesses(&self) -> Vec<Access> {
        let mut accesses = self
            .accesses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        accesses.sort();
        accesses.dedup();
        accesses
    }
}

/// One rule violation the audit found, with the change that fixes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// `reader` read `path`, which `writer` wrote, without depending on `writer`.
    UndeclaredDependency {
        /// The module that read the file.
        reader: String,
        /// The module that wrote it.
        writer: String,
        /// The file.
        #[serde(serialize_with = "crate::output::json::serialize_path")]
        path: PathBuf,
        /// The fix.
        suggestion: String,
    },
    /// `modules` may run at the same time and all wrote `path`; `unlocked` did so without its
    /// lock.
    UnlockedConcurrentWrite {
        /// The modules that wrote the file, sorted.
        modules: Vec<String>,
        /// The modules among them that wrote without holding the lock, sorted.
        unlocked: Vec<String>,
        /// The file.
        #[serde(serialize_with = "crate::output::json::serialize_path")]
        path: PathBuf,
        /// The fix.
        suggestion: String,
    },
}

impl Finding {
    /// Returns the finding as one line for the text report.
    pub fn describe(&self) -> String {
        match self {
            Self::UndeclaredDependency {
                reader,
                writer,
                path,
                suggestion,
            } => format!(
                "module `{reader}` reads {}, which module `{writer}` writes, but does not depend \
                 on it; {suggestion}",
                path.display()
            ),
            Self::UnlockedConcurrentWrite {
                modules,
                unlocked,
                path,
                suggestion,
            } => format!(
                "modules {} may run at the same time and all write {}, {} without its lock; \
                 {suggestion}",
                quoted_list(modules),
                path.display(),
                quoted_list(unlocked)
            ),
        }
    }
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Finds the rule violations in `accesses` for the module set `modules`.
pub fn analyze(modules: &[ModuleInfo], accesses: &[Access]) -> Vec<Finding> {
    let order = Order::new(modules);
    let sequential: BTreeSet<&str> = modules
        .iter()
        .filter(|module| module.force_sequential)
        .map(|module| module.name.as_str())
        .collect();

    let mut by_path: BTreeMap<&PathBuf, Vec<&Access>> = BTreeMap::new();
    for access in accesses {
        by_path.entry(&access.path).or_default().push(access);
    }

    let mut findings = Vec::new();
    for (path, accesses) in by_path {
        let modules_doing = |kind: AccessKind| -> BTreeSet<&str> {
            accesses
                .iter()
                .filter(|access| access.kind == kind)
                .map(|access| access.module.as_str())
                .collect()
        };
        let readers = modules_doing(AccessKind::Read);
        let writers = modules_doing(AccessKind::Write);

        // A module that writes the file, or reads it under a lock it holds, edits a shared file,
        // which is what locks are for. Only a plain read relies on another module's output.
        for &reader in readers.difference(&writers) {
            for &writer in &writers {
                if reader != writer && !order.ordered(reader, writer) {
                    findings.push(Finding::UndeclaredDependency {
                        reader: reader.to_owned(),
                        writer: writer.to_owned(),
                        path: path.clone(),
                        suggestion: format!("add \"{writer}\" to the depends_on of `{reader}`"),
                    });
                }
            }
        }

        let unlocked_writers: BTreeSet<&str> = accesses
            .iter()
            .filter(|access| access.kind == AccessKind::Write && !access.locked)
            .map(|access| access.module.as_str())
            .collect();
        let concurrent: BTreeSet<&str> = writers
            .iter()
            .copied()
            .filter(|&writer| !sequential.contains(writer))
            .filter(|&writer| {
                writers.iter().any(|&other| {
                    other != writer && !sequential.contains(other) && !order.ordered(writer, other)
                })
            })
            .collect();
        let unlocked: Vec<String> = concurrent
            .intersection(&unlocked_writers)
            .map(|name| name.to_string())
            .collect();
        if !unlocked.is_empty() {
            let suggestion = format!(
                "take ctx.file_lock({:?}) around the write in {}",
                path.display().to_string(),
                quoted_list(&unlocked)
            );
            findings.push(Finding::UnlockedConcurrentWrite {
                modules: concurrent.iter().map(|name| name.to_string()).collect(),
                unlocked,
                path: path.clone(),
                suggestion,
            });
        }
    }
    findings
}

/// The order that dependencies impose on modules, directly or not.
struct Order<'a> {
    /// Each module with every module it waits for, transitively.
    before: BTreeMap<&'a str, BTreeSet<&'a str>>,
}

impl<'a> Order<'a> {
    fn new(modules: &'a [ModuleInfo]) -> Self {
        let present: BTreeSet<&str> = modules.iter().map(|module| module.name.as_str()).collect();
        let direct: BTreeMap<&str, Vec<&str>> = modules
            .iter()
            .map(|module| {
                let waits_for = module
                    .depends_on
                    .iter()
                    .chain(&module.after)
                    .map(String::as_str)
                    .filter(|name| present.contains(name))
                    .collect();
                (module.name.as_str(), waits_for)
            })
            .collect();

        let mut before = BTreeMap::new();
        for &module in direct.keys() {
            let mut reached = BTreeSet::new();
            let mut stack = direct[module].clone();
            while let Some(next) = stack.pop() {
                if reached.insert(next) {
                    stack.extend(direct.get(next).into_iter().flatten().copied());
                }
            }
            before.insert(module, reached);
        }
        Self { before }
    }

    /// Returns whether one of `a` and `b` waits for the other, directly or not, so that the
    /// plan never runs them at the same time.
    fn ordered(&self, a: &str, b: &str) -> bool {
        let waits = |x: &str, y: &str| self.before.get(x).is_some_and(|set| set.contains(y));
        waits(a, b) || waits(b, a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(name: &str, depends_on: &[&str], force_sequential: bool) -> ModuleInfo {
        ModuleInfo {
            name: name.to_owned(),
            depends_on: depends_on.iter().map(|name| name.to_string()).collect(),
            force_sequential,
            ..ModuleInfo::default()
        }
    }

    fn access(module: &str, kind: AccessKind, path: &str, locked: bool) -> Access {
        Access {
            module: module.to_owned(),
            kind,
            path: PathBuf::from(path),
            locked,
        }
    }

    #[test]
    fn read_without_dependency_on_writer_is_found() {
        let modules = [module("system", &[], false), module("motd", &[], false)];
        let accesses = [
            access("system", AccessKind::Write, "/etc/system_config", true),
            access("motd", AccessKind::Read, "/etc/system_config", true),
        ];

        let findings = analyze(&modules, &accesses);

        assert_eq!(findings.len(), 1, "{findings:?}");
        let text = findings[0].describe();
        assert!(
            text.contains("add \"system\" to the depends_on of `motd`"),
            "{text}"
        );
    }

    #[test]
    fn transitive_dependency_covers_the_read() {
        let modules = [
            module("system", &[], false),
            module("hosts", &["system"], false),
            module("motd", &["hosts"], false),
        ];
        let accesses = [
            access("system", AccessKind::Write, "/etc/system_config", true),
            access("motd", AccessKind::Read, "/etc/system_config", true),
        ];
        assert_eq!(analyze(&modules, &accesses), []);
    }

    #[test]
    fn shared_file_edited_by_both_is_no_dependency() {
        let modules = [module("sshd", &[], false), module("users", &[], false)];
        let accesses = [
            access("sshd", AccessKind::Read, "/etc/group", true),
            access("sshd", AccessKind::Write, "/etc/group", true),
            access("users", AccessKind::Read, "/etc/group", true),
            access("users", AccessKind::Write, "/etc/group", true),
        ];
        assert_eq!(analyze(&modules, &accesses), []);
    }

    #[test]
    fn read_under_lock_is_an_edit() {
        let modules = [module("sshd", &[], false), module("users", &[], false)];
        let accesses = [
            access("sshd", AccessKind::ReadUnderLock, "/etc/group", true),
            access("users", AccessKind::Write, "/etc/group", true),
        ];
        assert_eq!(analyze(&modules, &accesses), []);
    }

    #[test]
    fn unlocked_concurrent_write_is_found() {
        let modules = [module("groups", &[], false), module("sshd", &[], false)];
        let accesses = [
            access("groups", AccessKind::Write, "/etc/group", true),
            access("sshd", AccessKind::Write, "/etc/group", false),
        ];

        let findings = analyze(&modules, &accesses);

        assert_eq!(findings.len(), 1, "{findings:?}");
        let Finding::UnlockedConcurrentWrite { unlocked, .. } = &findings[0] else {
            panic!("expected an unlocked write, got {findings:?}");
        };
        assert_eq!(unlocked, &["sshd"]);
    }

    #[test]
    fn locked_concurrent_writes_are_fine() {
        let modules = [module("groups", &[], false), module("sshd", &[], false)];
        let accesses = [
            access("groups", AccessKind::Write, "/etc/group", true),
            access("sshd", AccessKind::Write, "/etc/group", true),
        ];
        assert_eq!(analyze(&modules, &accesses), []);
    }

    #[test]
    fn ordered_or_sequential_writers_never_overlap() {
        let modules = [
            module("groups", &[], false),
            module("users", &["groups"], false),
            module("cache", &[], true),
        ];
        let accesses = [
            access("groups", AccessKind::Write, "/etc/group", false),
            access("users", AccessKind::Write, "/etc/group", false),
            access("cache", AccessKind::Write, "/etc/group", false),
        ];
        assert_eq!(analyze(&modules, &accesses), []);
    }
}
