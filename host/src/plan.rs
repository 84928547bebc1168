//! Dependency resolution and batch planning.
//!
//! A module's level is 0 when it has no dependencies, else one more than the highest level of
//! its dependencies. Each level becomes one parallel batch of its ordinary modules, sorted by
//! name, followed by one batch per `force_sequential` module of the level, also by name. The
//! plan depends only on the module set, never on discovery or load order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::module::ModuleInfo;

/// One problem that makes a module set impossible to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanProblem {
    /// A module depends on a module that is not loaded.
    MissingDependency {
        /// The module with the dependency.
        module: String,
        /// The dependency that is not there.
        dependency: String,
    },
    /// A module depends on a module that the configuration disables.
    DisabledDependency {
        /// The module with the dependency.
        module: String,
        /// The disabled dependency.
        dependency: String,
    },
    /// Modules that depend on each other in a circle, in dependency order; the first module
    /// depends on the second, and the last depends on the first.
    Cycle(Vec<String>),
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingDependency { module, dependency } => write!(
                f,
                "module `{module}` depends on `{dependency}`, which is not in the plugin \
                 directory; install it or remove it from `{module}`'s depends_on"
            ),
            Self::DisabledDependency { module, dependency } => write!(
                f,
                "module `{module}` depends on `{dependency}`, which is disabled with \
                 `enabled = false`; enable `{dependency}` or disable `{module}` too"
            ),
            Self::Cycle(members) => {
                write!(f, "dependency cycle: ")?;
                for member in members {
                    write!(f, "{member} -> ")?;
                }
                write!(f, "{}; remove one of these dependencies", members[0])
            }
        }
    }
}

/// Every problem found in a module set, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PlanError {
    /// The problems, missing dependencies first, then cycles.
    pub problems: Vec<PlanProblem>,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the module set cannot run:")?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

/// A group of modules that run together; the next batch starts when all of them finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Batch {
    /// Module names, sorted.
    pub modules: Vec<String>,
    /// Whether this batch is one `force_sequential` module running alone.
    pub sequential: bool,
}

/// The batches of a run, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Batches in execution order.
    pub batches: Vec<Batch>,
}

/// Plans the batches for `modules`, or reports every missing dependency and every cycle.
///
/// `disabled` names modules that exist but are switched off, for a clearer message when an
/// enabled module depends on one.
pub fn plan(modules: &[ModuleInfo], disabled: &BTreeSet<String>) -> Result<Plan, PlanError> {
    let by_name: BTreeMap<&str, &ModuleInfo> = modules
        .iter()
        .map(|module| (module.name.as_str(), module))
        .collect();

    let mut problems = missing_dependencies(&by_name, disabled);
    problems.extend(find_cycles(&by_name).into_iter().map(PlanProblem::Cycle));
    if !problems.is_empty() {
        return Err(PlanError { problems });
    }

    let levels = levels(&by_name);
    let mut batches = Vec::new();
    let max_level = levels.values().copied().max();
    for level in 0..max_level.map_or(0, |max| max + 1) {
        // BTreeMap iteration is by name, so both lists come out sorted.
        let at_level = || {
            levels
                .iter()
                .filter(move |(_, module_level)| **module_level == level)
                .map(|(name, _)| by_name[name])
        };
        let parallel: Vec<String> = at_level()
            .filter(|module| !module.force_sequential)
            .map(|module| module.name.clone())
            .collect();
        if !parallel.is_empty() {
            batches.push(Batch {
                modules: parallel,
                sequential: false,
            });
        }
        for module in at_level().filter(|module| module.force_sequential) {
            batches.push(Batch {
                modules: vec![module.name.clone()],
                sequential: true,
            });
        }
    }
    Ok(Plan { batches })
}

fn missing_dependencies(
    by_name: &BTreeMap<&str, &ModuleInfo>,
    disabled: &BTreeSet<String>,
) -> Vec<PlanProblem> {
    let mut problems = Vec::new();
    for module in by_name.values() {
        for dependency in &module.depends_on {
            if by_name.contains_key(dependency.as_str()) {
                continue;
            }
            let (module, dependency) = (module.name.clone(), dependency.clone());
            if disabled.contains(&dependency) {
                problems.push(PlanProblem::DisabledDependency { module, dependency });
            } else {
                problems.push(PlanProblem::MissingDependency { module, dependency });
            }
        }
    }
    problems
}

/// Finds one cycle per strongly connected component that has one, each starting at its
/// alphabetically first member so that the report is stable.
fn find_cycles(by_name: &BTreeMap<&str, &ModuleInfo>) -> Vec<Vec<String>> {
    let mut cycles = Vec::new();
    let mut in_reported_cycle = BTreeSet::new();
    for &start in by_name.keys() {
        if in_reported_cycle.contains(start) {
            continue;
        }
        if let Some(cycle) = cycle_through(by_name, start) {
            in_reported_cycle.extend(component_of(by_name, start));
            cycles.push(cycle);
        }
    }
    cycles
}

/// Returns a shortest dependency path from `start` back to itself, if there is one.
fn cycle_through(by_name: &BTreeMap<&str, &ModuleInfo>, start: &str) -> Option<Vec<String>> {
    // Breadth-first search over dependency edges, remembering each module's predecessor.
    let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
    let mut frontier = vec![start];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for &current in &frontier {
            for dependency in dependencies(by_name, current) {
                if dependency == start {
                    let mut path = vec![current.to_owned()];
                    let mut step = current;
                    while step != start {
                        step = previous[step];
                        path.push(step.to_owned());
                    }
                    path.reverse();
                    return Some(path);
                }
                if !previous.contains_key(dependency) {
                    previous.insert(dependency, current);
                    next.push(dependency);
                }
            }
        }
        frontier = next;
    }
    None
}

/// Returns the modules that both reach `start` and are reached from it.
fn component_of<'a>(by_name: &BTreeMap<&'a str, &ModuleInfo>, start: &'a str) -> BTreeSet<&'a str> {
    let reached_from_start = reachable(by_name, start);
    reached_from_start
        .iter()
        .copied()
        .filter(|&module| reachable(by_name, module).contains(start))
        .collect()
}

fn reachable<'a>(by_name: &BTreeMap<&'a str, &ModuleInfo>, start: &'a str) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(current) = stack.pop() {
        for dependency in dependencies(by_name, current) {
            if seen.insert(dependency) {
                stack.push(dependency);
            }
        }
    }
    seen
}

/// Returns the known dependencies of `module` as names borrowed from the map's keys.
fn dependencies<'a>(
    by_name: &BTreeMap<&'a str, &ModuleInfo>,
    module: &str,
) -> impl Iterator<Item = &'a str> {
    let depends_on = by_name
        .get(module)
        .map(|info| info.depends_on.clone())
        .unwrap_or_default();
    depends_on.into_iter().filter_map(move |dependency| {
        by_name
            .get_key_value(dependency.as_str())
            .map(|(key, _)| *key)
    })
}

/// Computes each module's level; the module set must be acyclic with no missing dependency.
fn levels<'a>(by_name: &BTreeMap<&'a str, &ModuleInfo>) -> BTreeMap<&'a str, usize> {
    let mut levels: BTreeMap<&str, usize> = BTreeMap::new();
    // Repeatedly place modules whose dependencies all have levels; acyclic input guarantees
    // progress on every pass.
    while levels.len() < by_name.len() {
        for (&name, module) in by_name {
            if levels.contains_key(name) {
                continue;
            }
            let dependency_levels: Option<Vec<usize>> = module
                .depends_on
                .iter()
                .map(|dependency| levels.get(dependency.as_str()).copied())
                .collect();
            if let Some(dependency_levels) = dependency_levels {
                let level = dependency_levels
                    .iter()
                    .map(|level| level + 1)
                    .max()
                    .unwrap_or(0);
                levels.insert(name, level);
            }
        }
    }
    levels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(name: &str, depends_on: &[&str], force_sequential: bool) -> ModuleInfo {
        ModuleInfo {
            name: name.to_owned(),
            version: "1.0.0".to_owned(),
            description: String::new(),
            depends_on: depends_on.iter().map(|name| name.to_string()).collect(),
            force_sequential,
            path: None,
        }
    }

    fn batch(modules: &[&str], sequential: bool) -> Batch {
        Batch {
            modules: modules.iter().map(|name| name.to_string()).collect(),
            sequential,
        }
    }

    #[test]
    fn levels_become_batches_sorted_by_name() {
        let modules = [
            module("motd", &["system"], false),
            module("system", &[], false),
            module("groups", &[], false),
            module("hosts", &["system"], false),
            module("cache", &["hosts", "groups"], false),
        ];
        let plan = plan(&modules, &BTreeSet::new()).unwrap();
        assert_eq!(
            plan.batches,
            [
                batch(&["groups", "system"], false),
                batch(&["hosts", "motd"], false),
                batch(&["cache"], false),
            ]
        );
    }

    #[test]
    fn sequential_modules_follow_their_level_alone() {
        let modules = [
            module("b", &[], false),
            module("z-solo", &[], true),
            module("a-solo", &[], true),
            module("a", &[], false),
            module("c", &["a"], false),
        ];
        let plan = plan(&modules, &BTreeSet::new()).unwrap();
        assert_eq!(
            plan.batches,
            [
                batch(&["a", "b"], false),
                batch(&["a-solo"], true),
                batch(&["z-solo"], true),
                batch(&["c"], false),
            ]
        );
    }

    #[test]
    fn plan_ignores_input_order() {
        let mut modules = vec![
            module("a", &[], false),
            module("b", &["a"], true),
            module("c", &["a"], false),
            module("d", &["b", "c"], false),
        ];
        let expected = plan(&modules, &BTreeSet::new()).unwrap();
        modules.reverse();
        assert_eq!(plan(&modules, &BTreeSet::new()).unwrap(), expected);
    }

    #[test]
    fn cycle_is_reported_in_order() {
        let modules = [
            module("a", &["b"], false),
            module("b", &["c"], false),
            module("c", &["a"], false),
            module("d", &[], false),
        ];
        let error = plan(&modules, &BTreeSet::new()).unwrap_err();
        assert_eq!(
            error.problems,
            [PlanProblem::Cycle(vec!["a".into(), "b".into(), "c".into()])]
        );
        assert!(error.to_string().contains("a -> b -> c -> a"), "{error}");
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        let error = plan(&[module("a", &["a"], false)], &BTreeSet::new()).unwrap_err();
        assert_eq!(error.problems, [PlanProblem::Cycle(vec!["a".into()])]);
    }

    #[test]
    fn every_problem_is_reported_together() {
        let modules = [
            module("a", &["b"], false),
            module("b", &["a"], false),
            module("c", &["d"], false),
            module("d", &["c", "ghost"], false),
            module("e", &["off"], false),
        ];
        let disabled = BTreeSet::from(["off".to_owned()]);
        let error = plan(&modules, &disabled).unwrap_err();
        assert_eq!(
            error.problems,
            [
                PlanProblem::MissingDependency {
                    module: "d".into(),
                    dependency: "ghost".into()
                },
                PlanProblem::DisabledDependency {
                    module: "e".into(),
                    dependency: "off".into()
                },
                PlanProblem::Cycle(vec!["a".into(), "b".into()]),
                PlanProblem::Cycle(vec!["c".into(), "d".into()]),
            ]
        );
    }
}
