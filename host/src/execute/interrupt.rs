//! [`Interrupt`]: a request to stop a run, shared between a signal handler and the coordinator.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};

use super::worker::Event;

/// A handle that stops a run early; clones share one state.
///
/// The first [`trigger`](Self::trigger) makes the run start no new module and wait up to its
/// grace period for the running ones. A second trigger ends the grace period at once.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    inner: Arc<InterruptState>,
}

#[derive(Debug, Default)]
struct InterruptState {
    triggers: AtomicUsize,
    /// The coordinator of the run in progress, woken by each trigger.
    listener: Mutex<Option<Sender<Event>>>,
}

impl Interrupt {
    /// Creates a handle that has not been triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests the run to stop. Safe to call from any thread, such as a signal handler's.
    pub fn trigger(&self) {
        self.inner.triggers.fetch_add(1, Ordering::SeqCst);
        if let Some(listener) = self.listener().as_ref() {
            // A run that already ended has dropped its receiver; nothing is left to stop.
            let _ = listener.send(Event::Interrupted);
        }
    }

    /// Returns how many times the handle was triggered.
    pub fn trigger_count(&self) -> usize {
        self.inner.triggers.load(Ordering::SeqCst)
    }

    /// Wakes `listener` on every later trigger, and returns whether a trigger came before.
    pub(super) fn listen(&self, listener: Sender<Event>) -> bool {
        *self.listener() = Some(listener);
        self.trigger_count() > 0
    }

    /// Stops waking the listener of a run that ended.
    pub(super) fn stop_listening(&self) {
        *self.listener() = None;
    }

    fn listener(&self) -> std::sync::MutexGuard<'_, Option<Sender<Event>>> {
        self.inner
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
