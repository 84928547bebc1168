//! End-to-end tests: the real `configurator` binary loading the test plugins from
//! `tests/plugins/` in a temporary sandbox.
//!
//! The harness in `configurator_e2e` builds the host and the plugins once per test run. Each
//! submodule covers one part of the command-line contract. Checks of ordering and overlap read
//! the traces the modules left, never wall-clock durations.

mod authoring;
mod bundled;
mod check_mode;
mod compatibility;
mod config;
mod confinement;
mod discovery;
mod failures;
mod json_output;
mod locking;
mod logging;
mod operator;
mod planning;
mod rejection;
mod report;
mod schedule;
mod scheduling;
mod settings;
mod shared_files;
mod stress;
mod timeline;
mod trust;
mod versions;

use std::collections::BTreeMap;
use std::path::Path;

use configurator_e2e::{Sandbox, TraceRecord};

/// Returns `path` as text, for matching it in output.
fn path_text(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Collects the one trace record of each named module, failing unless each ran exactly once.
fn traces(sandbox: &Sandbox, modules: &[&str]) -> BTreeMap<String, TraceRecord> {
    modules
        .iter()
        .map(|module| (module.to_string(), sandbox.trace(module)))
        .collect()
}

/// Asserts that `first` returned before `second` started.
fn assert_finished_before(
    traces: &BTreeMap<String, TraceRecord>,
    first: &str,
    second: &str,
    reason: &str,
) {
    let earlier = &traces[first];
    let later = &traces[second];
    assert!(
        earlier.end_ns <= later.start_ns,
        "`{first}` must finish before `{second}` starts ({reason}), but `{first}` ended at \
         {} ns and `{second}` started at {} ns",
        earlier.end_ns,
        later.start_ns
    );
}

/// Asserts that `first` and `second` were running at the same moment.
fn assert_overlap(traces: &BTreeMap<String, TraceRecord>, first: &str, second: &str, reason: &str) {
    let first_trace = &traces[first];
    let second_trace = &traces[second];
    assert!(
        first_trace.overlaps(second_trace),
        "`{first}` and `{second}` should have run at the same time ({reason}), but ran \
         [{}, {}] and [{}, {}] ns",
        first_trace.start_ns,
        first_trace.end_ns,
        second_trace.start_ns,
        second_trace.end_ns
    );
}
