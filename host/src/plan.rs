//! Dependency resolution and batch planning.
//!
//! A module waits for every module in its `depends_on` and for every module in its `after`
//! that is in the module set. Its level is 0 when it waits for nothing, else one more than the
//! highest level of the modules it waits for. Each level becomes one parallel batch of its
//! ordinary modules, sorted by name, followed by one batch per `force_sequential` module of the
//! level, also by name. The plan depends only on the module set, never on discovery or load
//! order.
//!
//! [`plan`] checks the whole set before it places anything and reports every problem together.
//! [`edges`] lists the graph the plan is made from, for the explanation and the DOT output.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::module::ModuleInfo;
use crate::requirement::{self, RequirementError};

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
    /// A `depends_on` entry carries a requirement that is not valid semver requirement syntax.
    InvalidRequirement {
        /// The module with the dependency.
        module: String,
        /// The module the requirement is about.
        dependency: String,
        /// The requirement as declared.
        requirement: String,
        /// The parser's reason.
        reason: String,
    },
    /// A requirement is about a module whose version is not a semver version.
    InvalidVersion {
        /// The module with the dependency.
        module: String,
        /// The module the requirement is about.
        dependency: String,
        /// The requirement as declared.
        requirement: String,
        /// The dependency's version as it declares it.
        version: String,
        /// The parser's reason.
        reason: String,
    },
    /// The loaded dependency's version does not meet the requirement.
    UnmetRequirement {
        /// The module with the dependency.
        module: String,
        /// The module the requirement is about.
        dependency: String,
        /// The requirement as declared.
        requirement: String,
        /// The loaded dependency's version.
        found: String,
    },
    /// Modules that wait for each other in a circle, in order: the first module waits for the
    /// second, and the last waits for the first.
    Cycle {
        /// The modules of the circle, starting with the alphabetically first.
        modules: Vec<String>,
        /// The steps `(module, awaited module)` of the circle that come from `after` rather
        /// than from `depends_on`.
        after_steps: Vec<(String, String)>,
    },
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingDependency { module, dependency } => {
                write!(
                    f,
                    "module `{module}` depends on `{dependency}`, which is not in the plugin \
                     directory; install it or remove it from `{module}`'s depends_on"
                )?;
                if dependency.contains(['<', '>', '=', '^', '~']) {
                    write!(
                        f,
                        " (to add a version requirement, put whitespace between the name and \
                         the requirement, as in `hosts >=1.2`)"
                    )?;
                }
                Ok(())
            }
            Self::DisabledDependency { module, dependency } => write!(
                f,
                "module `{module}` depends on `{dependency}`, which is disabled with \
                 `enabled = false`; enable `{dependency}` or disable `{module}` too"
            ),
            Self::InvalidRequirement {
                module,
                dependency,
                requirement,
                reason,
            } => write!(
                f,
                "module `{module}` has an invalid version requirement `{requirement}` on \
                 `{dependency}` ({reason}); write it in Cargo's syntax, such as \
                 `{dependency} >=1.2, <2`"
            ),
            Self::InvalidVersion {
                module,
                dependency,
                requirement,
                version,
                reason,
            } => write!(
                f,
                "module `{module}` requires `{dependency} {requirement}`, but `{dependency}` \
                 declares version `{version}`, which is not a semver version ({reason}); give \
                 `{dependency}` a version such as 1.2.0 or remove the requirement from \
                 `{module}`'s depends_on"
            ),
            Self::UnmetRequirement {
                module,
                dependency,
                requirement,
                found,
            } => write!(
                f,
                "module `{module}` requires `{dependency} {requirement}`, but the loaded \
                 `{dependency}` is version {found}; install a `{dependency}` that meets the \
                 requirement or change `{module}`'s depends_on"
            ),
            Self::Cycle {
                modules,
                after_steps,
            } => {
                write!(f, "dependency cycle: ")?;
                for module in modules {
                    write!(f, "{module} -> ")?;
                }
                write!(f, "{}", modules[0])?;
                if !after_steps.is_empty() {
                    let steps: Vec<String> = after_steps
                        .iter()
                        .map(|(module, awaited)| format!("{module} -> {awaited}"))
                        .collect();
                    write!(f, " (from `after`: {})", steps.join(", "))?;
                }
                write!(f, "; remove one of these dependencies")
            }
        }
    }
}

/// Every problem found in a module set, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PlanError {
    /// The problems: missing and disabled dependencies first, then version requirement
    /// problems, then cycles.
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

/// Why one module waits for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// The awaited module is in `depends_on`: it must be there, and when it fails the waiting
    /// module is skipped.
    DependsOn,
    /// The awaited module is in `after` and in the module set: ordering only.
    After,
}

/// One edge of the module graph: `dependency` finishes before `module` starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    /// The waiting module.
    pub module: String,
    /// The module it waits for.
    pub dependency: String,
    /// Whether the edge comes from `depends_on` or from `after`. A module named in both is a
    /// `depends_on` edge.
    pub kind: EdgeKind,
    /// The version requirement of the `depends_on` entry, if it carries one. Several entries
    /// for one module are joined with `, `, which semver reads as "all of them".
    pub requirement: Option<String>,
}

/// Plans the batches for `modules`, or reports every problem of the module set: missing and
/// disabled dependencies, invalid or unmet version requirements, and cycles.
///
/// `disabled` names modules that exist but are switched off, for a clearer message when an
/// enabled module depends on one. An `after` target that is absent or disabled is ignored.
pub fn plan(modules: &[ModuleInfo], disabled: &BTreeSet<String>) -> Result<Plan, PlanError> {
    let graph = Graph::new(modules);
    log_ignored_after_targets(&graph);

    let mut problems = missing_dependencies(&graph, disabled);
    problems.extend(requirement_problems(&graph));
    problems.extend(find_cycles(&graph));
    if !problems.is_empty() {
        return Err(PlanError { problems });
    }

    let levels = levels(&graph);
    let mut batches = Vec::new();
    let max_level = levels.values().copied().max();
    for level in 0..max_level.map_or(0, |max| max + 1) {
        // BTreeMap iteration is by name, so both lists come out sorted.
        let at_level = || {
            levels
                .iter()
                .filter(move |(_, module_level)| **module_level == level)
                .map(|(name, _)| graph.by_name[name])
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

/// Lists every edge between modules of `modules`, sorted by waiting module, then by the module
/// it waits for. Dependencies that are not in `modules` have no edge.
pub fn edges(modules: &[ModuleInfo]) -> Vec<Edge> {
    let graph = Graph::new(modules);
    let mut edges = Vec::new();
    for (&module, awaited) in &graph.waits_for {
        let info = graph.by_name[module];
        for (&dependency, &kind) in awaited {
            let requirements: Vec<&str> = info
                .requirements
                .iter()
                .filter(|requirement| requirement.dependency == dependency)
                .map(|requirement| requirement.requirement.as_str())
                .collect();
            edges.push(Edge {
                module: module.to_owned(),
                dependency: dependency.to_owned(),
                kind,
                requirement: (!requirements.is_empty()).then(|| requirements.join(", ")),
            });
        }
    }
    edges
}

/// Returns, for every module, the modules of `modules` that must finish before it starts: its
/// `depends_on` and the `after` targets that are in `modules`, sorted by name.
///
/// Only `depends_on` decides whether a module is skipped after a failure; an executor that
/// orders modules by itself rather than by batches must still wait for all of these.
pub fn predecessors(modules: &[ModuleInfo]) -> BTreeMap<String, Vec<String>> {
    let graph = Graph::new(modules);
    graph
        .waits_for
        .iter()
        .map(|(&module, awaited)| {
            let names = awaited.keys().map(|name| name.to_string()).collect();
            (module.to_owned(), names)
        })
        .collect()
}

/// The module set as a graph: each module with the modules of the set it waits for.
struct Graph<'a> {
    by_name: BTreeMap<&'a str, &'a ModuleInfo>,
    waits_for: BTreeMap<&'a str, BTreeMap<&'a str, EdgeKind>>,
}

impl<'a> Graph<'a> {
    fn new(modules: &'a [ModuleInfo]) -> Self {
        let by_name: BTreeMap<&str, &ModuleInfo> = modules
            .iter()
            .map(|module| (module.name.as_str(), module))
            .collect();

        let mut waits_for = BTreeMap::new();
        for (&name, module) in &by_name {
            let mut awaited = BTreeMap::new();
            // `depends_on` comes second so that it wins for a module named in both lists.
            let named = module
                .after
                .iter()
                .map(|target| (target, EdgeKind::After))
                .chain(
                    module
                        .depends_on
                        .iter()
                        .map(|dependency| (dependency, EdgeKind::DependsOn)),
                );
            for (target, kind) in named {
                if let Some((&key, _)) = by_name.get_key_value(target.as_str()) {
                    awaited.insert(key, kind);
                }
            }
            waits_for.insert(name, awaited);
        }
        Self { by_name, waits_for }
    }

    /// Returns the modules of the set that `module` waits for, sorted by name.
    fn awaited(&self, module: &str) -> impl Iterator<Item = &'a str> + '_ {
        self.waits_for
            .get(module)
            .into_iter()
            .flat_map(|awaited| awaited.keys().copied())
    }

    fn kind(&self, module: &str, awaited: &str) -> Option<EdgeKind> {
        self.waits_for.get(module)?.get(awaited).copied()
    }
}

fn log_ignored_after_targets(graph: &Graph<'_>) {
    for module in graph.by_name.values() {
        for target in &module.after {
            if !graph.by_name.contains_key(target.as_str()) {
                tracing::debug!(
                    "module {} runs after {target} only when {target} is in the run; it is \
                     not, so that ordering is ignored",
                    module.name
                );
            }
        }
    }
}

fn missing_dependencies(graph: &Graph<'_>, disabled: &BTreeSet<String>) -> Vec<PlanProblem> {
    let mut problems = Vec::new();
    for module in graph.by_name.values() {
        for dependency in &module.depends_on {
            if graph.by_name.contains_key(dependency.as_str()) {
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

/// Checks every version requirement against the loaded dependency. A requirement on a module
/// that is not loaded is still checked for valid syntax, so one pass reports both problems.
fn requirement_problems(graph: &Graph<'_>) -> Vec<PlanProblem> {
    let mut problems = Vec::new();
    for module in graph.by_name.values() {
        for declared in &module.requirements {
            let result = match graph.by_name.get(declared.dependency.as_str()) {
                Some(dependency) => requirement::check(&declared.requirement, &dependency.version),
                None => requirement::parse(&declared.requirement).map(|_| ()),
            };
            let (module, dependency, requirement) = (
                module.name.clone(),
                declared.dependency.clone(),
                declared.requirement.clone(),
            );
            match result {
                Ok(()) => {}
                Err(RequirementError::InvalidRequirement { reason }) => {
                    problems.push(PlanProblem::InvalidRequirement {
                        module,
                        dependency,
                        requirement,
                        reason,
                    });
                }
                Err(RequirementError::InvalidVersion { reason }) => {
                    let version = graph.by_name[dependency.as_str()].version.clone();
                    problems.push(PlanProblem::InvalidVersion {
                        module,
                        dependency,
                        requirement,
                        version,
                        reason,
                    });
                }
                Err(RequirementError::Unmet) => {
                    let found = graph.by_name[dependency.as_str()].version.clone();
                    problems.push(PlanProblem::UnmetRequirement {
                        module,
                        dependency,
                        requirement,
                        found,
                    });
                }
            }
        }
    }
    problems
}

/// Finds one cycle per strongly connected component that has one, each starting at its
/// alphabetically first member so that the report is stable.
fn find_cycles(graph: &Graph<'_>) -> Vec<PlanProblem> {
    let mut cycles = Vec::new();
    let mut in_reported_cycle = BTreeSet::new();
    for &start in graph.by_name.keys() {
        if in_reported_cycle.contains(start) {
            continue;
        }
        if let Some(modules) = cycle_through(graph, start) {
            in_reported_cycle.extend(component_of(graph, start));
            let after_steps = modules
                .iter()
                .zip(modules.iter().cycle().skip(1))
                .filter(|(module, awaited)| graph.kind(module, awaited) == Some(EdgeKind::After))
                .map(|(module, awaited)| (module.clone(), awaited.clone()))
                .collect();
            cycles.push(PlanProblem::Cycle {
                modules,
                after_steps,
            });
        }
    }
    cycles
}

/// Returns a shortest path of waiting edges from `start` back to itself, if there is one.
fn cycle_through(graph: &Graph<'_>, start: &str) -> Option<Vec<String>> {
    // Breadth-first search over waiting edges, remembering each module's predecessor.
    let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
    let mut frontier = vec![start];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for &current in &frontier {
            for awaited in graph.awaited(current) {
                if awaited == start {
                    let mut path = vec![current.to_owned()];
                    let mut step = current;
                    while step != start {
                        step = previous[step];
                        path.push(step.to_owned());
                    }
                    path.reverse();
                    return Some(path);
                }
                if !previous.contains_key(awaited) {
                    previous.insert(awaited, current);
                    next.push(awaited);
                }
            }
        }
        frontier = next;
    }
    None
}

/// Returns the modules that both reach `start` and are reached from it.
fn component_of<'a>(graph: &Graph<'a>, start: &'a str) -> BTreeSet<&'a str> {
    let reached_from_start = reachable(graph, start);
    reached_from_start
        .iter()
        .copied()
        .filter(|&module| reachable(graph, module).contains(start))
        .collect()
}

fn reachable<'a>(graph: &Graph<'a>, start: &'a str) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(current) = stack.pop() {
        for awaited in graph.awaited(current) {
            if seen.insert(awaited) {
                stack.push(awaited);
            }
        }
    }
    seen
}

/// Computes each module's level; the graph must be acyclic with no missing dependency.
fn levels<'a>(graph: &Graph<'a>) -> BTreeMap<&'a str, usize> {
    let mut levels: BTreeMap<&str, usize> = BTreeMap::new();
    // Repeatedly place modules whose awaited modules all have levels; acyclic input
    // guarantees progress on every pass.
    while levels.len() < graph.by_name.len() {
        for &name in graph.by_name.keys() {
            if levels.contains_key(name) {
                continue;
            }
            let awaited_levels: Option<Vec<usize>> = graph
                .awaited(name)
                .map(|awaited| levels.get(awaited).copied())
                .collect();
            if let Some(awaited_levels) = awaited_levels {
                let level = awaited_levels
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
    use proptest::prelude::*;

    use super::*;
    use crate::requirement::split_depends_on;

    fn module(name: &str, depends_on: &[&str], force_sequential: bool) -> ModuleInfo {
        let (depends_on, requirements) = split_depends_on(depends_on.iter().copied());
        ModuleInfo {
            name: name.to_owned(),
            version: "1.0.0".to_owned(),
            description: String::new(),
            depends_on,
            requirements,
            after: Vec::new(),
            force_sequential,
            path: None,
        }
    }

    fn with_after(mut module: ModuleInfo, after: &[&str]) -> ModuleInfo {
        module.after = after.iter().map(|name| name.to_string()).collect();
        module
    }

    fn with_version(mut module: ModuleInfo, version: &str) -> ModuleInfo {
        module.version = version.to_owned();
        module
    }

    fn batch(modules: &[&str], sequential: bool) -> Batch {
        Batch {
            modules: modules.iter().map(|name| name.to_string()).collect(),
            sequential,
        }
    }

    fn cycle(modules: &[&str], after_steps: &[(&str, &str)]) -> PlanProblem {
        PlanProblem::Cycle {
            modules: modules.iter().map(|name| name.to_string()).collect(),
            after_steps: after_steps
                .iter()
                .map(|(module, awaited)| (module.to_string(), awaited.to_string()))
                .collect(),
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
            with_after(module("e", &[], false), &["d"]),
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
        assert_eq!(error.problems, [cycle(&["a", "b", "c"], &[])]);
        assert!(error.to_string().contains("a -> b -> c -> a"), "{error}");
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        let error = plan(&[module("a", &["a"], false)], &BTreeSet::new()).unwrap_err();
        assert_eq!(error.problems, [cycle(&["a"], &[])]);
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
                cycle(&["a", "b"], &[]),
                cycle(&["c", "d"], &[]),
            ]
        );
    }

    #[test]
    fn present_after_target_runs_first() {
        let modules = [
            module("a", &[], false),
            with_after(module("b", &[], false), &["a"]),
        ];

        let plan = plan(&modules, &BTreeSet::new()).unwrap();

        assert_eq!(plan.batches, [batch(&["a"], false), batch(&["b"], false)]);
    }

    #[test]
    fn absent_or_disabled_after_target_is_ignored() {
        let modules = [with_after(module("b", &[], false), &["ghost", "off"])];
        let disabled = BTreeSet::from(["off".to_owned()]);

        let plan = plan(&modules, &disabled).unwrap();

        assert_eq!(plan.batches, [batch(&["b"], false)]);
    }

    #[test]
    fn after_edges_close_cycles() {
        let modules = [
            module("a", &["b"], false),
            with_after(module("b", &[], false), &["a"]),
        ];

        let error = plan(&modules, &BTreeSet::new()).unwrap_err();

        assert_eq!(error.problems, [cycle(&["a", "b"], &[("b", "a")])]);
        let message = error.to_string();
        assert!(message.contains("a -> b -> a"), "{message}");
        assert!(message.contains("from `after`: b -> a"), "{message}");
    }

    #[test]
    fn met_requirement_plans_normally() {
        let modules = [
            with_version(module("hosts", &[], false), "1.4.0"),
            module("motd", &["hosts >=1.2, <2"], false),
        ];

        let plan = plan(&modules, &BTreeSet::new()).unwrap();

        assert_eq!(
            plan.batches,
            [batch(&["hosts"], false), batch(&["motd"], false)]
        );
    }

    #[test]
    fn unmet_requirement_names_module_requirement_and_version() {
        let modules = [
            with_version(module("hosts", &[], false), "2.0.0"),
            module("motd", &["hosts >=1.2, <2"], false),
        ];

        let error = plan(&modules, &BTreeSet::new()).unwrap_err();

        assert_eq!(
            error.problems,
            [PlanProblem::UnmetRequirement {
                module: "motd".into(),
                dependency: "hosts".into(),
                requirement: ">=1.2, <2".into(),
                found: "2.0.0".into(),
            }]
        );
        let message = error.to_string();
        assert!(message.contains("`motd`"), "{message}");
        assert!(message.contains("`hosts >=1.2, <2`"), "{message}");
        assert!(message.contains("version 2.0.0"), "{message}");
    }

    #[test]
    fn non_semver_dependency_version_is_reported() {
        let modules = [
            with_version(module("hosts", &[], false), "2024-05"),
            module("motd", &["hosts >=1"], false),
        ];

        let error = plan(&modules, &BTreeSet::new()).unwrap_err();

        assert!(
            matches!(
                &error.problems[..],
                [PlanProblem::InvalidVersion { module, version, .. }]
                    if module == "motd" && version == "2024-05"
            ),
            "{error}"
        );
    }

    #[test]
    fn non_semver_version_without_requirement_is_accepted() {
        let modules = [
            with_version(module("hosts", &[], false), "2024-05"),
            module("motd", &["hosts"], false),
        ];

        assert!(plan(&modules, &BTreeSet::new()).is_ok());
    }

    #[test]
    fn requirement_problems_join_the_one_pass_report() {
        let modules = [
            module("a", &["b"], false),
            module("b", &["a"], false),
            with_version(module("hosts", &[], false), "1.0.0"),
            module("needs-new-hosts", &["hosts >=2"], false),
            module("bad-syntax", &["hosts >=one"], false),
            module("needs-ghost", &["ghost >=nope"], false),
        ];

        let error = plan(&modules, &BTreeSet::new()).unwrap_err();

        let kinds: Vec<&str> = error
            .problems
            .iter()
            .map(|problem| match problem {
                PlanProblem::MissingDependency { .. } => "missing",
                PlanProblem::DisabledDependency { .. } => "disabled",
                PlanProblem::InvalidRequirement { .. } => "invalid requirement",
                PlanProblem::InvalidVersion { .. } => "invalid version",
                PlanProblem::UnmetRequirement { .. } => "unmet",
                PlanProblem::Cycle { .. } => "cycle",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "missing",
                "invalid requirement",
                "invalid requirement",
                "unmet",
                "cycle"
            ],
            "{error}"
        );
    }

    #[test]
    fn name_without_space_before_requirement_gets_a_hint() {
        let modules = [module("motd", &["hosts>=1.2"], false)];

        let error = plan(&modules, &BTreeSet::new()).unwrap_err();

        assert!(
            error
                .to_string()
                .contains("put whitespace between the name"),
            "{error}"
        );
    }

    #[test]
    fn edges_carry_kind_and_requirement() {
        let modules = [
            module("a", &[], false),
            module("b", &["a >=1", "a <2"], false),
            with_after(module("c", &["a"], false), &["a", "b", "ghost"]),
        ];

        let edges = edges(&modules);

        let edge = |module: &str, dependency: &str, kind, requirement: Option<&str>| Edge {
            module: module.into(),
            dependency: dependency.into(),
            kind,
            requirement: requirement.map(str::to_owned),
        };
        assert_eq!(
            edges,
            [
                edge("b", "a", EdgeKind::DependsOn, Some(">=1, <2")),
                edge("c", "a", EdgeKind::DependsOn, None),
                edge("c", "b", EdgeKind::After, None),
            ]
        );
    }

    #[test]
    fn predecessors_include_present_after_targets() {
        let modules = [
            module("a", &[], false),
            module("b", &[], false),
            with_after(module("c", &["b"], false), &["a", "ghost"]),
        ];

        let predecessors = predecessors(&modules);

        assert_eq!(predecessors["c"], ["a", "b"]);
        assert!(predecessors["a"].is_empty());
    }

    /// Builds a random acyclic module set: module `m{i}` may depend on or run after any module
    /// with a lower index, and some `after` targets are absent.
    fn acyclic_modules() -> impl Strategy<Value = Vec<ModuleInfo>> {
        (1usize..12).prop_flat_map(|count| {
            let module_strategies: Vec<_> = (0..count)
                .map(|index| {
                    (
                        proptest::collection::vec(0..index.max(1), 0..3),
                        proptest::collection::vec(0..index + 2, 0..3),
                        any::<bool>(),
                    )
                        .prop_map(
                            move |(depends_on, after, force_sequential)| {
                                let depends_on: Vec<String> = depends_on
                                    .into_iter()
                                    .filter(|&target| target < index)
                                    .map(|target| format!("m{target}"))
                                    .collect();
                                // Targets at or above `index` are renamed to absent modules.
                                let after = after
                                    .into_iter()
                                    .map(|target| {
                                        if target < index {
                                            format!("m{target}")
                                        } else {
                                            format!("absent{target}")
                                        }
                                    })
                                    .collect();
                                ModuleInfo {
                                    name: format!("m{index}"),
                                    version: "1.0.0".into(),
                                    depends_on,
                                    after,
                                    force_sequential,
                                    ..ModuleInfo::default()
                                }
                            },
                        )
                })
                .collect();
            module_strategies
        })
    }

    proptest! {
        #[test]
        fn every_edge_points_to_a_later_batch(modules in acyclic_modules()) {
            let plan = plan(&modules, &BTreeSet::new()).unwrap();

            let batch_of: BTreeMap<&str, usize> = plan
                .batches
                .iter()
                .enumerate()
                .flat_map(|(index, batch)| batch.modules.iter().map(move |name| (name.as_str(), index)))
                .collect();
            prop_assert_eq!(batch_of.len(), modules.len(), "every module is planned once");
            for edge in edges(&modules) {
                prop_assert!(
                    batch_of[edge.dependency.as_str()] < batch_of[edge.module.as_str()],
                    "{edge:?} in {plan:?}"
                );
            }
        }

        #[test]
        fn reordered_input_gives_same_plan(
            modules in acyclic_modules(),
            seed in any::<u64>(),
        ) {
            let expected = plan(&modules, &BTreeSet::new()).unwrap();
            let mut shuffled = modules.clone();
            // A rotation and a reversal chosen by the seed are enough to change the order.
            let len = shuffled.len();
            shuffled.rotate_left(seed as usize % len);
            if seed % 2 == 1 {
                shuffled.reverse();
            }

            prop_assert_eq!(plan(&shuffled, &BTreeSet::new()).unwrap(), expected);
        }
    }
}
