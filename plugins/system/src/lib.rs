//! The `system` module: the machine's hostname, timezone and environment name.
//!
//! # Settings
//!
//! Every key of `[modules.system]` is optional, and a key left out leaves its value as it is:
//!
//! - `hostname`: an RFC 1123 host name written to `/etc/hostname`. Unset by default, and then
//!   `/etc/hostname` is not touched.
//! - `timezone`: a tz database name such as `Europe/Berlin` written to `/etc/timezone`. Unset by
//!   default, and then `/etc/timezone` is not touched.
//! - `environment`: the deployment environment's name, such as `staging`, recorded only in
//!   `/etc/system_config`. Unset by default.
//!
//! With none of them set the module writes nothing and reports `unchanged`.
//!
//! # Files
//!
//! It owns three whole files: `/etc/hostname`, `/etc/timezone` and `/etc/system_config`. The
//! last one is `key=value` lines (`hostname`, `timezone`, `environment`) that other modules
//! read after declaring `system` in their `depends_on`. When at least one key is set, the module
//! writes it with every value available: the configured value, else for `hostname` and
//! `timezone` the current one from `/etc/hostname` or `/etc/timezone` when that file exists.
//! A value with neither source is left out. With nothing set, a `/etc/system_config` from an
//! earlier run stays as it is.
//!
//! No other module writes these files; the module replaces them atomically through
//! `Context::write_atomic`, which also takes each file's lock and supports check mode. It does not apply the hostname to the running kernel or link `/etc/localtime`.
//!
//! Read [`SystemModule::configure`] first.

use plugin_api::anyhow::{Result, bail};
use plugin_api::fs::read_to_string_if_exists;
use plugin_api::{ConfigurationModule, Context, Outcome};
use serde::Deserialize;

/// Mode of a newly created file. Existing files keep theirs.
const NEW_FILE_MODE: u32 = 0o644;

/// Maximum hostname length in bytes, which RFC 1123 allows for a full domain name.
const MAX_HOSTNAME_LEN: usize = 253;

/// Maximum length in bytes of a label between dots in a hostname.
const MAX_LABEL_LEN: usize = 63;

/// Settings from `[modules.system]`. A key left out (`None`) leaves its value as it is.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// Hostname written to `/etc/hostname`.
    hostname: Option<String>,
    /// Timezone name from the tz database, such as `Europe/Berlin`.
    timezone: Option<String>,
    /// Name of the deployment environment, such as `staging`.
    environment: Option<String>,
}

impl Settings {
    fn validate(&self) -> Result<()> {
        if let Some(hostname) = &self.hostname {
            validate_hostname(hostname)?;
        }
        if let Some(timezone) = &self.timezone {
            validate_timezone(timezone)?;
        }
        if let Some(environment) = &self.environment {
            validate_environment(environment)?;
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.hostname.is_none() && self.timezone.is_none() && self.environment.is_none()
    }

    /// Describes the configured values for an outcome message, such as `hostname web01,
    /// environment staging`.
    fn describe(&self) -> String {
        [
            ("hostname", &self.hostname),
            ("timezone", &self.timezone),
            ("environment", &self.environment),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.as_ref().map(|value| format!("{key} {value}")))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// The values recorded in `/etc/system_config`, each `None` when neither the settings nor the
/// current files give it.
#[derive(Debug, Default, PartialEq, Eq)]
struct KnownValues {
    hostname: Option<String>,
    timezone: Option<String>,
    environment: Option<String>,
}

/// The `system` module.
#[derive(Debug, Default)]
pub struct SystemModule;

impl ConfigurationModule for SystemModule {
    fn name(&self) -> &str {
        "system"
    }

    fn description(&self) -> &str {
        "Sets the configured hostname, timezone and environment name in /etc"
    }

    /// Returns `true`: every write goes through the context's file helpers, which record
    /// it in check mode.
    fn supports_check(&self) -> bool {
        true
    }

    /// Writes `/etc/hostname` and `/etc/timezone` for the configured keys, then
    /// `/etc/system_config` with every value available, each only when its content differs.
    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        let settings: Settings = ctx.settings()?;
        settings.validate()?;
        if settings.is_empty() {
            return Ok(Outcome::unchanged(
                "nothing configured: no hostname, timezone or environment in [modules.system]",
            ));
        }

        let known = KnownValues {
            hostname: configured_or_current(ctx, &settings.hostname, "/etc/hostname", |value| {
                validate_hostname(value)
            })?,
            timezone: configured_or_current(ctx, &settings.timezone, "/etc/timezone", |value| {
                validate_timezone(value)
            })?,
            environment: settings.environment.clone(),
        };

        let mut desired = Vec::new();
        if let Some(hostname) = &settings.hostname {
            desired.push(("/etc/hostname", format!("{hostname}\n")));
        }
        if let Some(timezone) = &settings.timezone {
            desired.push(("/etc/timezone", format!("{timezone}\n")));
        }
        desired.push(("/etc/system_config", system_config_text(&known)));

        let mut written = Vec::new();
        for (system_path, contents) in desired {
            if !ctx.write_atomic(system_path, &contents, NEW_FILE_MODE)? {
                ctx.debug(format_args!("{system_path} is already current"));
                continue;
            }
            ctx.info(format_args!("wrote {system_path}"));
            written.push(system_path);
        }

        if written.is_empty() {
            Ok(Outcome::unchanged(format!(
                "{} already set",
                settings.describe()
            )))
        } else {
            Ok(Outcome::changed(format!("wrote {}", written.join(", "))))
        }
    }
}

plugin_api::export_module!(SystemModule, settings = Settings);

/// Returns the configured value, else the current value from the file at `system_path`. A
/// current value that fails `validate` is left out with a warning, so that a hand-edited file
/// never reaches `/etc/system_config` in a form its readers reject.
fn configured_or_current(
    ctx: &Context,
    configured: &Option<String>,
    system_path: &str,
    validate: impl Fn(&str) -> Result<()>,
) -> Result<Option<String>> {
    if configured.is_some() {
        return Ok(configured.clone());
    }
    let Some(text) = read_to_string_if_exists(&ctx.resolve(system_path)?)? else {
        return Ok(None);
    };
    let Some(current) = first_value_line(&text) else {
        return Ok(None);
    };
    if let Err(error) = validate(current) {
        ctx.warn(format_args!(
            "{system_path}: {error}; leaving it out of /etc/system_config"
        ));
        return Ok(None);
    }
    Ok(Some(current.to_owned()))
}

/// Returns the first line that is neither blank nor a `#` comment, trimmed. `/etc/hostname`
/// (see hostname(5)) and `/etc/timezone` hold one value on such a line.
fn first_value_line(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
}

/// Builds the text of `/etc/system_config`: a header, then one `key=value` line per known
/// value.
fn system_config_text(known: &KnownValues) -> String {
    let mut text =
        String::from("# Written by the Configurator module `system`; other modules read it.\n");
    for (key, value) in [
        ("hostname", &known.hostname),
        ("timezone", &known.timezone),
        ("environment", &known.environment),
    ] {
        if let Some(value) = value {
            text.push_str(&format!("{key}={value}\n"));
        }
    }
    text
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

    fn known(hostname: &str, timezone: &str, environment: &str) -> KnownValues {
        KnownValues {
            hostname: Some(hostname.to_owned()),
            timezone: Some(timezone.to_owned()),
            environment: Some(environment.to_owned()),
        }
    }

    #[test]
    fn system_config_lists_all_three_keys() {
        let text = system_config_text(&known("web01", "Europe/Berlin", "production"));

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
    fn system_config_leaves_out_unknown_values() {
        let values = KnownValues {
            environment: Some("staging".to_owned()),
            ..KnownValues::default()
        };

        let text = system_config_text(&values);

        let lines: Vec<_> = text.lines().filter(|line| !line.starts_with('#')).collect();
        assert_eq!(lines, ["environment=staging"]);
    }

    #[test]
    fn system_config_is_read_back_by_its_readers() {
        let text = system_config_text(&known("web01", "Etc/UTC", "staging"));

        let parsed = configurator_etc_files::system_config::parse(&text).unwrap();

        assert_eq!(parsed.hostname.as_deref(), Some("web01"));
        assert_eq!(parsed.environment.as_deref(), Some("staging"));
    }

    #[test]
    fn default_settings_configure_nothing() {
        let settings = Settings::default();

        settings.validate().unwrap();
        assert!(settings.is_empty());
    }

    #[test]
    fn first_value_line_skips_comments_and_blank_lines() {
        assert_eq!(
            first_value_line("# set by the installer\n\n  debian  \nother\n"),
            Some("debian")
        );
        assert_eq!(first_value_line("# only a comment\n\n"), None);
        assert_eq!(first_value_line(""), None);
    }

    #[test]
    fn describe_lists_configured_values_only() {
        let settings = toml_settings("hostname = \"web01\"\nenvironment = \"staging\"").unwrap();

        assert_eq!(settings.describe(), "hostname web01, environment staging");
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
    fn settings_leave_missing_keys_unset() {
        let settings = toml_settings("hostname = \"web01\"").unwrap();

        assert_eq!(settings.hostname.as_deref(), Some("web01"));
        assert_eq!(settings.timezone, None);
        assert_eq!(settings.environment, None);
    }

    /// Parses settings the way `Context::settings` does, with the TOML deserializer.
    fn toml_settings(text: &str) -> Result<Settings, String> {
        toml::from_str(text).map_err(|err| err.to_string())
    }
}
