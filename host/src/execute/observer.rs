//! [`RunObserver`]: a hook through which a caller follows a run as it happens, such as the
//! binary's progress display, without the executor knowing about terminals.

use std::fmt;

use super::ModuleReport;

/// Receives the coordinator's events of one run, on the coordinator's thread.
///
/// Every method has an empty default. The methods run between scheduling decisions, so they
/// must return quickly.
pub trait RunObserver: Send + Sync + fmt::Debug {
    /// Called once before any module starts, with the planned modules and stages: the plan's
    /// batches, or one stage for the eager schedule.
    fn run_started(&self, modules: usize, stages: usize) {
        let _ = (modules, stages);
    }

    /// Called when stage `stage` (counting from 0) opens.
    fn stage_started(&self, stage: usize) {
        let _ = stage;
    }

    /// Called when module `name` starts on a worker thread.
    fn module_started(&self, name: &str) {
        let _ = name;
    }

    /// Called when a module settles: it returned, timed out, was skipped or did not start.
    fn module_finished(&self, report: &ModuleReport) {
        let _ = report;
    }

    /// Called once when no module runs any more.
    fn run_finished(&self) {}
}
