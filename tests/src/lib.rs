//! Harness for the end-to-end tests: runs the real `configurator` binary on test plugins.
//!
//! [`artifacts`] builds the host and every test plugin under `tests/plugins/` once per test run.
//! Each test then makes a [`Sandbox`], a temporary directory with a plugin directory, a root and
//! a configuration file, runs the binary in it and inspects the resulting [`Output`] and the
//! traces the test modules left under the root. Read [`Sandbox`] first. [`corpus`] generates
//! damaged copies of plugin files for the tests of discovery.

mod artifacts;
pub mod corpus;
mod output;
mod sandbox;

pub use artifacts::{Artifacts, artifacts};
pub use configurator_testkit::{DESCRIPTION, TraceRecord};
pub use output::{Output, Status, Totals, contains_word};
pub use sandbox::{Running, Sandbox};
