//! The `motd` module: the login banner in `/etc/motd`.
//!
//! # Settings
//!
//! - `banner`: the text shown at login, one or more lines. Unset by default, and then the
//!   module leaves `/etc/motd` as it is and reports `unchanged`. An empty text writes only the
//!   host details.
//! - `show_host_details`: whether to add the hostname and environment below the banner, `true`
//!   by default. A value that `/etc/system_config` does not list is left out.
//!
//! # Files
//!
//! It owns `/etc/motd` whole once `banner` is set. The hostname and environment come from
//! `/etc/system_config`, which the `system` module writes, so `system` is in `depends_on`. No
//! other module writes `/etc/motd`; the module replaces it atomically through
//! `Context::write_atomic`, which also takes the file's lock and supports check mode.
//!
//! Read [`MotdModule::configure`] first.

use configurator_etc_files::system_config::{self, SystemConfig};
use plugin_api::anyhow::{Result, bail};
use plugin_api::{ConfigurationModule, Context, Outcome};
use serde::Deserialize;

/// Mode of `/etc/motd` when the module creates it.
const NEW_FILE_MODE: u32 = 0o644;

/// Settings from `[modules.motd]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// Text shown at login, one or more lines. `None` leaves `/etc/motd` as it is.
    banner: Option<String>,
    /// Whether to add the hostname and environment below the banner.
    show_host_details: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            banner: None,
            show_host_details: true,
        }
    }
}

impl Settings {
    /// Rejects control characters other than line breaks and tabs, because escape sequences
    /// in the banner would drive the terminal of every user who logs in.
    fn validate(&self) -> Result<()> {
        let Some(banner) = &self.banner else {
            return Ok(());
        };
        let control = banner
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
        "Writes the configured login banner with the hostname and environment to /etc/motd"
    }

    fn depends_on(&self) -> &[&str] {
        &["system"]
    }

    /// Returns `true`: every write goes through the context's file helpers, which record
    /// it in check mode.
    fn supports_check(&self) -> bool {
        true
    }

    /// Rebuilds the banner and replaces `/etc/motd` when its text differs.
    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        let settings: Settings = ctx.settings()?;
        settings.validate()?;
        let Some(banner) = &settings.banner else {
            return Ok(Outcome::unchanged(
                "nothing configured: no banner in [modules.motd]",
            ));
        };
        let system = system_config::read(&ctx.resolve(system_config::SYSTEM_CONFIG)?)?;

        let desired = motd_text(banner, settings.show_host_details, &system);
        if !ctx.write_atomic("/etc/motd", &desired, NEW_FILE_MODE)? {
            return Ok(Outcome::unchanged("/etc/motd is already current"));
        }
        ctx.info("wrote /etc/motd");
        Ok(Outcome::changed("wrote /etc/motd"))
    }
}

plugin_api::export_module!(MotdModule, settings = Settings);

/// Builds the text of `/etc/motd`: the banner without trailing blank lines, then the known host
/// details after one blank line when `show_host_details` is set.
fn motd_text(banner: &str, show_host_details: bool, system: &SystemConfig) -> String {
    let mut text = banner.trim_end().to_owned();
    let details = if show_host_details {
        host_details(system)
    } else {
        Vec::new()
    };
    if !details.is_empty() {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&details.join("\n"));
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// Returns one aligned line per value that `/etc/system_config` lists.
fn host_details(system: &SystemConfig) -> Vec<String> {
    [
        ("Host:       ", &system.hostname),
        ("Environment:", &system.environment),
    ]
    .into_iter()
    .filter_map(|(label, value)| value.as_ref().map(|value| format!("  {label} {value}")))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system() -> SystemConfig {
        SystemConfig {
            hostname: Some("web01".to_owned()),
            environment: Some("production".to_owned()),
        }
    }

    fn settings(banner: &str, show_host_details: bool) -> Settings {
        Settings {
            banner: Some(banner.to_owned()),
            show_host_details,
        }
    }

    #[test]
    fn motd_puts_host_details_below_banner() {
        let text = motd_text("Welcome.\n\n", true, &system());

        assert_eq!(
            text,
            "Welcome.\n\n  Host:        web01\n  Environment: production\n"
        );
    }

    #[test]
    fn motd_without_host_details_is_banner_only() {
        let text = motd_text("Line one\nLine two", false, &system());

        assert_eq!(text, "Line one\nLine two\n");
    }

    #[test]
    fn motd_with_empty_banner_lists_details_only() {
        let text = motd_text("", true, &system());

        assert_eq!(text, "  Host:        web01\n  Environment: production\n");
    }

    #[test]
    fn motd_leaves_out_unknown_details() {
        let system = SystemConfig {
            hostname: Some("web01".to_owned()),
            environment: None,
        };

        let text = motd_text("Welcome.", true, &system);

        assert_eq!(text, "Welcome.\n\n  Host:        web01\n");
    }

    #[test]
    fn motd_without_known_details_is_banner_only() {
        let text = motd_text("Welcome.", true, &SystemConfig::default());

        assert_eq!(text, "Welcome.\n");
    }

    #[test]
    fn motd_with_nothing_is_empty() {
        assert_eq!(motd_text("  \n", false, &system()), "");
    }

    #[test]
    fn default_settings_configure_nothing() {
        let settings: Settings = toml::from_str("").unwrap();

        settings.validate().unwrap();
        assert_eq!(settings.banner, None);
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
