//! The host's view of a module, whether loaded from a plugin file or built in-process.
//!
//! [`ModuleCode`] is what planning and execution work with. [`LoadedPlugin`] implements it
//! for plugin files; [`InProcess`] implements it for a [`ConfigurationModule`] compiled into the
//! same binary, which lets the scheduler be tested and benchmarked without loading plugins.
//!
//! [`LoadedPlugin`]: crate::loader::LoadedPlugin

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

use plugin_api::ffi::{FfiOutcome, HostServicesBox};
use plugin_api::{ConfigurationModule, Context};
use serde::Serialize;

use crate::requirement::{VersionRequirement, split_depends_on};
use crate::settings::SettingsCheck;

/// A module's metadata, as planning uses it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ModuleInfo {
    /// Unique module name.
    pub name: String,
    /// The module's release version.
    pub version: String,
    /// One-line description.
    pub description: String,
    /// Names of the modules that must finish first, without the version requirements that
    /// their `depends_on` entries may carry.
    pub depends_on: Vec<String>,
    /// The version requirements of the `depends_on` entries that carry one.
    pub requirements: Vec<VersionRequirement>,
    /// Modules that must finish first when they are in the run. This is ordering only, so a
    /// missing, disabled or failed one is no reason to reject or skip this module.
    pub after: Vec<String>,
    /// Whether the module runs with no other module running.
    pub force_sequential: bool,
    /// The plugin file, for loaded plugins.
    #[serde(serialize_with = "crate::output::json::serialize_optional_path")]
    pub path: Option<PathBuf>,
}

/// The outcome a module's `configure` reported on success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// Whether anything changed.
    pub changed: bool,
    /// The module's summary.
    pub message: String,
}

impl From<FfiOutcome> for RunOutcome {
    fn from(outcome: FfiOutcome) -> Self {
        Self {
            changed: outcome.changed,
            message: outcome.message.into(),
        }
    }
}

/// The failure of a module's `configure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFailure {
    /// Whether the module panicked rather than returning an error.
    pub panicked: bool,
    /// The error chain or the panic message.
    pub message: String,
}

/// The result of one `configure` call.
pub type ModuleResult = Result<RunOutcome, RunFailure>;

/// A module the executor can run.
pub trait ModuleCode: Send + Sync {
    /// Returns the module's metadata.
    fn info(&self) -> &ModuleInfo;

    /// Returns whether the module supports check mode, so that a `run --check` may run it. `false`
    /// unless the implementation overrides it.
    fn supports_check(&self) -> bool {
        false
    }

    /// Checks a settings table (TOML text) against the module's declared settings type.
    /// [`SettingsCheck::Undeclared`] unless the implementation overrides it.
    fn check_settings(&self, settings: &str) -> SettingsCheck {
        let _ = settings;
        SettingsCheck::Undeclared
    }

    /// Runs the module's `configure` with the given services and settings table (TOML text).
    ///
    /// Implementations never panic: a panic in module code is returned as a [`RunFailure`].
    fn configure(&self, host: HostServicesBox, settings: &str) -> ModuleResult;
}

/// A [`ConfigurationModule`] compiled into the host binary.
///
/// NOTE: `configure` runs without the per-thread context that the plugin glue sets up, so
/// `plugin_api::fs` and `utils::file_lock` do not reach the host, and `fs::write_atomic` writes
/// even in a check run. The context's own helpers work as in a plugin.
#[derive(Debug)]
pub struct InProcess<M> {
    info: ModuleInfo,
    supports_check: bool,
    module: M,
}

impl<M: ConfigurationModule> InProcess<M> {
    /// Wraps `module`, whose version defaults to `0.0.0` when it sets none.
    pub fn new(module: M) -> Self {
        let (depends_on, requirements) = split_depends_on(module.depends_on().iter().copied());
        let info = ModuleInfo {
            name: module.name().to_owned(),
            version: module.version().unwrap_or("0.0.0").to_owned(),
            description: module.description().to_owned(),
            depends_on,
            requirements,
            after: module.after().iter().map(|name| name.to_string()).collect(),
            force_sequential: module.force_sequential(),
            path: None,
        };
        Self {
            info,
            supports_check: module.supports_check(),
            module,
        }
    }
}

impl<M: ConfigurationModule> ModuleCode for InProcess<M> {
    fn info(&self) -> &ModuleInfo {
        &self.info
    }

    fn supports_check(&self) -> bool {
        self.supports_check
    }

    fn configure(&self, host: HostServicesBox, settings: &str) -> ModuleResult {
        let context = Context::new(host, &self.info.name, settings);
        match panic::catch_unwind(AssertUnwindSafe(|| self.module.configure(&context))) {
            Ok(Ok(outcome)) => Ok(RunOutcome {
                changed: outcome.is_changed(),
                message: outcome.message().to_owned(),
            }),
            Ok(Err(error)) => Err(RunFailure {
                panicked: false,
                message: format!("{error:#}"),
            }),
            Err(payload) => Err(RunFailure {
                panicked: true,
                message: payload
                    .downcast_ref::<&str>()
                    .map(|text| text.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-string panic payload".to_owned()),
            }),
        }
    }
}
