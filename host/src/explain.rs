//! Placement reasons for `configurator plan`: each module's batch with the awaited module
//! that decided it, and the plan's longest dependency chain.
//!
//! [`explain`] reads a finished [`Plan`] together with the module graph from [`plan::edges`].
//! A module's reason is the module it waits for that runs in the highest batch, which is the
//! last of them to finish. Batch numbers count from 1, as the text plan prints them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::module::ModuleInfo;
use crate::plan::{self, EdgeKind, Plan};

/// A module's batch and the awaited module that decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// The module's name.
    pub module: String,
    /// Its batch, counting from 1.
    pub batch: usize,
    /// The module it waits for that runs in the highest batch; `None` when it waits for
    /// nothing.
    pub latest_dependency: Option<LatestDependency>,
}

/// The awaited module that finishes last, as [`Placement::latest_dependency`] names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatestDependency {
    /// Its name.
    pub name: String,
    /// Whether it comes from `depends_on` or from `after`.
    pub kind: EdgeKind,
    /// Its batch, counting from 1.
    pub batch: usize,
}

impl Placement {
    /// Returns the one-phrase reason the text and JSON plans show, such as
    /// `depends on hosts, in batch 2`.
    pub fn reason(&self) -> String {
        match &self.latest_dependency {
            None => "no dependencies".to_owned(),
            Some(latest) => {
                let verb = match latest.kind {
                    EdgeKind::DependsOn => "depends on",
                    EdgeKind::After => "runs after",
                };
                format!("{verb} {}, in batch {}", latest.name, latest.batch)
            }
        }
    }
}

/// The placement of every module of a plan, and the plan's longest chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// One placement per planned module, in plan order: by batch, then by name.
    pub placements: Vec<Placement>,
    /// The modules of a longest chain, each waiting for the one before it. Empty when the
    /// plan is. Of several chains of that length, the one ending earliest in plan order and
    /// then reaching back through alphabetically first modules is shown.
    pub longest_chain: Vec<String>,
}

/// Explains `plan`, which must have been made from `modules`.
///
/// Modules of `modules` that are not in the plan are ignored, and so are their edges.
pub fn explain(plan: &Plan, modules: &[ModuleInfo]) -> Explanation {
    let batch_of: BTreeMap<&str, usize> = plan
        .batches
        .iter()
        .enumerate()
        .flat_map(|(index, batch)| {
            batch
                .modules
                .iter()
                .map(move |name| (name.as_str(), index + 1))
        })
        .collect();

    let mut awaited: BTreeMap<&str, Vec<(&str, EdgeKind)>> = BTreeMap::new();
    let edges = plan::edges(modules);
    for edge in &edges {
        if batch_of.contains_key(edge.module.as_str())
            && batch_of.contains_key(edge.dependency.as_str())
        {
            awaited
                .entry(edge.module.as_str())
                .or_default()
                .push((edge.dependency.as_str(), edge.kind));
        }
    }

    let placements = plan
        .batches
        .iter()
        .flat_map(|batch| &batch.modules)
        .map(|name| Placement {
            module: name.clone(),
            batch: batch_of[name.as_str()],
            latest_dependency: latest_dependency(&awaited, &batch_of, name),
        })
        .collect();

    Explanation {
        placements,
        longest_chain: longest_chain(plan, &awaited),
    }
}

/// Returns the awaited module in the highest batch, the alphabetically first on a tie.
fn latest_dependency(
    awaited: &BTreeMap<&str, Vec<(&str, EdgeKind)>>,
    batch_of: &BTreeMap<&str, usize>,
    module: &str,
) -> Option<LatestDependency> {
    let candidates = awaited.get(module)?;
    // Edges are sorted by name, so `max_by_key` would return the last of equal batches;
    // reversing first makes it return the alphabetically first.
    let (name, kind) = candidates
        .iter()
        .rev()
        .max_by_key(|(name, _)| batch_of[name])?;
    Some(LatestDependency {
        name: (*name).to_owned(),
        kind: *kind,
        batch: batch_of[name],
    })
}

/// Finds a longest chain of waiting modules, counted in modules.
fn longest_chain(plan: &Plan, awaited: &BTreeMap<&str, Vec<(&str, EdgeKind)>>) -> Vec<String> {
    // Plan order is a topological order: every awaited module is in an earlier batch.
    let mut length: BTreeMap<&str, usize> = BTreeMap::new();
    let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
    let mut end: Option<(&str, usize)> = None;
    for name in plan.batches.iter().flat_map(|batch| &batch.modules) {
        let name = name.as_str();
        let mut best: Option<(&str, usize)> = None;
        for &(dependency, _) in awaited.get(name).into_iter().flatten() {
            let dependency_length = length[dependency];
            if best.is_none_or(|(_, best_length)| dependency_length > best_length) {
                best = Some((dependency, dependency_length));
            }
        }
        let chain_length = best.map_or(1, |(_, best_length)| best_length + 1);
        length.insert(name, chain_length);
        if let Some((dependency, _)) = best {
            previous.insert(name, dependency);
        }
        if end.is_none_or(|(_, end_length)| chain_length > end_length) {
            end = Some((name, chain_length));
        }
    }

    let mut chain = Vec::new();
    let mut step = end.map(|(name, _)| name);
    while let Some(name) = step {
        chain.push(name.to_owned());
        step = previous.get(name).copied();
    }
    chain.reverse();
    chain
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn module(name: &str, depends_on: &[&str], after: &[&str], sequential: bool) -> ModuleInfo {
        ModuleInfo {
            name: name.to_owned(),
            version: "1.0.0".to_owned(),
            depends_on: depends_on.iter().map(|name| name.to_string()).collect(),
            after: after.iter().map(|name| name.to_string()).collect(),
            force_sequential: sequential,
            ..ModuleInfo::default()
        }
    }

    fn explain_modules(modules: &[ModuleInfo]) -> Explanation {
        let plan = plan::plan(modules, &BTreeSet::new()).unwrap();
        explain(&plan, modules)
    }

    fn reasons(explanation: &Explanation) -> Vec<(String, usize, String)> {
        explanation
            .placements
            .iter()
            .map(|placement| {
                (
                    placement.module.clone(),
                    placement.batch,
                    placement.reason(),
                )
            })
            .collect()
    }

    fn owned(rows: &[(&str, usize, &str)]) -> Vec<(String, usize, String)> {
        rows.iter()
            .map(|(module, batch, reason)| (module.to_string(), *batch, reason.to_string()))
            .collect()
    }

    #[test]
    fn reason_names_dependency_in_highest_batch() {
        let modules = [
            module("alpha", &[], &[], false),
            module("beta", &[], &[], false),
            module("solo", &[], &[], true),
            module("gamma", &["alpha"], &[], false),
            module("delta", &["alpha", "beta"], &[], false),
            module("epsilon", &["gamma", "alpha"], &[], false),
        ];

        let explanation = explain_modules(&modules);

        assert_eq!(
            reasons(&explanation),
            owned(&[
                ("alpha", 1, "no dependencies"),
                ("beta", 1, "no dependencies"),
                ("solo", 2, "no dependencies"),
                ("delta", 3, "depends on alpha, in batch 1"),
                ("gamma", 3, "depends on alpha, in batch 1"),
                ("epsilon", 4, "depends on gamma, in batch 3"),
            ])
        );
    }

    #[test]
    fn after_target_can_be_the_reason() {
        let modules = [
            module("a", &[], &[], false),
            module("b", &["a"], &[], false),
            module("c", &["a"], &["b"], false),
        ];

        let explanation = explain_modules(&modules);

        let c = &explanation.placements[2];
        assert_eq!(c.module, "c");
        assert_eq!(c.reason(), "runs after b, in batch 2");
        assert_eq!(
            c.latest_dependency.as_ref().map(|latest| latest.kind),
            Some(EdgeKind::After)
        );
    }

    #[test]
    fn longest_chain_follows_the_deepest_path() {
        let modules = [
            module("alpha", &[], &[], false),
            module("beta", &[], &[], false),
            module("gamma", &["alpha"], &[], false),
            module("delta", &["alpha", "beta"], &[], false),
            module("epsilon", &["gamma"], &[], false),
        ];

        let explanation = explain_modules(&modules);

        assert_eq!(explanation.longest_chain, ["alpha", "gamma", "epsilon"]);
    }

    #[test]
    fn longest_chain_counts_after_edges() {
        let modules = [
            module("a", &[], &[], false),
            module("b", &[], &["a"], false),
        ];

        let explanation = explain_modules(&modules);

        assert_eq!(explanation.longest_chain, ["a", "b"]);
    }

    #[test]
    fn independent_modules_chain_one_module() {
        let modules = [module("b", &[], &[], false), module("a", &[], &[], false)];

        let explanation = explain_modules(&modules);

        assert_eq!(explanation.longest_chain, ["a"]);
    }

    #[test]
    fn empty_plan_has_empty_chain() {
        let explanation = explain_modules(&[]);

        assert!(explanation.placements.is_empty());
        assert!(explanation.longest_chain.is_empty());
    }
}
