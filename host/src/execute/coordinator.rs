//! The coordinator: the loop that decides which module starts when, on the thread that called
//! [`execute`](super::execute).
//!
//! The coordinator owns every piece of scheduling state, so nothing in it is locked. Modules run
//! as jobs on a [`Workers`] pool and report back over a channel. Between events the coordinator
//! sleeps in `recv_timeout` until the nearest deadline: a running module's timeout or the end of
//! an interrupt's grace period. A module that passes its deadline is abandoned there: its slot is
//! given back, its services are ended, its pool is retired, and its dependents are skipped.
//!
//! Modules move through four states: waiting for predecessors, ready, running and settled.
//! When a module settles, each module whose predecessors have all settled becomes ready, or is
//! skipped when one of its `depends_on` dependencies did not succeed. In a check run a module
//! that does not support check mode is skipped too, at the moment it would become ready.
//!
//! Ready modules wait in one queue per stage, ordered by rank. In the batch schedule each batch
//! is a stage, and the next stage opens when every module of the current one has settled. In
//! the eager schedule there is one stage.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant, SystemTime};

use crate::deadline::deadline_after;
use crate::locks::LockManager;
use crate::module::ModuleCode;
use crate::services::ModuleServices;

use super::RunOptions;
use super::graph::Graph;
use super::report::{ModuleReport, SkipCause, Status, StopReason};
use super::worker::{Event, Finished, Job, Workers};

/// How long the coordinator polls for a worker's event before it blocks on the channel. It
/// bounds the processor time spent polling per wait, and is far below any module timeout.
const POLL_BEFORE_BLOCKING: Duration = Duration::from_micros(50);

/// The stages of a run and the start order within each.
pub(super) struct Layout {
    /// Each module's stage, by module number.
    pub(super) stages: Vec<usize>,
    /// A log line for the start of each stage; empty for none.
    pub(super) stage_descriptions: Vec<String>,
    /// Each module's rank within its stage's queue, lower first.
    pub(super) ranks: Vec<usize>,
}

/// The end of a run as the coordinator saw it.
pub(super) struct Outcome {
    /// One report per module, by module number.
    pub(super) reports: Vec<ModuleReport>,
    /// Whether the run's interrupt was triggered.
    pub(super) interrupted: bool,
}

enum State {
    Waiting,
    Ready,
    Running(RunningModule),
    Settled(ModuleReport),
}

struct RunningModule {
    started: SystemTime,
    clock: Instant,
    /// The module's timeout, if one applies.
    limit: Option<Duration>,
    services: ModuleServices,
}

impl RunningModule {
    /// Returns when the module times out. `None` means it runs without a limit, because it
    /// has no timeout or one too large for a deadline.
    fn deadline(&self) -> Option<Instant> {
        self.limit
            .and_then(|limit| deadline_after(self.clock, limit))
    }
}

pub(super) struct Coordinator<'a, M: ?Sized> {
    graph: &'a Graph,
    modules: Vec<Arc<M>>,
    settings: Vec<Arc<str>>,
    options: &'a RunOptions,
    layout: Layout,
    locks: Arc<LockManager>,
    workers: Workers,
    states: Vec<State>,
    /// Per module, how many of its predecessors have not settled yet.
    unsettled_predecessors: Vec<usize>,
    /// Per stage, how many of its modules have not settled yet.
    unsettled_in_stage: Vec<usize>,
    /// Per stage, its ready modules as `(rank, module)`, lowest rank on top.
    ready: Vec<BinaryHeap<Reverse<(usize, usize)>>>,
    stage: usize,
    /// Modules whose jobs run and whose results are still awaited, by module number.
    running: Vec<usize>,
    sequential_running: bool,
    /// The reason no new module may start, once something stopped the run.
    stop: Option<StopReason>,
    interrupts_seen: usize,
    grace_deadline: Option<Instant>,
    sender: Sender<Event>,
    receiver: Receiver<Event>,
}

impl<'a, M: ModuleCode + ?Sized + 'static> Coordinator<'a, M> {
    /// Prepares a run of `modules` and `settings`, both by module number.
    pub(super) fn new(
        graph: &'a Graph,
        modules: Vec<Arc<M>>,
        settings: Vec<Arc<str>>,
        options: &'a RunOptions,
        layout: Layout,
        workers: Workers,
    ) -> Self {
        let stage_count = layout.stage_descriptions.len();
        let mut unsettled_in_stage = vec![0; stage_count];
        for &stage in &layout.stages {
            unsettled_in_stage[stage] += 1;
        }
        let (sender, receiver) = mpsc::channel();
        Self {
            graph,
            modules,
            settings,
            options,
            locks: if options.check {
                LockManager::without_sidecars(options.lock_timeout)
            } else {
                LockManager::with_timeout(options.lock_dir.clone(), options.lock_timeout)
            },
            workers,
            states: (0..graph.len()).map(|_| State::Waiting).collect(),
            unsettled_predecessors: graph.predecessors.iter().map(Vec::len).collect(),
            unsettled_in_stage,
            ready: (0..stage_count).map(|_| BinaryHeap::new()).collect(),
            stage: 0,
            running: Vec::new(),
            sequential_running: false,
            stop: None,
            interrupts_seen: 0,
            grace_deadline: None,
            sender,
            receiver,
            layout,
        }
    }

    /// Runs every module it can and returns when nothing is left running.
    pub(super) fn run(mut self) -> Outcome {
        if let Some(interrupt) = &self.options.interrupt
            && interrupt.listen(self.sender.clone())
        {
            self.on_interrupt();
        }
        for index in 0..self.graph.len() {
            // A module skipped for lack of check support settles at once, and its dependents
            // may then be decided before the loop reaches them.
            if self.unsettled_predecessors[index] == 0
                && matches!(self.states[index], State::Waiting)
            {
                if self.lacks_check_support(index) {
                    let report = self.check_skip_report(index);
                    self.settle(index, report);
                } else {
                    self.make_ready(index);
                }
            }
        }
        if let Some(observer) = &self.options.observer {
            observer.run_started(self.graph.len(), self.ready.len());
        }
        self.log_stage_start();

        loop {
            if self.stop.is_none() {
                self.advance_stages();
                self.start_ready();
            }
            if self.running.is_empty() {
                break;
            }
            self.wait_for_event();
        }

        if let Some(interrupt) = &self.options.interrupt {
            interrupt.stop_listening();
        }
        self.settle_leftovers();
        self.into_outcome()
    }

    /// Opens the next stages while the current one has settled.
    fn advance_stages(&mut self) {
        while self.stage + 1 < self.ready.len() && self.unsettled_in_stage[self.stage] == 0 {
            self.stage += 1;
            self.log_stage_start();
        }
    }

    fn log_stage_start(&self) {
        if let Some(observer) = &self.options.observer
            && self.stage < self.ready.len()
        {
            observer.stage_started(self.stage);
        }
        if let Some(description) = self.layout.stage_descriptions.get(self.stage)
            && !description.is_empty()
        {
            tracing::info!("{description}");
        }
    }

    /// Starts ready modules of the current stage, best rank first, while threads are free.
    ///
    /// A sequential module at the head of the queue waits until nothing runs, and while it runs
    /// nothing else starts.
    fn start_ready(&mut self) {
        while self.running.len() < self.options.jobs && !self.sequential_running {
            // A plan without batches has no stage at all.
            let Some(queue) = self.ready.get_mut(self.stage) else {
                break;
            };
            let Some(&Reverse((_, index))) = queue.peek() else {
                break;
            };
            if self.graph.sequential[index] && !self.running.is_empty() {
                break;
            }
            queue.pop();
            if let Err(error) = self.start(index) {
                tracing::error!(
                    "cannot start worker threads for module {}: {error}; starting no more \
                     modules",
                    self.graph.names[index]
                );
                self.stop = Some(StopReason::NoWorkers {
                    error: error.to_string(),
                });
                break;
            }
        }
    }

    fn start(&mut self, index: usize) -> Result<(), rayon::ThreadPoolBuildError> {
        let name = &self.graph.names[index];
        let services = ModuleServices::audited(
            name,
            &self.options.root,
            Arc::clone(&self.locks),
            self.options.audit.clone(),
        )
        .with_changes(self.options.check, self.options.changes.clone())
        .with_lock_waits(self.options.lock_waits.clone());
        let job = Job {
            index,
            module: Arc::clone(&self.modules[index]),
            settings: Arc::clone(&self.settings[index]),
            services: services.clone(),
            events: self.sender.clone(),
        };
        self.workers.spawn(move || job.run())?;
        if let Some(observer) = &self.options.observer {
            observer.module_started(name);
        }

        self.states[index] = State::Running(RunningModule {
            started: SystemTime::now(),
            clock: Instant::now(),
            limit: self.options.timeout_for(name),
            services,
        });
        self.running.push(index);
        if self.graph.sequential[index] {
            self.sequential_running = true;
        }
        Ok(())
    }

    /// Waits for the next event or the nearest deadline, then handles what came and every event
    /// queued behind it.
    fn wait_for_event(&mut self) {
        let event = match self.poll_briefly() {
            Some(event) => Some(event),
            None => match self.next_deadline() {
                Some(deadline) => {
                    let wait = deadline.saturating_duration_since(Instant::now());
                    // A timeout means a deadline passed, which `expire_deadlines` handles below.
                    self.receiver.recv_timeout(wait).ok()
                }
                // The coordinator owns a sender itself, so `recv` waits for the next event
                // instead of failing.
                None => self.receiver.recv().ok(),
            },
        };
        // Handling everything queued before starting modules again lets the best-ranked of all
        // newly ready modules start first.
        let mut next = event;
        while let Some(event) = next {
            match event {
                Event::Finished(finished) => self.on_finished(finished),
                Event::Interrupted => self.on_interrupt(),
            }
            next = self.receiver.try_recv().ok();
        }
        self.expire_deadlines(Instant::now());
    }

    /// Polls for an event for up to [`POLL_BEFORE_BLOCKING`], yielding the processor between
    /// attempts.
    ///
    /// Short modules finish within microseconds, and blocking on the channel would then cost a
    /// futex wait here and a futex wake in the worker for every module.
    fn poll_briefly(&self) -> Option<Event> {
        let start = Instant::now();
        loop {
            if let Ok(event) = self.receiver.try_recv() {
                return Some(event);
            }
            if start.elapsed() >= POLL_BEFORE_BLOCKING {
                return None;
            }
            std::thread::yield_now();
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let module_deadlines = self
            .running
            .iter()
            .filter_map(|&index| self.running_module(index)?.deadline());
        module_deadlines.chain(self.grace_deadline).min()
    }

    fn running_module(&self, index: usize) -> Option<&RunningModule> {
        match &self.states[index] {
            State::Running(running) => Some(running),
            _ => None,
        }
    }

    fn on_finished(&mut self, finished: Finished) {
        let index = finished.index;
        let name = &self.graph.names[index];
        if !matches!(self.states[index], State::Running(_)) {
            tracing::debug!("module {name} returned after the host abandoned it; ignoring it");
            return;
        }
        self.leave_running(index);

        let status = match finished.result {
            Ok(outcome) if outcome.changed => Status::Changed(outcome.message),
            Ok(outcome) => Status::Unchanged(outcome.message),
            Err(failure) => {
                let verb = if failure.panicked {
                    "panicked"
                } else {
                    "failed"
                };
                tracing::error!(
                    "module {name} {verb}: {}",
                    crate::output::printable(&failure.message)
                );
                Status::Failed(failure)
            }
        };
        let report = ModuleReport {
            name: name.clone(),
            status,
            started: Some(finished.started),
            duration: finished.duration,
            thread: finished.thread,
        };
        self.settle(index, report);
    }

    fn on_interrupt(&mut self) {
        let Some(interrupt) = &self.options.interrupt else {
            return;
        };
        // One trigger can be seen twice, through `listen` and through the channel.
        let count = interrupt.trigger_count();
        if count <= self.interrupts_seen {
            return;
        }
        let first = self.interrupts_seen == 0;
        self.interrupts_seen = count;
        let now = Instant::now();

        if first {
            let grace = self.options.interrupt_grace;
            tracing::warn!(
                "interrupted: starting no new modules; waiting up to {grace:?} for {} running \
                 module(s)",
                self.running.len()
            );
            // A fail-fast stop that came first stays the reason the rest did not start.
            self.stop.get_or_insert(StopReason::Interrupted);
            self.grace_deadline = deadline_after(now, grace);
        }
        if count > 1 && !self.running.is_empty() {
            tracing::warn!("interrupted again: abandoning the running modules now");
            self.grace_deadline = Some(now);
        }
    }

    /// Abandons every running module whose timeout passed, and all of them once the grace
    /// period of an interrupt has ended.
    fn expire_deadlines(&mut self, now: Instant) {
        let grace_over = self.grace_deadline.is_some_and(|deadline| deadline <= now);
        let mut expired: Vec<(usize, Status)> = Vec::new();
        for &index in &self.running {
            let Some(running) = self.running_module(index) else {
                continue;
            };
            match running.limit {
                Some(limit) if running.deadline().is_some_and(|deadline| deadline <= now) => {
                    expired.push((index, Status::TimedOut { limit }));
                }
                _ if grace_over => expired.push((index, Status::Interrupted)),
                _ => {}
            }
        }
        expired.sort_by_key(|(index, _)| *index);
        for (index, status) in expired {
            self.abandon(index, status);
        }
    }

    /// Gives up on a running module: its thread is left running, its slot is given back, its
    /// services end and its worker pool is replaced for later starts.
    fn abandon(&mut self, index: usize, status: Status) {
        let State::Running(running) = std::mem::replace(&mut self.states[index], State::Waiting)
        else {
            return;
        };
        self.leave_running(index);
        let name = &self.graph.names[index];
        match &status {
            Status::TimedOut { limit } => tracing::warn!(
                "module {name} timed out after {limit:?}; abandoning its thread and releasing \
                 its locks"
            ),
            _ => tracing::warn!(
                "module {name} is still running after the interrupt's grace period; abandoning \
                 its thread and releasing its locks"
            ),
        }
        running.services.abandon();
        self.workers.retire();

        let report = ModuleReport {
            name: name.clone(),
            status,
            started: Some(running.started),
            duration: running.clock.elapsed(),
            thread: None,
        };
        self.settle(index, report);
    }

    fn leave_running(&mut self, index: usize) {
        self.running.retain(|&running| running != index);
        if self.graph.sequential[index] {
            self.sequential_running = false;
        }
    }

    /// Records how `index` ended and decides every module that now has all its predecessors
    /// settled.
    fn settle(&mut self, index: usize, report: ModuleReport) {
        if self.options.fail_fast
            && self.stop.is_none()
            && matches!(report.status, Status::Failed(_) | Status::TimedOut { .. })
        {
            tracing::warn!(
                "fail-fast: module {} {}; starting no new modules",
                report.name,
                report.status.label()
            );
            self.stop = Some(StopReason::FailFast {
                failed: report.name.clone(),
            });
        }
        self.mark_settled(index, report);

        // `graph` borrows from the caller, not from `self`, so `self` stays free to change.
        let graph = self.graph;
        let mut newly_settled = vec![index];
        while let Some(settled) = newly_settled.pop() {
            for &dependent in &graph.successors[settled] {
                self.unsettled_predecessors[dependent] -= 1;
                if self.unsettled_predecessors[dependent] > 0 {
                    continue;
                }
                // Its own lack of check support is the more direct reason for a skip.
                if self.lacks_check_support(dependent) {
                    let report = self.check_skip_report(dependent);
                    self.mark_settled(dependent, report);
                    newly_settled.push(dependent);
                    continue;
                }
                match self.skip_status(dependent) {
                    Some(status) => {
                        let name = &graph.names[dependent];
                        if let Status::Skipped {
                            dependency, cause, ..
                        } = &status
                        {
                            let reason = match cause {
                                SkipCause::NoCheckSupport => "does not support check mode",
                                _ => "did not succeed",
                            };
                            tracing::info!(
                                "skipping module {name}: dependency {dependency} {reason}"
                            );
                        }
                        self.mark_settled(dependent, ModuleReport::without_start(name, status));
                        newly_settled.push(dependent);
                    }
                    None => self.make_ready(dependent),
                }
            }
        }
    }

    fn mark_settled(&mut self, index: usize, report: ModuleReport) {
        if let Some(observer) = &self.options.observer {
            observer.module_finished(&report);
        }
        self.unsettled_in_stage[self.layout.stages[index]] -= 1;
        self.states[index] = State::Settled(report);
    }

    /// Returns whether the run is a check run and the module does not support check mode.
    fn lacks_check_support(&self, index: usize) -> bool {
        self.options.check && !self.modules[index].supports_check()
    }

    /// Returns the report of a module that a check run skips because it does not support
    /// check mode.
    fn check_skip_report(&self, index: usize) -> ModuleReport {
        let name = &self.graph.names[index];
        tracing::info!("skipping module {name}: it does not support check mode");
        ModuleReport::without_start(name, Status::NoCheckSupport)
    }

    fn make_ready(&mut self, index: usize) {
        self.states[index] = State::Ready;
        let stage = self.layout.stages[index];
        self.ready[stage].push(Reverse((self.layout.ranks[index], index)));
    }

    /// Returns the status of a module whose predecessors all settled, if one of its
    /// `depends_on` dependencies did not succeed.
    ///
    /// The module is skipped when a dependency failed, timed out, was interrupted or was
    /// skipped, naming the first such dependency by name. Otherwise it is not started when a
    /// dependency did not start.
    fn skip_status(&self, index: usize) -> Option<Status> {
        let mut not_started = None;
        for &dependency in &self.graph.dependencies[index] {
            let State::Settled(report) = &self.states[dependency] else {
                continue;
            };
            let (failed, cause) = match &report.status {
                Status::Changed(_) | Status::Unchanged(_) => continue,
                Status::NotStarted(reason) => {
                    not_started.get_or_insert_with(|| Status::NotStarted(reason.clone()));
                    continue;
                }
                Status::Failed(_) => (&report.name, SkipCause::Failed),
                Status::TimedOut { .. } => (&report.name, SkipCause::TimedOut),
                Status::Interrupted => (&report.name, SkipCause::Interrupted),
                Status::NoCheckSupport => (&report.name, SkipCause::NoCheckSupport),
                Status::Skipped { failed, cause, .. } => (failed, *cause),
            };
            return Some(Status::Skipped {
                dependency: self.graph.names[dependency].clone(),
                failed: failed.clone(),
                cause,
            });
        }
        not_started
    }

    /// Settles every module left over after a stop: a ready module did not start, and each
    /// module waiting for it is then skipped or not started as its dependencies decide.
    fn settle_leftovers(&mut self) {
        let Some(reason) = self.stop.clone() else {
            return;
        };
        let ready: Vec<usize> = (0..self.graph.len())
            .filter(|&index| matches!(self.states[index], State::Ready))
            .collect();
        for index in ready {
            let name = &self.graph.names[index];
            let report = ModuleReport::without_start(name, Status::NotStarted(reason.clone()));
            self.settle(index, report);
        }
    }

    fn into_outcome(self) -> Outcome {
        let reports = self
            .states
            .into_iter()
            .map(|state| match state {
                State::Settled(report) => report,
                // Without a stop, some module is always ready or running while any is
                // unsettled, because `execute` checked that the plan puts every module after
                // the modules it waits for. After a stop, `settle_leftovers` settled the rest.
                State::Waiting | State::Ready | State::Running(_) => {
                    unreachable!("every module settles before a run ends")
                }
            })
            .collect();
        Outcome {
            reports,
            interrupted: self.interrupts_seen > 0,
        }
    }
}
