//! The dependency graph of one run, with modules numbered in name order.
//!
//! A module waits for its predecessors: the modules of its `depends_on` and the modules of its
//! `after` list that are in the run. Only the `depends_on` ones decide whether it is skipped
//! when they do not succeed; `after` orders without requiring.
//!
//! Numbering by name makes every order derived from the graph independent of the order in
//! which the modules were discovered or loaded: a tie between two modules always goes to the
//! one whose name sorts first.

use std::collections::HashMap;

use crate::module::ModuleInfo;

/// The modules of a run and the dependency edges between them.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    /// Module names, sorted; a module's index in this list is its number.
    pub(crate) names: Vec<String>,
    /// Each module's predecessors within the run, by number, sorted: the modules it waits for.
    pub(crate) predecessors: Vec<Vec<usize>>,
    /// Each module's `depends_on` modules within the run, by number, sorted: the
    /// predecessors whose failure makes it skip.
    pub(crate) dependencies: Vec<Vec<usize>>,
    /// The modules that wait for each module, by number, sorted.
    pub(crate) successors: Vec<Vec<usize>>,
    /// Each module's `force_sequential` flag.
    pub(crate) sequential: Vec<bool>,
}

impl Graph {
    /// Builds the graph of `modules`, whose names must be unique.
    ///
    /// Names outside `modules` are left out, which is the rule for `after`. The planner
    /// rejects a `depends_on` entry outside the module set before a run, so only a caller
    /// that skips planning can meet one.
    pub(crate) fn new<'a>(modules: impl IntoIterator<Item = &'a ModuleInfo>) -> Self {
        let mut modules: Vec<&ModuleInfo> = modules.into_iter().collect();
        modules.sort_by(|left, right| left.name.cmp(&right.name));
        let names: Vec<String> = modules.iter().map(|module| module.name.clone()).collect();
        // Hashing a name costs less than a binary search over thousands of separately
        // allocated names, where each comparison may miss the cache.
        let numbers_by_name: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(number, name)| (name.as_str(), number))
            .collect();
        let numbers = |list: &[String]| -> Vec<usize> {
            let mut numbers: Vec<usize> = list
                .iter()
                .filter_map(|name| numbers_by_name.get(name.as_str()).copied())
                .collect();
            numbers.sort_unstable();
            numbers.dedup();
            numbers
        };

        let mut predecessors = Vec::with_capacity(modules.len());
        let mut dependencies = Vec::with_capacity(modules.len());
        let mut successors = vec![Vec::new(); modules.len()];
        for (index, module) in modules.iter().enumerate() {
            let required = numbers(&module.depends_on);
            let mut awaited = numbers(&module.after);
            awaited.extend(&required);
            awaited.sort_unstable();
            awaited.dedup();
            for &predecessor in &awaited {
                successors[predecessor].push(index);
            }
            predecessors.push(awaited);
            dependencies.push(required);
        }

        Self {
            names,
            predecessors,
            dependencies,
            successors,
            sequential: modules
                .iter()
                .map(|module| module.force_sequential)
                .collect(),
        }
    }

    /// Returns the number of modules.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }
}
