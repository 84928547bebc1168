//! Test plugin whose module constructor panics, so that the first call the host makes into the
//! plugin, reading its metadata, panics inside plugin code. The host must reject the file with
//! the panic message and keep running.

use plugin_api::{ConfigurationModule, Context, Outcome, Result};

/// A module that can never be built.
pub struct Unbuildable;

impl ConfigurationModule for Unbuildable {
    fn name(&self) -> &str {
        "unbuildable"
    }

    fn description(&self) -> &str {
        "never built: its constructor panics"
    }

    fn configure(&self, _ctx: &Context) -> Result<Outcome> {
        Ok(Outcome::unchanged("never reached"))
    }
}

plugin_api::export_module!(
    Unbuildable,
    panic!("constructor refuses to build the module")
);
