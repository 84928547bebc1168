//! Execution of a plan: the modules of a run on a pool of worker threads, in one of two
//! schedules, with timeouts, fail-fast and interrupts.
//!
//! [`execute`] is the entry point. [`Schedule::Batches`] runs the plan's batches one after the
//! other; [`Schedule::Eager`] starts each module as soon as the modules it waits for
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
mod priority;
mod report;
mod worker;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audit::AccessLog;
use crate::module::ModuleCode;
use crate::plan::Plan;

use coordinator::{Coordinator, Layout};
use graph::Graph;
use worker::Workers;

pub use durations::{
    DURATIONS_FILE_NAME, DurationsError, default_durations_path, load_durations, save_durations,
};
pub use interrupt::Interrupt;
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
    /// Where module file accesses are recorded for the access audit; `None` records nothing.
    pub audit: Option<Arc<AccessLog>>,
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
    let (graph, batch_of) = planned_graph(plan, modules)?;
    let jobs = options.jobs.max(1);
    let workers = Workers::new(jobs).map_err(|source| ExecuteError::Pool { jobs, source })?;

    let history = match &options.durations_file {
        Some(path) => load_durations(path),
        None => BTreeMap::new(),
    };
    let layout = layout(plan, &graph, &batch_of, options, &history);
    let ordered_modules = graph
        .names
        .iter()
        .map(|name| Arc::clone(&modules[name]))
        .collect();
    let ordered_settings = graph
        .names
        .iter()
        .map(|name| Arc::from(settings.get(name).map_or("", String::as_str)))
        .collect();

    let run_options = RunOptions {
        jobs,
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

    let mut reports: Vec<Option<ModuleReport>> = outcome.reports.into_iter().map(Some).collect();
    let in_plan_order = plan
        .batches
        .iter()
        .flat_map(|batch| &batch.modules)
        .filter_map(|name| reports[graph.index_of(name)?].take())
        .collect();
    let report = RunReport {
        modules: in_plan_order,
        elapsed: started.elapsed(),
        schedule: options.schedule,
        shuffle_seed: options.shuffle_seed,
        interrupted: outcome.interrupted,
    };

    if let Some(path) = &options.durations_file
        && let Err(error) = save_durations(path, &history, &report)
    {
        tracing::warn!("{:#}", anyhow::Error::from(error));
    }
    Ok(report)
}

/// Builds the graph of the planned modules and each module's batch, checking that the plan
/// names known modules once each and puts every module's predecessors, its `depends_on` and
/// its `after` targets in the run, in earlier batches.
fn planned_graph<M: ModuleCode + ?Sized>(
    plan: &Plan,
    modules: &BTreeMap<String, Arc<M>>,
) -> Result<(Graph, Vec<usize>), ExecuteError> {
    let mut planned = BTreeSet::new();
    let mut infos = Vec::new();
    for name in plan.batches.iter().flat_map(|batch| &batch.modules) {
        let module = modules
            .get(name)
            .ok_or_else(|| ExecuteError::MissingModule { name: name.clone() })?;
        if !planned.insert(name) {
            return Err(ExecuteError::DuplicateModule { name: name.clone() });
        }
        infos.push(module.info());
    }
    let graph = Graph::new(infos);

    let mut batch_of = vec![0; graph.len()];
    for (batch_index, batch) in plan.batches.iter().enumerate() {
        for name in &batch.modules {
            if let Some(index) = graph.index_of(name) {
                batch_of[index] = batch_index;
            }
        }
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
    Ok((graph, batch_of))
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
