//! The progress display of `run` on a terminal: [`Progress`], an indicatif bar on stderr that
//! the executor drives through [`RunObserver`].
//!
//! The bar shows the elapsed time, finished modules out of all planned ones, the batch in
//! progress out of the total and the modules running now. Log lines still go to stderr while it
//! is shown: [`log_writer`] clears the bar, writes the line and redraws the bar below it.

use std::io::{self, Write};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use configurator::execute::{ModuleReport, RunObserver};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the bar redraws on its own, so that the elapsed time moves while nothing finishes.
const TICK: Duration = Duration::from_millis(200);

/// Running modules named on the bar; more are counted as `+N`.
const MAX_NAMED: usize = 4;

/// The bar of the run, once one is shown; log lines suspend it while they are written.
static ACTIVE_BAR: OnceLock<ProgressBar> = OnceLock::new();

/// The progress display of one run.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    state: Mutex<ProgressState>,
}

#[derive(Debug, Default)]
struct ProgressState {
    stages: usize,
    stage: usize,
    /// Running modules in the order they started.
    running: Vec<String>,
    /// Finished modules that did not succeed.
    unsuccessful: usize,
}

impl Progress {
    /// Creates the display on stderr. Call it only when stderr is a terminal.
    pub fn new() -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:24} {pos}/{len} finished  {wide_msg}",
        )
        .expect("the progress template is valid");
        bar.set_style(style);
        let _ = ACTIVE_BAR.set(bar.clone());
        Self {
            bar,
            state: Mutex::new(ProgressState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn redraw(&self, state: &ProgressState) {
        let mut running = state
            .running
            .iter()
            .take(MAX_NAMED)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if state.running.len() > MAX_NAMED {
            running.push_str(&format!(" +{}", state.running.len() - MAX_NAMED));
        }
        let mut message = format!("batch {}/{}", state.stage + 1, state.stages.max(1));
        if state.unsuccessful > 0 {
            message.push_str(&format!("  {} not succeeded", state.unsuccessful));
        }
        if !running.is_empty() {
            message.push_str(&format!("  running: {running}"));
        }
        self.bar.set_message(message);
    }
}

impl RunObserver for Progress {
    fn run_started(&self, modules: usize, stages: usize) {
        self.bar.set_length(modules as u64);
        self.bar.enable_steady_tick(TICK);
        let mut state = self.state();
        state.stages = stages;
        self.redraw(&state);
    }

    fn stage_started(&self, stage: usize) {
        let mut state = self.state();
        state.stage = stage;
        self.redraw(&state);
    }

    fn module_started(&self, name: &str) {
        let mut state = self.state();
        state.running.push(name.to_owned());
        self.redraw(&state);
    }

    fn module_finished(&self, report: &ModuleReport) {
        let mut state = self.state();
        state.running.retain(|name| *name != report.name);
        if !report.status.succeeded() && !report.status.skipped_for_check() {
            state.unsuccessful += 1;
        }
        self.bar.inc(1);
        self.redraw(&state);
    }

    fn run_finished(&self) {
        self.bar.finish_and_clear();
    }
}

/// Returns the writer of one log line: stderr, with the progress bar cleared while the line is
/// written when one is shown.
pub fn log_writer() -> LogWriter {
    LogWriter
}

/// Writes log lines to stderr around the progress bar.
#[derive(Debug)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match ACTIVE_BAR.get() {
            Some(bar) if !bar.is_finished() => bar.suspend(|| io::stderr().write(buf)),
            _ => io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
