//! The worker side of a run: the rayon pool that runs modules, and the job each module runs as.
//!
//! Every job reports back to the coordinator through an [`Event`] channel and never borrows from
//! the coordinator, because a job whose module timed out may outlive the whole run.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime};

use crate::module::{ModuleCode, ModuleResult, RunFailure};
use crate::services::ModuleServices;

/// A message to the coordinator.
#[derive(Debug)]
pub(crate) enum Event {
    /// A module's `configure` returned.
    Finished(Finished),
    /// The run's [`Interrupt`](super::Interrupt) was triggered.
    Interrupted,
}

/// The result of one module's `configure`, as its worker saw it.
#[derive(Debug)]
pub(crate) struct Finished {
    /// The module's number in the run's graph.
    pub(crate) index: usize,
    pub(crate) result: ModuleResult,
    pub(crate) started: SystemTime,
    pub(crate) duration: Duration,
    pub(crate) thread: Option<String>,
}

/// The rayon pool of `jobs` threads that modules run on, replaced after a module is abandoned.
///
/// An abandoned module keeps its thread busy, possibly forever, and rayon cannot kill a thread.
/// [`retire`](Self::retire) drops the pool's handle: rayon then ends each of its threads once
/// that thread's current job returns, and never hands it new work. The next
/// [`spawn`](Self::spawn) builds a fresh pool, so later modules never queue behind the stuck
/// thread. Modules still running on a retired pool finish there.
pub(crate) struct Workers {
    jobs: usize,
    pool: Option<rayon::ThreadPool>,
    /// Pools built so far; threads of the n-th pool are numbered from `n * jobs`, so every
    /// worker thread of a run has its own name.
    pools_built: usize,
}

impl Workers {
    /// Builds the first pool of `jobs` threads.
    pub(crate) fn new(jobs: usize) -> Result<Self, rayon::ThreadPoolBuildError> {
        let mut workers = Self {
            jobs,
            pool: None,
            pools_built: 0,
        };
        workers.pool = Some(workers.build_pool()?);
        Ok(workers)
    }

    /// Lets go of the current pool, whose threads include an abandoned one.
    pub(crate) fn retire(&mut self) {
        if self.pool.take().is_some() {
            tracing::debug!("retiring the worker pool; later modules start on a new pool");
        }
    }

    /// Runs `job` on a free thread of the current pool, building a new pool first if the last
    /// one was retired.
    pub(crate) fn spawn(
        &mut self,
        job: impl FnOnce() + Send + 'static,
    ) -> Result<(), rayon::ThreadPoolBuildError> {
        let pool = match self.pool.take() {
            Some(pool) => pool,
            None => self.build_pool()?,
        };
        pool.spawn(job);
        self.pool = Some(pool);
        Ok(())
    }

    fn build_pool(&mut self) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
        let first_thread = self.pools_built * self.jobs;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.jobs)
            .thread_name(move |index| format!("worker-{}", first_thread + index))
            .build()?;
        self.pools_built += 1;
        Ok(pool)
    }
}

/// Everything a job needs to run one module, owned so that the job may outlive the run.
pub(crate) struct Job<M: ?Sized> {
    pub(crate) index: usize,
    pub(crate) module: Arc<M>,
    pub(crate) settings: Arc<str>,
    pub(crate) services: ModuleServices,
    pub(crate) events: Sender<Event>,
}

impl<M: ModuleCode + ?Sized> Job<M> {
    /// Runs the module's `configure`, ends its services and reports the result.
    pub(crate) fn run(self) {
        let name = &self.module.info().name;
        let thread = std::thread::current().name().map(str::to_owned);
        tracing::debug!(module = %name, "starting");

        let started = SystemTime::now();
        let clock = Instant::now();
        // `ModuleCode::configure` promises not to panic. A panic escaping a rayon job would
        // abort the whole host, so this guard catches implementations that break the promise.
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            self.module
                .configure(self.services.to_ffi(), &self.settings)
        }))
        .unwrap_or_else(|payload| {
            Err(RunFailure {
                panicked: true,
                message: panic_message(payload.as_ref()),
            })
        });
        let duration = clock.elapsed();
        self.services.finish();

        tracing::debug!(module = %name, ok = result.is_ok(), ?duration, "finished");
        let finished = Finished {
            index: self.index,
            result,
            started,
            duration,
            thread,
        };
        // The receiver is gone when the run gave up on this module and has already ended.
        let _ = self.events.send(Event::Finished(finished));
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned())
}
