//! Test plugin exporting module `crashing-settings-check`, whose metadata reads fine but whose
//! settings check aborts the process that calls it when its table sets `trap`, as damaged code
//! on that path would. The host must never run the check in its own process: the plugin
//! scanner runs it on the configured table and rejects the file.

use plugin_api::anyhow::Result;
use plugin_api::{ConfigurationModule, Context, Outcome};
use serde::{Deserialize, Deserializer};

/// Settings from `[modules.crashing-settings-check]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// Any value aborts the process that deserializes it.
    trap: Option<Trap>,
}

/// A value whose deserialization aborts the process.
#[derive(Debug)]
struct Trap;

impl<'de> Deserialize<'de> for Trap {
    fn deserialize<D: Deserializer<'de>>(_deserializer: D) -> Result<Self, D::Error> {
        std::process::abort();
    }
}

/// The module; it changes nothing.
#[derive(Debug, Default)]
struct CrashingSettingsCheck;

impl ConfigurationModule for CrashingSettingsCheck {
    fn name(&self) -> &str {
        "crashing-settings-check"
    }

    fn description(&self) -> &str {
        "Aborts in its settings check when `trap` is set"
    }

    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        let _settings: Settings = ctx.settings()?;
        Ok(Outcome::unchanged("nothing to do"))
    }
}

plugin_api::export_module!(CrashingSettingsCheck, settings = Settings);
