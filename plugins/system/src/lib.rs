//! The `system` module: the machine's hostname, timezone and environment name.
//!
//! It owns three whole files: `/etc/hostname`, `/etc/timezone` and `/etc/system_config`. The
//! last one is `key=value` lines (`hostname`, `timezone`, `environment`) that other modules
//! read after declaring `system` in their `depends_on`. No other module writes these files, so
//! the module replaces them atomically without taking a lock. It does not apply the hostname
//! to the running kernel or link `/etc/localtime`.
//!
//! Read [`SystemModule::configure`] first.

use plugin_api::anyhow::{Result, bail};
use plugin_api::fs::{read_to_string_if_exists, write_atomic};
use plugin_api::{ConfigurationModule, Context, Outcome};
use serde::Deserialize;

/// Mode of a newly created file. Existing files keep theirs.
const NEW_FILE_MODE: u32 = 0o644;

/// Maximum hostname length in bytes, which RFC 1123 allows for a full domain name.
const MAX_HOSTNAME_LEN: usize = 253;

/// Maximum length in bytes of a label between dots in a hostname.
const MAX_LABEL_LEN: usize = 63;

/// Settings from `[modules.system]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// Hostname written to `/etc/hostname`.
    hostname: String,
    /// Timezone name from the tz database, such as `Europe/Berlin`.
    timezone: String,
    /// Name of the deployment environment, such as `staging`.
    environment: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            hostname: "localhost".to_owned(),
            timezone: "Etc/UTC".to_owned(),
            environment: "development".to_owned(),
        }
    }
}

impl Settings {
    fn validate(&self) -> Result<()> {
        validate_hostname(&self.hostname)?;
        validate_timezone(&self.timezone)?;
        validate_environment(&self.environment)
    }
}

/// The `system` module.
#[derive(Debug, Default)]
pub struct SystemModule;

impl ConfigurationModule for SystemModule {
    fn name(&self) -> &str {
        "system"
    }

    fn description(&self) -> &str {
        "Sets the hostname, timezone and environment name in /etc"
    }

    /// Writes each of the three files whose content differs from the settings.
    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        let settings: Settings = ctx.settings()?;
        settings.validate()?;

        let desired = [
            ("/etc/hostname", format!("{}\n", settings.hostname)),
            ("/etc/timezone", format!("{}\n", settings.timezone)),
            ("/etc/system_config", system_config_text(&settings)),
        ];

        let mut written = Vec::new();
        for (system_path, contents) in desired {
            let path = ctx.resolve(system_path)?;
            if read_to_string_if_exists(&path)?.as_deref() == Some(contents.as_str()) {
                ctx.debug(format_args!("{system_path} is already current"));
                continue;
            }
            write_atomic(&path, &contents, NEW_FILE_MODE)?;
            ctx.info(format_args!("wrote {system_path}"));
            written.push(system_path);
        }

        if written.is_empty() {
            Ok(Outcome::unchanged(format!(
                "hostname {}, timezone {} and environment {} already set",
                settings.hostname, settings.timezone, settings.environment
            )))
        } else {
            Ok(Outcome::changed(format!("wrote {}", written.join(", "))))
        }
    }
}

plugin_api::export_module!(SystemModule);

/// Builds the text of `/etc/system_config`.
fn system_config_text(settings: &Settings) -> String {
    format!(
        "# Written by the Configurator module `system`; other modules read it.\n\
         hostname={}\n\
         timezone={}\n\
         environment={}\n",
        settings.hostname, settings.timezone, settings.environment
    )
}

/// Checks a hostname against RFC 1123: dot-separated labels of ASCII letters, digits and
/// hyphens, no label empty or starting or ending with a hyphen.
fn validate_hostname(hostname: &str) -> Result<()> {
    if hostname.is_empty() || hostname.len() > MAX_HOSTNAME_LEN {
        bail!(
            "invalid hostname `{hostname}`: expected 1 to {MAX_HOSTNAME_LEN} characters, found {}",
            hostname.len()
        );
    }
    for label in hostname.split('.') {
        let valid = !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
        if !valid {
            bail!(
                "invalid hostname `{hostname}`: label `{label}` must be 1 to {MAX_LABEL_LEN} \
                 letters, digits or hyphens, and must not start or end with a hyphen"
            );
        }
    }
    Ok(())
}

/// Checks that a timezone looks like a tz database name such as `America/Argentina/Salta`.
///
/// Whether the zone exists is not checked, because the run's root may have no zoneinfo files.
fn validate_timezone(timezone: &str) -> Result<()> {
    let valid_chars = timezone
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || b"/_+-".contains(&byte));
    let valid_parts = timezone
        .split('/')
        .all(|part| !part.is_empty() && part != "." && part != "..");
    if timezone.is_empty() || !valid_chars || !valid_parts {
        bail!(
            "invalid timezone `{timezone}`: expected a tz database name such as `Europe/Berlin` \
             or `Etc/UTC`"
        );
    }
    Ok(())
}

/// Checks that an environment name is a single word that is safe in `key=value` files and
/// banners.
fn validate_environment(environment: &str) -> Result<()> {
    let valid = !environment.is_empty()
        && environment
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"._-".contains(&byte));
    if !valid {
        bail!(
            "invalid environment `{environment}`: expected letters, digits, `.`, `_` or `-`, \
             such as `production`"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(hostname: &str, timezone: &str, environment: &str) -> Settings {
        Settings {
            hostname: hostname.to_owned(),
            timezone: timezone.to_owned(),
            environment: environment.to_owned(),
        }
    }

    #[test]
    fn system_config_lists_all_three_keys() {
        let text = system_config_text(&settings("web01", "Europe/Berlin", "production"));

        let lines: Vec<_> = text.lines().filter(|line| !line.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "hostname=web01",
                "timezone=Europe/Berlin",
                "environment=production"
            ]
        );
    }

    #[test]
    fn default_settings_are_valid() {
        Settings::default().validate().unwrap();
    }

    #[test]
    fn hostname_accepts_short_and_qualified_names() {
        for hostname in ["web01", "web-01.example.com", "a", "0host"] {
            assert!(validate_hostname(hostname).is_ok(), "{hostname}");
        }
    }

    #[test]
    fn hostname_rejects_invalid_labels() {
        let too_long_label = "a".repeat(MAX_LABEL_LEN + 1);
        for hostname in [
            "",
            "-web",
            "web-",
            "web..example",
            "web_01",
            "web 01",
            "web\n01",
            too_long_label.as_str(),
        ] {
            assert!(validate_hostname(hostname).is_err(), "{hostname:?}");
        }
    }

    #[test]
    fn hostname_error_names_the_label() {
        let error = validate_hostname("web.-bad.example").unwrap_err();

        assert!(error.to_string().contains("`-bad`"), "{error}");
    }

    #[test]
    fn timezone_accepts_tz_names() {
        for timezone in [
            "UTC",
            "Etc/UTC",
            "Europe/Berlin",
            "Etc/GMT+3",
            "America/Port-au-Prince",
        ] {
            assert!(validate_timezone(timezone).is_ok(), "{timezone}");
        }
    }

    #[test]
    fn timezone_rejects_paths_and_spaces() {
        for timezone in [
            "",
            "/Europe/Berlin",
            "Europe/",
            "../etc/passwd",
            "Europe/Berlin x",
        ] {
            assert!(validate_timezone(timezone).is_err(), "{timezone:?}");
        }
    }

    #[test]
    fn environment_rejects_separators_and_newlines() {
        for environment in ["", "prod=1", "prod\nhostname=evil", "two words"] {
            assert!(
                validate_environment(environment).is_err(),
                "{environment:?}"
            );
        }
    }

    #[test]
    fn settings_reject_unknown_keys() {
        let error = toml_settings("hostnme = \"web01\"").unwrap_err();

        assert!(error.contains("hostnme"), "{error}");
    }

    #[test]
    fn settings_fill_missing_keys_with_defaults() {
        let settings = toml_settings("hostname = \"web01\"").unwrap();

        assert_eq!(settings.hostname, "web01");
        assert_eq!(settings.timezone, "Etc/UTC");
        assert_eq!(settings.environment, "development");
    }

    /// Parses settings the way `Context::settings` does, with the TOML deserializer.
    fn toml_settings(text: &str) -> Result<Settings, String> {
        toml::from_str(text).map_err(|err| err.to_string())
    }
}
