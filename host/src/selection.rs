//! `--only` and `--skip`: narrowing the enabled modules before they are planned.
//!
//! `--only` keeps the named modules and every module they depend on, directly or not, through
//! `depends_on`. `after` pulls nothing in, because it only orders modules that are there
//! anyway. `--skip` then leaves out the named modules and every module that depends on one of
//! them, directly or not, because such a module cannot run without it. Read [`select`] first.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use serde::Serialize;

use crate::module::ModuleInfo;

/// Minimum Jaro-Winkler similarity for suggesting a module name in place of an unknown one.
/// clap uses a similar threshold for its suggestions.
const SUGGESTION_THRESHOLD: f64 = 0.7;

/// The modules named in `--only` and `--skip`. Both empty select every enabled module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Modules named in `--only`.
    pub only: Vec<String>,
    /// Modules named in `--skip`.
    pub skip: Vec<String>,
}

/// The reason a module is not in the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LeftOutReason {
    /// `--only` neither names it nor needs it.
    NotSelected,
    /// `--skip` names it.
    Skipped,
    /// It depends on `dependency`, which is left out because `--skip` names `skipped`.
    DependsOnSkipped {
        /// The module it depends on directly.
        dependency: String,
        /// The module named in `--skip` that caused the omission.
        skipped: String,
    },
}

impl fmt::Display for LeftOutReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSelected => write!(f, "not named in --only and not needed by a module there"),
            Self::Skipped => write!(f, "named in --skip"),
            Self::DependsOnSkipped {
                dependency,
                skipped,
            } if dependency == skipped => write!(f, "depends on {dependency}, named in --skip"),
            Self::DependsOnSkipped {
                dependency,
                skipped,
            } => write!(
                f,
                "depends on {dependency}, which is left out because of --skip {skipped}"
            ),
        }
    }
}

/// A module that is not in the run, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    /// The module's name.
    pub name: String,
    /// The reason it is left out.
    #[serde(flatten)]
    pub reason: LeftOutReason,
}

/// The result of applying a [`Selection`] to the enabled modules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Selected {
    /// The modules to plan and run.
    pub modules: BTreeSet<String>,
    /// The names given to `--only`, sorted.
    pub only: Vec<String>,
    /// The names given to `--skip`, sorted.
    pub skip: Vec<String>,
    /// Modules in the run that `--only` does not name but that a named module needs, sorted.
    pub added_as_dependencies: Vec<String>,
    /// Enabled modules that are not in the run, sorted by name.
    pub left_out: Vec<LeftOut>,
}

/// One reason why a selection cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectionProblem {
    /// An option names a module that is neither enabled nor disabled.
    UnknownModule {
        /// `--only` or `--skip`.
        option: &'static str,
        /// The name as given.
        name: String,
        /// The closest known module name, if one is close enough.
        suggestion: Option<String>,
        /// Every known module name, for when there is no close one.
        known: Vec<String>,
    },
    /// `--only` names a module that the configuration disables.
    DisabledModule {
        /// The disabled module.
        name: String,
    },
    /// `--only` names a module that `--skip` leaves out.
    OnlyConflictsWithSkip {
        /// The module named in `--only`.
        name: String,
        /// The reason `--skip` leaves it out.
        reason: LeftOutReason,
    },
}

impl fmt::Display for SelectionProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownModule {
                option,
                name,
                suggestion,
                known,
            } => {
                write!(f, "{option} names `{name}`, which is not a loaded module; ")?;
                match suggestion {
                    Some(suggestion) => write!(f, "did you mean `{suggestion}`?"),
                    None if known.is_empty() => write!(f, "no module is loaded"),
                    None => write!(f, "the loaded modules are {}", known.join(", ")),
                }
            }
            Self::DisabledModule { name } => write!(
                f,
                "--only names `{name}`, which is disabled with `enabled = false`; enable it in \
                 the configuration or leave it out of --only"
            ),
            Self::OnlyConflictsWithSkip { name, reason } => write!(
                f,
                "--only names `{name}`, but --skip leaves it out ({reason}); remove it from one \
                 of the two options"
            ),
        }
    }
}

/// Every problem of a selection, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SelectionError {
    /// The problems, in the order of the options' names.
    pub problems: Vec<SelectionProblem>,
}

impl fmt::Display for SelectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid module selection:")?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

/// Applies `selection` to the enabled `modules`; `disabled` names the modules the
/// configuration switches off, which `--skip` may name to no effect and `--only` may not.
///
/// Names are trimmed of surrounding whitespace. A dependency that is not among `modules` is
/// left for the planner to report.
pub fn select(
    modules: &[ModuleInfo],
    disabled: &BTreeSet<String>,
    selection: &Selection,
) -> Result<Selected, SelectionError> {
    let by_name: BTreeMap<&str, &ModuleInfo> = modules
        .iter()
        .map(|module| (module.name.as_str(), module))
        .collect();
    let only = sorted_names(&selection.only);
    let skip = sorted_names(&selection.skip);

    let mut problems = unknown_names(&by_name, disabled, "--only", &only);
    problems.extend(unknown_names(&by_name, disabled, "--skip", &skip));
    for name in &only {
        if disabled.contains(name) && !by_name.contains_key(name.as_str()) {
            problems.push(SelectionProblem::DisabledModule { name: name.clone() });
        }
    }
    if !problems.is_empty() {
        return Err(SelectionError { problems });
    }

    let mut left_out = BTreeMap::new();
    let mut in_run: BTreeSet<&str> = if only.is_empty() {
        by_name.keys().copied().collect()
    } else {
        let in_run = dependency_closure(&by_name, &only);
        for &name in by_name.keys().filter(|name| !in_run.contains(*name)) {
            left_out.insert(name, LeftOutReason::NotSelected);
        }
        in_run
    };
    let added_as_dependencies = in_run
        .iter()
        .filter(|&&name| !only.is_empty() && !only.iter().any(|named| named == name))
        .map(|name| name.to_string())
        .collect();

    for (name, reason) in skip_with_dependents(&by_name, &in_run, &skip) {
        in_run.remove(name);
        left_out.insert(name, reason);
    }

    let conflicts: Vec<SelectionProblem> = only
        .iter()
        .filter_map(|name| match left_out.get(name.as_str()) {
            Some(reason) if *reason != LeftOutReason::NotSelected => {
                Some(SelectionProblem::OnlyConflictsWithSkip {
                    name: name.clone(),
                    reason: reason.clone(),
                })
            }
            _ => None,
        })
        .collect();
    if !conflicts.is_empty() {
        return Err(SelectionError {
            problems: conflicts,
        });
    }

    Ok(Selected {
        modules: in_run.into_iter().map(str::to_owned).collect(),
        only,
        skip,
        added_as_dependencies,
        left_out: left_out
            .into_iter()
            .map(|(name, reason)| LeftOut {
                name: name.to_owned(),
                reason,
            })
            .collect(),
    })
}

fn sorted_names(names: &[String]) -> Vec<String> {
    let names: BTreeSet<String> = names.iter().map(|name| name.trim().to_owned()).collect();
    names.into_iter().collect()
}

fn unknown_names(
    by_name: &BTreeMap<&str, &ModuleInfo>,
    disabled: &BTreeSet<String>,
    option: &'static str,
    names: &[String],
) -> Vec<SelectionProblem> {
    let known: BTreeSet<&str> = by_name
        .keys()
        .copied()
        .chain(disabled.iter().map(String::as_str))
        .collect();
    names
        .iter()
        .filter(|name| !known.contains(name.as_str()))
        .map(|name| SelectionProblem::UnknownModule {
            option,
            name: name.clone(),
            suggestion: closest(name, known.iter().copied()).map(str::to_owned),
            known: known.iter().map(|name| name.to_string()).collect(),
        })
        .collect()
}

/// Returns the candidate most similar to `name`, the alphabetically first of equally similar
/// ones, unless none reaches [`SUGGESTION_THRESHOLD`].
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(similarity, _)| *similarity >= SUGGESTION_THRESHOLD)
        .max_by(|(left_similarity, left), (right_similarity, right)| {
            left_similarity
                .total_cmp(right_similarity)
                .then_with(|| right.cmp(left))
        })
        .map(|(_, candidate)| candidate)
}

/// Returns `roots` and every module they depend on, directly or not, that is in `by_name`.
fn dependency_closure<'a>(
    by_name: &BTreeMap<&'a str, &ModuleInfo>,
    roots: &[String],
) -> BTreeSet<&'a str> {
    let mut in_run = BTreeSet::new();
    let mut stack: Vec<&str> = roots.iter().map(String::as_str).collect();
    while let Some(name) = stack.pop() {
        let Some((&key, module)) = by_name.get_key_value(name) else {
            continue;
        };
        if in_run.insert(key) {
            stack.extend(module.depends_on.iter().map(String::as_str));
        }
    }
    in_run
}

/// Returns the modules of `in_run` that `skip` leaves out: the named ones and, breadth first,
/// every module that depends on a left-out one, each with its reason.
fn skip_with_dependents<'a>(
    by_name: &BTreeMap<&'a str, &ModuleInfo>,
    in_run: &BTreeSet<&'a str>,
    skip: &[String],
) -> BTreeMap<&'a str, LeftOutReason> {
    let mut left_out = BTreeMap::new();
    // Each queued module carries the `--skip` name it is left out for.
    let mut queue: VecDeque<(&str, &str)> = VecDeque::new();
    for name in skip {
        if let Some(&key) = in_run.get(name.as_str()) {
            left_out.insert(key, LeftOutReason::Skipped);
            queue.push_back((key, key));
        }
    }
    while let Some((removed, skipped)) = queue.pop_front() {
        for &dependent in in_run {
            let depends = by_name[dependent]
                .depends_on
                .iter()
                .any(|dependency| dependency == removed);
            if depends && !left_out.contains_key(dependent) {
                left_out.insert(
                    dependent,
                    LeftOutReason::DependsOnSkipped {
                        dependency: removed.to_owned(),
                        skipped: skipped.to_owned(),
                    },
                );
                queue.push_back((dependent, skipped));
            }
        }
    }
    left_out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(name: &str, depends_on: &[&str], after: &[&str]) -> ModuleInfo {
        ModuleInfo {
            name: name.to_owned(),
            version: "1.0.0".to_owned(),
            depends_on: depends_on.iter().map(|name| name.to_string()).collect(),
            after: after.iter().map(|name| name.to_string()).collect(),
            ..ModuleInfo::default()
        }
    }

    /// alpha and beta on their own, gamma on alpha, delta on alpha and beta, epsilon on gamma,
    /// late after epsilon.
    fn layered() -> Vec<ModuleInfo> {
        vec![
            module("alpha", &[], &[]),
            module("beta", &[], &[]),
            module("gamma", &["alpha"], &[]),
            module("delta", &["alpha", "beta"], &[]),
            module("epsilon", &["gamma"], &[]),
            module("late", &[], &["epsilon"]),
        ]
    }

    fn selection(only: &[&str], skip: &[&str]) -> Selection {
        Selection {
            only: only.iter().map(|name| name.to_string()).collect(),
            skip: skip.iter().map(|name| name.to_string()).collect(),
        }
    }

    fn names(set: &BTreeSet<String>) -> Vec<&str> {
        set.iter().map(String::as_str).collect()
    }

    fn left_out_names(selected: &Selected) -> Vec<&str> {
        selected
            .left_out
            .iter()
            .map(|left| left.name.as_str())
            .collect()
    }

    #[test]
    fn empty_selection_keeps_everything() {
        let selected = select(&layered(), &BTreeSet::new(), &Selection::default()).unwrap();

        assert_eq!(selected.modules.len(), 6);
        assert!(selected.added_as_dependencies.is_empty());
        assert!(selected.left_out.is_empty());
    }

    #[test]
    fn only_adds_transitive_dependencies() {
        let selected = select(&layered(), &BTreeSet::new(), &selection(&["epsilon"], &[])).unwrap();

        assert_eq!(names(&selected.modules), ["alpha", "epsilon", "gamma"]);
        assert_eq!(selected.added_as_dependencies, ["alpha", "gamma"]);
        assert_eq!(left_out_names(&selected), ["beta", "delta", "late"]);
        assert!(
            selected
                .left_out
                .iter()
                .all(|left| left.reason == LeftOutReason::NotSelected)
        );
    }

    #[test]
    fn only_does_not_follow_after() {
        let selected = select(&layered(), &BTreeSet::new(), &selection(&["late"], &[])).unwrap();

        assert_eq!(names(&selected.modules), ["late"]);
        assert!(selected.added_as_dependencies.is_empty());
    }

    #[test]
    fn skip_leaves_out_transitive_dependents() {
        let selected = select(&layered(), &BTreeSet::new(), &selection(&[], &["alpha"])).unwrap();

        assert_eq!(names(&selected.modules), ["beta", "late"]);
        let reasons: Vec<(&str, String)> = selected
            .left_out
            .iter()
            .map(|left| (left.name.as_str(), left.reason.to_string()))
            .collect();
        assert_eq!(
            reasons,
            [
                ("alpha", "named in --skip".to_owned()),
                ("delta", "depends on alpha, named in --skip".to_owned()),
                (
                    "epsilon",
                    "depends on gamma, which is left out because of --skip alpha".to_owned()
                ),
                ("gamma", "depends on alpha, named in --skip".to_owned()),
            ]
        );
    }

    #[test]
    fn only_and_skip_combine() {
        let selected = select(
            &layered(),
            &BTreeSet::new(),
            &selection(&["delta", "late"], &["epsilon"]),
        )
        .unwrap();

        assert_eq!(names(&selected.modules), ["alpha", "beta", "delta", "late"]);
        assert_eq!(selected.added_as_dependencies, ["alpha", "beta"]);
    }

    #[test]
    fn only_named_module_that_skip_removes_is_rejected() {
        let error = select(
            &layered(),
            &BTreeSet::new(),
            &selection(&["epsilon"], &["alpha"]),
        )
        .unwrap_err();

        assert_eq!(
            error.problems,
            [SelectionProblem::OnlyConflictsWithSkip {
                name: "epsilon".into(),
                reason: LeftOutReason::DependsOnSkipped {
                    dependency: "gamma".into(),
                    skipped: "alpha".into(),
                },
            }]
        );
    }

    #[test]
    fn unknown_names_suggest_the_closest_module() {
        let error = select(
            &layered(),
            &BTreeSet::new(),
            &selection(&["gamma", "epsilom"], &["alpah"]),
        )
        .unwrap_err();

        let message = error.to_string();
        assert_eq!(error.problems.len(), 2, "{message}");
        assert!(
            message.contains(
                "--only names `epsilom`, which is not a loaded module; did you mean `epsilon`?"
            ),
            "{message}"
        );
        assert!(
            message.contains(
                "--skip names `alpah`, which is not a loaded module; did you mean `alpha`?"
            ),
            "{message}"
        );
    }

    #[test]
    fn unlike_name_lists_the_known_modules() {
        let modules = [module("alpha", &[], &[]), module("beta", &[], &[])];

        let error = select(&modules, &BTreeSet::new(), &selection(&["zzzz"], &[])).unwrap_err();

        assert!(
            error
                .to_string()
                .contains("the loaded modules are alpha, beta"),
            "{error}"
        );
    }

    #[test]
    fn only_rejects_disabled_module_and_skip_accepts_it() {
        let disabled = BTreeSet::from(["off".to_owned()]);

        let error = select(&layered(), &disabled, &selection(&["off"], &[])).unwrap_err();
        assert_eq!(
            error.problems,
            [SelectionProblem::DisabledModule { name: "off".into() }]
        );

        let selected = select(&layered(), &disabled, &selection(&[], &["off"])).unwrap();
        assert_eq!(selected.modules.len(), 6);
    }

    #[test]
    fn names_are_trimmed_and_deduplicated() {
        let selected = select(
            &layered(),
            &BTreeSet::new(),
            &selection(&[" alpha", "alpha "], &[]),
        )
        .unwrap();

        assert_eq!(selected.only, ["alpha"]);
        assert_eq!(names(&selected.modules), ["alpha"]);
    }
}
