//! Execution of a plan: batch after batch, the modules of a batch in parallel on a rayon pool.
//!
//! A module whose dependency failed or was skipped is skipped in turn, naming the module whose
//! failure caused it; every other module runs. [`execute`] returns a [`RunReport`] with one
//! [`ModuleReport`] per planned module, in plan order.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use crate::locks::LockManager;
use crate::module::{ModuleCode, RunFailure};
use crate::plan::Plan;
use crate::services::ModuleServices;

/// Errors that prevent a run from starting.
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
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Directory every context path resolves under.
    pub root: PathBuf,
    /// Worker threads.
    pub jobs: usize,
    /// Directory of the sidecar lock files.
    pub lock_dir: PathBuf,
}

/// How one module ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `configure` succeeded and changed something.
    Changed(String),
    /// `configure` succeeded and everything was already in place.
    Unchanged(String),
    /// `configure` returned an error or panicked.
    Failed(RunFailure),
    /// The module did not run because a module it depends on, directly or not, failed.
    Skipped {
        /// The dependency of this module that failed or was skipped.
        dependency: String,
        /// The module whose failure caused the skip.
        failed: String,
    },
}

impl Status {
    /// Returns the status word of the recap.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Changed(_) => "changed",
            Self::Unchanged(_) => "unchanged",
            Self::Failed(_) => "failed",
            Self::Skipped { .. } => "skipped",
        }
    }

    /// Returns whether the module ran to success.
    pub fn succeeded(&self) -> bool {
        matches!(self, Self::Changed(_) | Self::Unchanged(_))
    }
}

/// What happened to one module.
#[derive(Debug, Clone)]
pub struct ModuleReport {
    /// The module's name.
    pub name: String,
    /// How it ended.
    pub status: Status,
    /// When `configure` started; `None` for a skipped module.
    pub started: Option<SystemTime>,
    /// How long `configure` ran.
    pub duration: Duration,
    /// The worker thread that ran it.
    pub thread: Option<String>,
}

/// The outcome of a whole run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// One report per planned module, in plan order.
    pub modules: Vec<ModuleReport>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl RunReport {
    /// Returns whether every module succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.modules.iter().all(|module| module.status.succeeded())
    }

    /// Returns how many modules ended with the status labelled `label`.
    pub fn count(&self, label: &str) -> usize {
        self.modules
            .iter()
            .filter(|module| module.status.label() == label)
            .count()
    }
}

/// Runs `plan` over `modules`, giving each module its settings text from `settings`.
///
/// Every module named in the plan must be in `modules`.
pub fn execute(
    plan: &Plan,
    modules: &BTreeMap<String, &dyn ModuleCode>,
    settings: &BTreeMap<String, String>,
    options: &RunOptions,
) -> Result<RunReport, ExecuteError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs)
        .thread_name(|index| format!("worker-{index}"))
        .build()
        .map_err(|source| ExecuteError::Pool {
            jobs: options.jobs,
            source,
        })?;
    let locks = LockManager::new(options.lock_dir.clone());
    let started = Instant::now();
    let reports: Mutex<BTreeMap<String, ModuleReport>> = Mutex::new(BTreeMap::new());
    // Module name to the failed module that makes its dependents skip.
    let mut failed_cause: BTreeMap<String, String> = BTreeMap::new();

    for (index, batch) in plan.batches.iter().enumerate() {
        let kind = if batch.sequential {
            "sequential"
        } else {
            "parallel"
        };
        tracing::info!(
            "batch {}/{} ({kind}): {}",
            index + 1,
            plan.batches.len(),
            batch.modules.join(", ")
        );

        pool.scope(|scope| {
            for name in &batch.modules {
                let module = modules[name];
                if let Some(report) = skip_report(module, &failed_cause) {
                    tracing::info!(
                        "skipping module {name}: dependency {} did not succeed",
                        report_dependency(&report)
                    );
                    lock_reports(&reports).insert(name.clone(), report);
                    continue;
                }
                let (reports, locks) = (&reports, &locks);
                let settings = settings.get(name).map(String::as_str).unwrap_or("");
                scope.spawn(move |_| {
                    let report = run_module(module, settings, options, locks);
                    lock_reports(reports).insert(report.name.clone(), report);
                });
            }
        });

        // Record which modules of this batch make their dependents skip.
        let reports = lock_reports(&reports);
        for name in &batch.modules {
            match &reports[name].status {
                Status::Failed(_) => {
                    failed_cause.insert(name.clone(), name.clone());
                }
                Status::Skipped { failed, .. } => {
                    failed_cause.insert(name.clone(), failed.clone());
                }
                Status::Changed(_) | Status::Unchanged(_) => {}
            }
        }
    }

    let mut reports = reports.into_inner().unwrap_or_else(PoisonError::into_inner);
    let in_plan_order = plan
        .batches
        .iter()
        .flat_map(|batch| &batch.modules)
        .filter_map(|name| reports.remove(name))
        .collect();
    Ok(RunReport {
        modules: in_plan_order,
        elapsed: started.elapsed(),
    })
}

fn lock_reports(
    reports: &Mutex<BTreeMap<String, ModuleReport>>,
) -> std::sync::MutexGuard<'_, BTreeMap<String, ModuleReport>> {
    reports.lock().unwrap_or_else(PoisonError::into_inner)
}

fn report_dependency(report: &ModuleReport) -> &str {
    match &report.status {
        Status::Skipped { dependency, .. } => dependency,
        _ => "",
    }
}

/// Returns the skip report for `module` when one of its dependencies did not succeed.
fn skip_report(
    module: &dyn ModuleCode,
    failed_cause: &BTreeMap<String, String>,
) -> Option<ModuleReport> {
    let info = module.info();
    let mut dependencies: Vec<&String> = info.depends_on.iter().collect();
    dependencies.sort();
    let (dependency, failed) = dependencies.into_iter().find_map(|dependency| {
        failed_cause
            .get(dependency)
            .map(|failed| (dependency, failed))
    })?;
    Some(ModuleReport {
        name: info.name.clone(),
        status: Status::Skipped {
            dependency: dependency.clone(),
            failed: failed.clone(),
        },
        started: None,
        duration: Duration::ZERO,
        thread: None,
    })
}

fn run_module(
    module: &dyn ModuleCode,
    settings: &str,
    options: &RunOptions,
    locks: &Arc<LockManager>,
) -> ModuleReport {
    let name = module.info().name.clone();
    let services = ModuleServices::new(&name, &options.root, Arc::clone(locks));
    let thread = std::thread::current().name().map(str::to_owned);

    tracing::debug!(module = %name, "starting");
    let started = SystemTime::now();
    let clock = Instant::now();
    let result = module.configure(services.to_ffi(), settings);
    let duration = clock.elapsed();
    services.finish();

    let status = match result {
        Ok(outcome) if outcome.changed => Status::Changed(outcome.message),
        Ok(outcome) => Status::Unchanged(outcome.message),
        Err(failure) => {
            let verb = if failure.panicked {
                "panicked"
            } else {
                "failed"
            };
            tracing::error!("module {name} {verb}: {}", failure.message);
            Status::Failed(failure)
        }
    };
    tracing::debug!(module = %name, status = status.label(), ?duration, "finished");
    ModuleReport {
        name,
        status,
        started: Some(started),
        duration,
        thread,
    }
}
