//! Execution of a plan: the modules of a run on a pool of worker threads, in one of two
//! schedules, with timeouts, fail-fast and interrupts.
//!
//! [`execute`] is the entry point. [`Schedule::Batches`] runs the plan's batches one after the
//! other. [`Schedule::Eager`] starts each module as soon as the modules it waits for
//! (`depends_on`, and `after` targets in the run) have finished, preferring the module with the
//! longest chain of work behind it ([`priority_order`]). In both, a `force_sequential` module
//! runs with no other module running, and a module whose `depends_on` dependency did not
//! succeed is skipped naming the module whose failure caused it.
//!
//! The scheduling itself lives in `coordinator`, which runs on the calling thread while the
//! modules run on a rayon pool (`worker`). A module that exceeds its timeout is abandoned
//! rather than waited for, because a thread cannot be killed: the run goes on without it and
//! [`execute`] returns while its thread may still run. Modules therefore come as `Arc`s, which
//! such a thread keeps alive.
//!
//! The eager schedule's weights come from a state file of the previous run's durations
//! ([`load_durations`], [`save_durations`]).

mod coordinator;
mod durations;
mod graph;
mod interrupt;
mod observer;
mod priority;
mod report;
mod worker;

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audit::AccessLog;
use crate::changes::ChangeLog;
use crate::locks::LockWaitLog;
use crate::module::ModuleCode;
use crate::plan::Plan;

use coordinator::{Coordinator, Layout};
use graph::Graph;
use worker::Workers;

pub use durations::{
    DURATIONS_FILE_NAME, DurationsError, default_durations_path, load_durations, save_durations,
};
pub use interrupt::Interrupt;
pub use observer::RunObserver;
pub use priority::{WEIGHT_UNIT, priority_order, shuffled_order, weight};
pub use report::{ModuleReport, RunReport, SkipCause, Status, StopReason};

/// The default grace period: how long an interrupted run waits for its running modules.
pub const DEFAULT_INTERRUPT_GRACE: Duration = Duration::from_secs(5);

/// Errors that prevent a run from starting; when one is returned, no module ran.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// The worker pool could not be created.
    #[error("cannot start {jobs} worker threads")]
    Pool {
        /// The requested number of threads.
        jobs: usize,
        /// rayon's failure.
        #[source]
        source: rayon::ThreadPoolBuildError,
    },

    /// The plan names a module that is not among the modules given.
    #[error("the plan names module `{name}`, which is not among the modules to run")]
    MissingModule {
        /// The module's name.
        name: String,
    },

    /// The plan names a module twice.
    #[error("the plan names module `{name}` more than once")]
    DuplicateModule {
        /// The module's name.
        name: String,
    },

    /// The plan puts a module in the same batch as a module it waits for, or in an earlier one.
    #[error(
        "the plan runs module `{module}` before `{dependency}`, which it waits for, has finished"
    )]
    UnorderedPlan {
        /// The waiting module.
        module: String,
        /// The module it waits for, through `depends_on` or `after`.
        dependency: String,
    },
}

/// The order in which modules may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Schedule {
    /// Batch after batch of the plan; a batch starts when the whole previous batch finished.
    #[default]
    Batches,
    /// Each module starts as soon as every module it waits for has finished.
    Eager,
}

impl Schedule {
    /// Returns the schedule's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Batches => "batches",
            Self::Eager => "eager",
        }
    }
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Directory every context path resolves under.
    pub root: PathBuf,
    /// Worker threads; at least one is used.
    pub jobs: usize,
    /// Directory of the sidecar lock files.
    pub lock_dir: PathBuf,
    /// The order in which modules may start.
    pub schedule: Schedule,
    /// Starts ready modules in a random order drawn from this seed instead of by name or
    /// priority.
    pub shuffle_seed: Option<u64>,
    /// Starts no new module after the first module failed or timed out.
    pub fail_fast: bool,
    /// The timeout of every module that has none in `module_timeouts`.
    pub timeout: Option<Duration>,
    /// Timeouts of single modules, by module name.
    pub module_timeouts: BTreeMap<String, Duration>,
    /// The durations state file to read weights from and to update after the run; `None` for
    /// neither.
    pub durations_file: Option<PathBuf>,
    /// The handle that interrupts this run, if anything may interrupt it.
    pub interrupt: Option<Interrupt>,
    /// How long an interrupted run waits for running modules before abandoning them.
    pub interrupt_grace: Duration,
    /// How long a module's lock request waits when it sets no timeout of its own; `None`
    /// waits without a limit.
    pub lock_timeout: Option<Duration>,
    /// The log that records module file accesses for the access audit; `None` records nothing.
    pub audit: Option<Arc<AccessLog>>,
    /// Whether this is a check run (`run --check`): modules without check support are skipped,
    /// the others write nothing, locks take no sidecar files and no durations file is written.
    pub check: bool,
    /// The log of file changes, for diffs; `None` records none. A check run without one
    /// records into a log of its own.
    pub changes: Option<Arc<ChangeLog>>,
    /// The log of modules' lock requests and their waits, for `run --report`; `None` records
    /// none.
    pub lock_waits: Option<Arc<LockWaitLog>>,
    /// The observer notified of stage openings and module starts and ends, such as a progress
    /// display; `None` for none.
    pub observer: Option<Arc<dyn RunObserver>>,
}

impl RunOptions {
    /// Creates the options of a batch-scheduled run with no timeouts, no durations file and
    /// no interrupt handle.
    pub fn new(root: PathBuf, jobs: usize, lock_dir: PathBuf) -> Self {
        Self {
            root,
            jobs,
            lock_dir,
            schedule: Schedule::Batches,
            shuffle_seed: None,
            fail_fast: false,
            timeout: None,
            module_timeouts: BTreeMap::new(),
            durations_file: None,
            interrupt: None,
            interrupt_grace: DEFAULT_INTERRUPT_GRACE,
            lock_timeout: None,
            audit: None,
            check: false,
            changes: None,
            lock_waits: None,
            observer: None,
        }
    }

    /// Returns the timeout of the module named `module`: its own, else the run's.
    pub fn timeout_for(&self, module: &str) -> Option<Duration> {
        self.module_timeouts.get(module).copied().or(self.timeout)
    }
}

/// Runs `plan` over `modules`, giving each module its settings text from `settings`, and
/// returns a report with one entry per planned module, in plan order.
///
/// Every module named in the plan must be in `modules`, and every module a planned module
/// waits for (`depends_on`, and `after` targets in the plan) must sit in an earlier batch, as
/// [`plan::plan`](crate::plan::plan) arranges.
/// Modules of `modules` that the plan does not name are not run. The function returns when no
/// module is running any more, without waiting for the threads of abandoned modules.
///
/// # Panics
///
/// Panics when the keys of planned modules in `modules` sort differently from the modules'
/// names, which cannot happen when each module is stored under its own name.
pub fn execute<M>(
    plan: &Plan,
    modules: &BTreeMap<String, Arc<M>>,
    settings: &BTreeMap<String, String>,
    options: &RunOptions,
) -> Result<RunReport, ExecuteError>
where
    M: ModuleCode + ?Sized + 'static,
{
    let started = Instant::now();
    let PlannedGraph {
        graph,
        batch_of,
        modules: ordered_modules,
        plan_order,
    } = planned_graph(plan, modules)?;
    let jobs = options.jobs.max(1);
    let workers = Workers::new(jobs).map_err(|source| ExecuteError::Pool { jobs, source })?;

    let history = match &options.durations_file {
        Some(path) => load_durations(path),
        None => BTreeMap::new(),
    };
    let layout = layout(plan, &graph, &batch_of, options, &history);
    // Modules without settings share one empty text instead of allocating one each.
    let no_settings: Arc<str> = Arc::from("");
    let ordered_settings = graph
        .names
        .iter()
        .map(|name| match settings.get(name) {
            Some(text) => Arc::from(text.as_str()),
            None => Arc::clone(&no_settings),
        })
        .collect();

    // A check run keeps the content it does not write in a change log.
    let changes = match &options.changes {
        None if options.check => Some(Arc::default()),
        changes => changes.clone(),
    };
    let run_options = RunOptions {
        jobs,
        changes,
        ..options.clone()
    };
    let coordinator = Coordinator::new(
        &graph,
        ordered_modules,
        ordered_settings,
        &run_options,
        layout,
        workers,
    );
    let outcome = coordinator.run();
    if let Some(observer) = &options.observer {
        observer.run_finished();
    }

    let mut reports: Vec<Option<ModuleReport>> = outcome.reports.into_iter().map(Some).collect();
    let in_plan_order = plan_order
        .iter()
        .filter_map(|&index| reports[index].take())
        .collect();
    let report = RunReport {
        modules: in_plan_order,
        elapsed: started.elapsed(),
        schedule: options.schedule,
        shuffle_seed: options.shuffle_seed,
        interrupted: outcome.interrupted,
    };

    // A check run changes nothing under the root, where the durations file usually lives.
    if let Some(path) = &options.durations_file
        && !options.check
        && let Err(error) = save_durations(path, &history, &report)
    {
        tracing::warn!("{:#}", anyhow::Error::from(error));
    }
    Ok(report)
}

/// The planned modules of a run, numbered as in their [`Graph`].
struct PlannedGraph<M: ?Sized> {
    graph: Graph,
    /// Each module's batch, by module number.
    batch_of: Vec<usize>,
    /// The modules, by module number.
    modules: Vec<Arc<M>>,
    /// The number of each planned module, in plan order.
    plan_order: Vec<usize>,
}

/// Builds the graph of the planned modules with each module's batch and code, checking that
/// the plan names known modules once each and puts every module's predecessors, its
/// `depends_on` and its `after` targets in the run, in earlier batches.
fn planned_graph<M: ModuleCode + ?Sized>(
    plan: &Plan,
    modules: &BTreeMap<String, Arc<M>>,
) -> Result<PlannedGraph<M>, ExecuteError> {
    let (slots, named_twice) = plan_slots(plan);
    // `modules` iterates in name order, the order the graph numbers modules in, so
    // `Graph::new` receives them already sorted.
    let planned: Vec<(&Arc<M>, PlanSlot)> = modules
        .iter()
        .filter_map(|(name, module)| Some((module, *slots.get(name.as_str())?)))
        .collect();
    if (planned.len() < slots.len() || named_twice)
        && let Some(problem) = first_plan_problem(plan, modules)
    {
        return Err(problem);
    }
    let graph = Graph::new(planned.iter().map(|(module, _)| module.info()));
    // Keys are module names, so `planned` is in the graph's name order and a module's number
    // is its position there.
    let in_graph_order = planned
        .iter()
        .zip(&graph.names)
        .all(|((module, _), name)| module.info().name == *name);
    assert!(
        in_graph_order,
        "`modules` must map each module's name to that module"
    );

    let mut batch_of = vec![0; graph.len()];
    let mut plan_order = vec![0; planned.len()];
    for (index, (_, slot)) in planned.iter().enumerate() {
        batch_of[index] = slot.batch;
        plan_order[slot.position] = index;
    }

    for (index, predecessors) in graph.predecessors.iter().enumerate() {
        for &predecessor in predecessors {
            if batch_of[predecessor] >= batch_of[index] {
                return Err(ExecuteError::UnorderedPlan {
                    module: graph.names[index].clone(),
                    dependency: graph.names[predecessor].clone(),
                });
            }
        }
    }
    let modules = planned
        .into_iter()
        .map(|(module, _)| Arc::clone(module))
        .collect();
    Ok(PlannedGraph {
        graph,
        batch_of,
        modules,
        plan_order,
    })
}

/// A module's place in the plan.
#[derive(Debug, Clone, Copy)]
struct PlanSlot {
    /// The module's batch.
    batch: usize,
    /// The module's position in the plan, counting through all batches.
    position: usize,
}

/// Maps each name in the plan to its first slot, and returns whether any name comes twice.
fn plan_slots(plan: &Plan) -> (HashMap<&str, PlanSlot>, bool) {
    let count = plan.batches.iter().map(|batch| batch.modules.len()).sum();
    let mut slots = HashMap::with_capacity(count);
    let mut named_twice = false;
    let names = plan
        .batches
        .iter()
        .enumerate()
        .flat_map(|(batch, planned)| planned.modules.iter().map(move |name| (batch, name)));
    for (position, (batch, name)) in names.enumerate() {
        match slots.entry(name.as_str()) {
            Entry::Occupied(_) => named_twice = true,
            Entry::Vacant(entry) => {
                entry.insert(PlanSlot { batch, position });
            }
        }
    }
    (slots, named_twice)
}

/// Returns the first name in plan order that is missing from `modules` or named a second time.
fn first_plan_problem<M: ?Sized>(
    plan: &Plan,
    modules: &BTreeMap<String, Arc<M>>,
) -> Option<ExecuteError> {
    let mut seen = HashSet::new();
    for name in plan.batches.iter().flat_map(|batch| &batch.modules) {
        if !modules.contains_key(name) {
            return Some(ExecuteError::MissingModule { name: name.clone() });
        }
        if !seen.insert(name) {
            return Some(ExecuteError::DuplicateModule { name: name.clone() });
        }
    }
    None
}

/// Chooses the stages and ranks of a run: the plan's batches or one eager stage, ordered by
/// name, by priority or by the shuffle seed.
fn layout(
    plan: &Plan,
    graph: &Graph,
    batch_of: &[usize],
    options: &RunOptions,
    history: &BTreeMap<String, Duration>,
) -> Layout {
    let ranks = match (options.shuffle_seed, options.schedule) {
        (Some(seed), _) => {
            tracing::info!("shuffle seed: {seed}");
            priority::shuffled_ranks(graph, seed)
        }
        (None, Schedule::Eager) => priority::priority_ranks(graph, history),
        (None, Schedule::Batches) => priority::name_ranks(graph),
    };

    match options.schedule {
        Schedule::Batches => {
            let stage_descriptions = plan
                .batches
                .iter()
                .enumerate()
                .map(|(index, batch)| {
                    let kind = if batch.sequential {
                        "sequential"
                    } else {
                        "parallel"
                    };
                    format!(
                        "batch {}/{} ({kind}): {}",
                        index + 1,
                        plan.batches.len(),
                        batch.modules.join(", ")
                    )
                })
                .collect();
            Layout {
                stages: batch_of.to_vec(),
                stage_descriptions,
                ranks,
            }
        }
        Schedule::Eager => {
            let description = format!(
                "eager schedule: {} module(s), each starting once the modules it waits for have finished",
                graph.len()
            );
            Layout {
                stages: vec![0; graph.len()],
                stage_descriptions: vec![description],
                ranks,
            }
        }
    }
}
