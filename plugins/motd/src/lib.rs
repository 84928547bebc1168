//! The `motd` module: the login banner in `/etc/motd`.
//!
//! It owns `/etc/motd` whole. The banner text comes from the settings, and the hostname and
//! environment from `/etc/system_config`, which the `system` module writes, so `system` is in
//! `depends_on`. No other module writes `/etc/motd`, so the module replaces it atomically
//! without taking a lock.
//!
//! Read [`MotdModule::configure`] first.

use configurator_etc_files::system_config::{self, SystemConfig};
use plugin_api::anyhow::{Result, bail};
use plugin_api::fs::{read_to_string_if_exists, write_atomic};
use plugin_api::{ConfigurationModule, Context, Outcome};
use serde::Deserialize;

/// Mode of `/etc/motd` when the module creates it.
const NEW_FILE_MODE: u32 = 0o644;

/// Settings from `[modules.motd]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// Text shown at login, one or more lines.
    banner: String,
    /// Whether to add the hostname and environment below the banner.
    show_host_details: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            banner: "This system is managed by Configurator. Local changes may be overwritten."
                .to_owned(),
            show_host_details: true,
        }
    }
}

impl Settings {
    /// Rejects control characters other than line breaks and tabs, because escape sequences
    /// in the banner would drive the terminal of every user who logs in.
    fn validate(&self) -> Result<()> {
        let control = self
            .banner
            .chars()
            .find(|&ch| ch.is_control() && ch != '\n' && ch != '\t');
        if let Some(ch) = control {
            bail!(
                "invalid `banner` in [modules.motd]: control character {:?} is not allowed; \
                 use plain text with line breaks",
                ch
            );
        }
        Ok(())
    }
}

/// The `motd` module.
#[derive(Debug, Default)]
pub struct MotdModule;

impl ConfigurationModule for MotdModule {
    fn name(&self) -> &str {
        "motd"
    }

    fn description(&self) -> &str {
        "Writes the login banner with the hostname and environment to /etc/motd"
    }

    fn depends_on(&self) -> &[&str] {
        &["system"]
    }

    /// Rebuilds the banner and replaces `/etc/motd` when its text differs.
    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        let settings: Settings = ctx.settings()?;
        settings.validate()?;
        let system = system_config::read(&ctx.resolve(system_config::SYSTEM_CONFIG)?)?;

        let desired = motd_text(&settings, &system);
        let path = ctx.resolve("/etc/motd")?;
        if read_to_string_if_exists(&path)?.as_deref() == Some(desired.as_str()) {
            return Ok(Outcome::unchanged("/etc/motd is already current"));
        }

        write_atomic(&path, &desired, NEW_FILE_MODE)?;
        ctx.info("wrote /etc/motd");
        Ok(Outcome::changed(format!(
            "wrote /etc/motd for {} ({})",
            system.hostname, system.environment
        )))
    }
}

plugin_api::export_module!(MotdModule);

/// Builds the text of `/etc/motd`: the banner without trailing blank lines, then the host
/// details after one blank line when enabled.
fn motd_text(settings: &Settings, system: &SystemConfig) -> String {
    let mut text = settings.banner.trim_end().to_owned();
    if settings.show_host_details {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&format!(
            "  Host:        {}\n  Environment: {}",
            system.hostname, system.environment
        ));
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system() -> SystemConfig {
        SystemConfig {
            hostname: "web01".to_owned(),
            environment: "production".to_owned(),
        }
    }

    fn settings(banner: &str, show_host_details: bool) -> Settings {
        Settings {
            banner: banner.to_owned(),
            show_host_details,
        }
    }

    #[test]
    fn motd_puts_host_details_below_banner() {
        let text = motd_text(&settings("Welcome.\n\n", true), &system());

        assert_eq!(
            text,
            "Welcome.\n\n  Host:        web01\n  Environment: production\n"
        );
    }

    #[test]
    fn motd_without_host_details_is_banner_only() {
        let text = motd_text(&settings("Line one\nLine two", false), &system());

        assert_eq!(text, "Line one\nLine two\n");
    }

    #[test]
    fn motd_with_empty_banner_lists_details_only() {
        let text = motd_text(&settings("", true), &system());

        assert_eq!(text, "  Host:        web01\n  Environment: production\n");
    }

    #[test]
    fn motd_with_nothing_is_empty() {
        assert_eq!(motd_text(&settings("  \n", false), &system()), "");
    }

    #[test]
    fn banner_rejects_escape_sequences() {
        let error = settings("\u{1b}[31mred", true).validate().unwrap_err();

        assert!(error.to_string().contains("control character"), "{error}");
    }

    #[test]
    fn banner_allows_line_breaks_and_tabs() {
        settings("Line one\n\tindented", true).validate().unwrap();
    }

    #[test]
    fn settings_reject_unknown_keys() {
        let error = toml::from_str::<Settings>("baner = \"x\"").unwrap_err();

        assert!(error.to_string().contains("baner"), "{error}");
    }
}
