//! The order in which ready modules start: by name, by priority or shuffled.
//!
//! Each order is a rank per module, lower ranks starting first. The eager schedule ranks by
//! priority: the longest chain of work a module still has behind it. That is its own weight
//! plus the maximum total weight of a path through the modules that wait for it, directly or
//! not. Starting the
//! longest chains first keeps the critical path busy while shorter chains fill idle threads.
//!
//! A module's weight is its duration in the previous run in whole milliseconds, rounded up and
//! at least one, or one unit when no duration is recorded. Ties break by name, so the ranks
//! never depend on the order in which modules were loaded.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::module::ModuleInfo;

use super::graph::Graph;

/// The duration one unit of weight stands for.
pub const WEIGHT_UNIT: Duration = Duration::from_millis(1);

/// Returns the names of `modules` in the order the eager schedule starts them when all are
/// ready at once, given the durations recorded in the previous run.
pub fn priority_order(
    modules: &[ModuleInfo],
    durations: &BTreeMap<String, Duration>,
) -> Vec<String> {
    let graph = Graph::new(modules);
    names_by_rank(&graph, &priority_ranks(&graph, durations))
}

/// Returns the names of `modules` in the order that `--shuffle=SEED` starts them when all are
/// ready at once.
pub fn shuffled_order(modules: &[ModuleInfo], seed: u64) -> Vec<String> {
    let graph = Graph::new(modules);
    names_by_rank(&graph, &shuffled_ranks(&graph, seed))
}

/// Returns the weight of a module whose previous run took `recorded`, if one is recorded.
pub fn weight(recorded: Option<Duration>) -> u64 {
    let Some(recorded) = recorded else {
        return 1;
    };
    let units = recorded.as_nanos().div_ceil(WEIGHT_UNIT.as_nanos());
    u64::try_from(units).unwrap_or(u64::MAX).max(1)
}

/// Ranks modules in name order.
pub(crate) fn name_ranks(graph: &Graph) -> Vec<usize> {
    (0..graph.len()).collect()
}

/// Ranks modules by the longest weighted chain still behind them, ties by name.
pub(crate) fn priority_ranks(graph: &Graph, durations: &BTreeMap<String, Duration>) -> Vec<usize> {
    let weights: Vec<u64> = graph
        .names
        .iter()
        .map(|name| weight(durations.get(name).copied()))
        .collect();
    let chains = remaining_chains(graph, &weights);

    // Module numbers are in name order, so sorting by number breaks ties by name.
    let mut order: Vec<usize> = (0..graph.len()).collect();
    order.sort_by_key(|&index| (Reverse(chains[index]), index));
    ranks_from_order(&order)
}

/// Ranks modules in a random order drawn from `seed`.
pub(crate) fn shuffled_ranks(graph: &Graph, seed: u64) -> Vec<usize> {
    // Shuffling the name-ordered list keeps the result independent of load order.
    let mut order: Vec<usize> = (0..graph.len()).collect();
    fastrand::Rng::with_seed(seed).shuffle(&mut order);
    ranks_from_order(&order)
}

/// Computes for each module its weight plus the heaviest chain of the modules waiting for it.
///
/// Modules on a cycle, which the planner rejects before any run, count only their own weight.
fn remaining_chains(graph: &Graph, weights: &[u64]) -> Vec<u64> {
    let mut chains = weights.to_vec();
    let mut pending_successors: Vec<usize> = graph.successors.iter().map(Vec::len).collect();
    // Visit modules after all their successors, starting from those no module waits for.
    let mut stack: Vec<usize> = (0..graph.len())
        .filter(|&index| pending_successors[index] == 0)
        .collect();
    while let Some(index) = stack.pop() {
        let heaviest_successor = graph.successors[index]
            .iter()
            .map(|&successor| chains[successor])
            .max()
            .unwrap_or(0);
        chains[index] = weights[index].saturating_add(heaviest_successor);
        for &predecessor in &graph.predecessors[index] {
            pending_successors[predecessor] -= 1;
            if pending_successors[predecessor] == 0 {
                stack.push(predecessor);
            }
        }
    }
    chains
}

fn ranks_from_order(order: &[usize]) -> Vec<usize> {
    let mut ranks = vec![0; order.len()];
    for (rank, &index) in order.iter().enumerate() {
        ranks[index] = rank;
    }
    ranks
}

fn names_by_rank(graph: &Graph, ranks: &[usize]) -> Vec<String> {
    let mut order: Vec<usize> = (0..graph.len()).collect();
    order.sort_by_key(|&index| ranks[index]);
    order
        .into_iter()
        .map(|index| graph.names[index].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(name: &str, depends_on: &[&str]) -> ModuleInfo {
        ModuleInfo {
            name: name.to_owned(),
            depends_on: depends_on.iter().map(|name| name.to_string()).collect(),
            ..ModuleInfo::default()
        }
    }

    #[test]
    fn weight_rounds_up_to_whole_units() {
        assert_eq!(weight(None), 1);
        assert_eq!(weight(Some(Duration::ZERO)), 1);
        assert_eq!(weight(Some(Duration::from_micros(1500))), 2);
        assert_eq!(weight(Some(Duration::from_secs(2))), 2000);
    }

    #[test]
    fn longest_chain_starts_first() {
        // z-head has two modules behind it, a-alone none.
        let modules = [
            module("a-alone", &[]),
            module("m-middle", &["z-head"]),
            module("n-tail", &["m-middle"]),
            module("z-head", &[]),
        ];
        let order = priority_order(&modules, &BTreeMap::new());
        assert_eq!(order, ["z-head", "m-middle", "a-alone", "n-tail"]);
    }

    #[test]
    fn recorded_durations_outweigh_chain_length() {
        let modules = [
            module("a-alone", &[]),
            module("m-middle", &["z-head"]),
            module("z-head", &[]),
        ];
        let durations = BTreeMap::from([("a-alone".to_owned(), Duration::from_millis(50))]);
        let order = priority_order(&modules, &durations);
        assert_eq!(order, ["a-alone", "z-head", "m-middle"]);
    }

    #[test]
    fn heaviest_branch_decides_chain() {
        // root's chain is its weight plus the heavier of its two branches.
        let modules = [
            module("root", &[]),
            module("light", &["root"]),
            module("heavy", &["root"]),
            module("other", &[]),
        ];
        let durations = BTreeMap::from([
            ("heavy".to_owned(), Duration::from_millis(30)),
            ("other".to_owned(), Duration::from_millis(30)),
        ]);
        let order = priority_order(&modules, &durations);
        assert_eq!(order, ["root", "heavy", "other", "light"]);
    }

    #[test]
    fn after_targets_count_in_chain() {
        let mut waits = module("b-waits", &[]);
        waits.after = vec!["z-first".to_owned(), "not-in-run".to_owned()];
        let modules = [module("a-alone", &[]), waits, module("z-first", &[])];
        let order = priority_order(&modules, &BTreeMap::new());
        assert_eq!(order, ["z-first", "a-alone", "b-waits"]);
    }

    #[test]
    fn equal_chains_break_ties_by_name() {
        let modules = [module("c", &[]), module("a", &[]), module("b", &[])];
        assert_eq!(priority_order(&modules, &BTreeMap::new()), ["a", "b", "c"]);
    }

    #[test]
    fn shuffle_repeats_for_same_seed() {
        let names: Vec<String> = (0..20).map(|index| format!("m{index:02}")).collect();
        let modules: Vec<ModuleInfo> = names.iter().map(|name| module(name, &[])).collect();
        let mut reversed = modules.clone();
        reversed.reverse();

        let first = shuffled_order(&modules, 42);

        assert_eq!(shuffled_order(&modules, 42), first);
        assert_eq!(shuffled_order(&reversed, 42), first, "input order matters");
        assert_ne!(first, names, "seed 42 left 20 names in name order");
        assert_ne!(shuffled_order(&modules, 43), first, "seeds 42 and 43 agree");
    }
}
