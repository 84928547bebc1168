//! Mapping of system paths onto the run's root, from `plugin_api::paths`, which the host shares
//! with the test harness module authors use.

pub use plugin_api::paths::{PathError, resolve_in_root, resolve_under};
