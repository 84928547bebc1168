//! Test plugin exporting module `crashing-settings-check`, whose metadata reads fine but whose
//! settings check aborts the process that calls it, as damaged code in that path would. The
//! host calls the settings check in its own process before anything runs, so the plugin
//! scanner must call it first and reject the file.

use plugin_api::anyhow::Result;
use plugin_api::{ConfigurationModule, Context, Outcome};
use serde::{Deserialize, Deserializer};

/// Settings whose deserialization aborts the process.
#[derive(Debug)]
struct Settings;

impl<'de> Deserialize<'de> for Settings {
    fn deserialize<D: Deserializer<'de>>(_deserializer: D) -> Result<Self, D::Error> {
        std::process::abort();
    }
}

/// The module; it is never meant to run.
#[derive(Debug, Default)]
struct CrashingSettingsCheck;

impl ConfigurationModule for CrashingSettingsCheck {
    fn name(&self) -> &str {
        "crashing-settings-check"
    }

    fn description(&self) -> &str {
        "Aborts in its settings check"
    }

    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        let _settings: Settings = ctx.settings()?;
        Ok(Outcome::unchanged("nothing to do"))
    }
}

plugin_api::export_module!(CrashingSettingsCheck, settings = Settings);
