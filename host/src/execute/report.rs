//! The report of a run: [`RunReport`], one [`ModuleReport`] per planned module with its
//! [`Status`].

use std::time::{Duration, SystemTime};

use crate::module::RunFailure;

use super::Schedule;

/// The outcome of one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `configure` succeeded and changed something.
    Changed(String),
    /// `configure` succeeded and everything was already in place.
    Unchanged(String),
    /// `configure` returned an error or panicked.
    Failed(RunFailure),
    /// `configure` ran longer than the module's timeout. Its thread was abandoned and may still
    /// be running; its host services were shut down and its locks released.
    TimedOut {
        /// The timeout that applied to the module.
        limit: Duration,
    },
    /// `configure` was still running when the run was interrupted and the grace period ended.
    /// Its thread was abandoned like that of a timed-out module.
    Interrupted,
    /// The module did not run because a module it depends on, directly or not, did not succeed.
    Skipped {
        /// The dependency of this module that did not succeed.
        dependency: String,
        /// The module whose failure caused the skip; equal to `dependency` unless the
        /// dependency was skipped in turn.
        failed: String,
        /// The outcome of `failed`.
        cause: SkipCause,
    },
    /// The run stopped starting modules before this one could start.
    NotStarted(StopReason),
    /// The run is a check run and the module does not support check mode, so it did not run.
    NoCheckSupport,
}

/// The outcome of the module whose failure caused a skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipCause {
    /// It returned an error or panicked.
    Failed,
    /// It ran longer than its timeout.
    TimedOut,
    /// It was abandoned when the run was interrupted.
    Interrupted,
    /// It does not support check mode, so a check run did not run it.
    NoCheckSupport,
}

impl SkipCause {
    /// Returns the verb phrase of the recap, such as `timed out`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::TimedOut => "timed out",
            Self::Interrupted => "was interrupted",
            Self::NoCheckSupport => "does not support check mode",
        }
    }
}

/// The reason a run stopped starting modules before the end of its plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// `--fail-fast` was given and this module failed or timed out.
    FailFast {
        /// The first module that failed or timed out.
        failed: String,
    },
    /// The run was interrupted by a signal or by [`Interrupt::trigger`].
    ///
    /// [`Interrupt::trigger`]: super::Interrupt::trigger
    Interrupted,
    /// No worker thread could be started after a timed-out module's pool was retired.
    NoWorkers {
        /// rayon's error message.
        error: String,
    },
}

impl Status {
    /// Returns the status words of the recap.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Changed(_) => "changed",
            Self::Unchanged(_) => "unchanged",
            Self::Failed(_) => "failed",
            Self::TimedOut { .. } => "timed out",
            Self::Interrupted => "interrupted",
            Self::Skipped { .. } | Self::NoCheckSupport => "skipped",
            Self::NotStarted(_) => "not started",
        }
    }

    /// Returns whether the module ran to success.
    pub fn succeeded(&self) -> bool {
        matches!(self, Self::Changed(_) | Self::Unchanged(_))
    }

    /// Returns whether the module's `configure` was called.
    pub fn started(&self) -> bool {
        !matches!(
            self,
            Self::Skipped { .. } | Self::NotStarted(_) | Self::NoCheckSupport
        )
    }

    /// Returns whether a check run skipped the module because it, or a module it depends on,
    /// does not support check mode.
    pub fn skipped_for_check(&self) -> bool {
        matches!(
            self,
            Self::NoCheckSupport
                | Self::Skipped {
                    cause: SkipCause::NoCheckSupport,
                    ..
                }
        )
    }

    /// Returns whether the module's thread was left running when the module was given up on.
    pub fn abandoned(&self) -> bool {
        matches!(self, Self::TimedOut { .. } | Self::Interrupted)
    }
}

/// The report of one module.
#[derive(Debug, Clone)]
pub struct ModuleReport {
    /// The module's name.
    pub name: String,
    /// Its outcome.
    pub status: Status,
    /// When `configure` started; `None` for a module that never started.
    pub started: Option<SystemTime>,
    /// How long `configure` ran, or ran until it was abandoned.
    pub duration: Duration,
    /// The worker thread that ran it; `None` when it never started or was abandoned.
    pub thread: Option<String>,
}

impl ModuleReport {
    /// Creates the report of a module that never started.
    pub(super) fn without_start(name: &str, status: Status) -> Self {
        Self {
            name: name.to_owned(),
            status,
            started: None,
            duration: Duration::ZERO,
            thread: None,
        }
    }
}

/// The outcome of a whole run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// One report per planned module, in plan order.
    pub modules: Vec<ModuleReport>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// The schedule the run followed.
    pub schedule: Schedule,
    /// The seed of the shuffled start order, when the run shuffled it.
    pub shuffle_seed: Option<u64>,
    /// Whether the run was interrupted.
    pub interrupted: bool,
}

impl RunReport {
    /// Returns whether every module succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.modules.iter().all(|module| module.status.succeeded())
    }

    /// Returns whether every module succeeded or was skipped by a check run because it, or a
    /// module it depends on, does not support check mode.
    pub fn all_succeeded_or_check_skipped(&self) -> bool {
        self.modules
            .iter()
            .all(|module| module.status.succeeded() || module.status.skipped_for_check())
    }

    /// Returns how many modules ended with the status labelled `label`.
    pub fn count(&self, label: &str) -> usize {
        self.modules
            .iter()
            .filter(|module| module.status.label() == label)
            .count()
    }

    /// Returns the report of the module named `name`.
    pub fn module(&self, name: &str) -> Option<&ModuleReport> {
        self.modules.iter().find(|module| module.name == name)
    }
}
