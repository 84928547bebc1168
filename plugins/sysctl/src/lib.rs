//! The `sysctl` module: kernel parameters in `/etc/sysctl.d/90-configurator.conf`.
//!
//! # Settings
//!
//! - `parameters`: a table of parameter name to value, such as `"vm.swappiness" = 10`. Unset
//!   by default, and then the module leaves the file as it is and reports `unchanged`. An
//!   empty table writes a file without parameters, which removes the ones an earlier run
//!   wrote.
//!
//! # Files
//!
//! Once `parameters` is set, it owns that file whole and replaces it atomically through
//! `Context::write_atomic`, one `key = value` line per parameter in key order. It only writes the file: the values take
//! effect at the next boot or the next `sysctl --system`, and the running kernel is never
//! touched.
//!
//! Read [`SysctlModule::configure`] first.

use std::collections::BTreeMap;
use std::fmt;

use plugin_api::anyhow::{Context as _, Result, bail};
use plugin_api::{ConfigurationModule, Context, Outcome};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// The file the module owns.
const CONF_FILE: &str = "/etc/sysctl.d/90-configurator.conf";

/// Mode of the file when the module creates it.
const NEW_FILE_MODE: u32 = 0o644;

/// Settings from `[modules.sysctl]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// Parameter name to value, such as `"vm.swappiness" = 10`. Names with dots need quotes
    /// in TOML. `None` leaves the file as it is.
    parameters: Option<BTreeMap<String, SysctlValue>>,
}

impl Settings {
    fn validate(&self) -> Result<()> {
        for (key, value) in self.parameters.iter().flatten() {
            validate_key(key).context("invalid [modules.sysctl.parameters]")?;
            value.validate().with_context(|| {
                format!("invalid value for `{key}` in [modules.sysctl.parameters]")
            })?;
        }
        Ok(())
    }
}

/// A parameter value: an integer, or text such as `"4096 131072 6291456"` for parameters
/// that take several numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SysctlValue {
    Integer(i64),
    Text(String),
}

impl SysctlValue {
    fn validate(&self) -> Result<()> {
        let Self::Text(text) = self else {
            return Ok(());
        };
        if text.trim().is_empty() {
            bail!("the value is empty");
        }
        if text.chars().any(char::is_control) {
            bail!(
                "`{}` contains a line break or control character",
                text.escape_debug()
            );
        }
        Ok(())
    }
}

impl fmt::Display for SysctlValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Integer(value) => write!(f, "{value}"),
            Self::Text(text) => f.write_str(text.trim()),
        }
    }
}

/// Accepts TOML integers and strings only, so that a boolean or float fails with a message
/// naming the two accepted kinds.
impl<'de> Deserialize<'de> for SysctlValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;

        impl Visitor<'_> for ValueVisitor {
            type Value = SysctlValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string")
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<SysctlValue, E> {
                Ok(SysctlValue::Integer(value))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<SysctlValue, E> {
                i64::try_from(value)
                    .map(SysctlValue::Integer)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(value), &self))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<SysctlValue, E> {
                Ok(SysctlValue::Text(value.to_owned()))
            }
        }

        deserializer.deserialize_any(ValueVisitor)
    }
}

/// Checks a parameter name such as `net.ipv4.ip_forward`. `sysctl.d` files also accept `/` as
/// the separator, and a leading `-` that makes systemd-sysctl ignore a failure to set the
/// parameter.
fn validate_key(key: &str) -> Result<()> {
    let name = key.strip_prefix('-').unwrap_or(key);
    let valid = !name.is_empty()
        && !name.starts_with(['.', '/'])
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"._-/".contains(&byte));
    if !valid {
        bail!(
            "invalid parameter name `{}`: expected letters, digits, `.`, `_`, `-` or `/`, such \
             as `net.ipv4.ip_forward`",
            key.escape_debug()
        );
    }
    Ok(())
}

/// The `sysctl` module.
#[derive(Debug, Default)]
pub struct SysctlModule;

impl ConfigurationModule for SysctlModule {
    fn name(&self) -> &str {
        "sysctl"
    }

    fn description(&self) -> &str {
        "Writes kernel parameters to /etc/sysctl.d/90-configurator.conf"
    }

    /// Returns `true`: every write goes through the context's file helpers, which record
    /// it in check mode.
    fn supports_check(&self) -> bool {
        true
    }

    /// Replaces the file when its text differs from the one built from the settings.
    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        let settings: Settings = ctx.settings()?;
        settings.validate()?;
        let Some(parameters) = &settings.parameters else {
            return Ok(Outcome::unchanged(
                "nothing configured: no [modules.sysctl.parameters] table",
            ));
        };

        let desired = conf_text(parameters);
        if !ctx.write_atomic(CONF_FILE, &desired, NEW_FILE_MODE)? {
            return Ok(Outcome::unchanged(format!(
                "{CONF_FILE} already sets {} parameters",
                parameters.len()
            )));
        }
        ctx.info(format_args!("wrote {CONF_FILE}"));
        Ok(Outcome::changed(format!(
            "wrote {CONF_FILE} with {} parameters",
            parameters.len()
        )))
    }
}

plugin_api::export_module!(SysctlModule, settings = Settings);

/// Builds the file's text: a header comment, then one line per parameter in key order.
fn conf_text(parameters: &BTreeMap<String, SysctlValue>) -> String {
    let mut text =
        String::from("# Managed by Configurator (module sysctl). Local changes are overwritten.\n");
    for (key, value) in parameters {
        text.push_str(&format!("{key} = {value}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Settings {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn conf_lists_parameters_in_key_order() {
        let settings = settings(
            "[parameters]\n\
             \"vm.swappiness\" = 10\n\
             \"net.ipv4.tcp_rmem\" = \"4096 131072 6291456\"\n\
             \"kernel.kptr_restrict\" = 2\n",
        );

        let text = conf_text(settings.parameters.as_ref().unwrap());

        assert_eq!(
            text,
            "# Managed by Configurator (module sysctl). Local changes are overwritten.\n\
             kernel.kptr_restrict = 2\n\
             net.ipv4.tcp_rmem = 4096 131072 6291456\n\
             vm.swappiness = 10\n"
        );
    }

    #[test]
    fn conf_without_parameters_has_header_only() {
        let text = conf_text(&BTreeMap::new());

        assert_eq!(text.lines().count(), 1);
        assert!(text.starts_with('#'));
    }

    #[test]
    fn conf_trims_spaces_around_text_values() {
        let settings = settings("[parameters]\n\"kernel.domainname\" = \"  example.com \"\n");

        assert!(
            conf_text(settings.parameters.as_ref().unwrap())
                .ends_with("kernel.domainname = example.com\n")
        );
    }

    #[test]
    fn value_rejects_boolean_with_expected_kinds() {
        let error = toml::from_str::<Settings>("[parameters]\n\"net.ipv4.ip_forward\" = true\n")
            .unwrap_err();

        assert!(
            error.to_string().contains("an integer or a string"),
            "{error}"
        );
    }

    #[test]
    fn value_rejects_line_break() {
        let settings = settings("[parameters]\n\"kernel.domainname\" = \"a\\nvm.x = 1\"\n");

        let error = settings.validate().unwrap_err();

        assert!(format!("{error:#}").contains("line break"), "{error:#}");
    }

    #[test]
    fn value_rejects_empty_text() {
        let settings = settings("[parameters]\n\"kernel.domainname\" = \" \"\n");

        assert!(settings.validate().is_err());
    }

    #[test]
    fn key_accepts_slashes_and_ignore_prefix() {
        for key in [
            "net.ipv4.ip_forward",
            "net/ipv4/ip_forward",
            "-net.ipv6.conf.all.forwarding",
        ] {
            assert!(validate_key(key).is_ok(), "{key}");
        }
    }

    #[test]
    fn key_rejects_separators_and_spaces() {
        for key in [
            "",
            "-",
            "vm.swappiness = 1",
            "vm swappiness",
            ".vm",
            "vm=1",
            "a\nb",
        ] {
            assert!(validate_key(key).is_err(), "{key:?}");
        }
    }

    #[test]
    fn default_settings_configure_nothing() {
        let settings = settings("");

        settings.validate().unwrap();
        assert_eq!(settings.parameters, None);
    }

    #[test]
    fn empty_parameters_table_is_configured() {
        assert_eq!(settings("[parameters]").parameters, Some(BTreeMap::new()));
    }

    #[test]
    fn settings_reject_unknown_keys() {
        let error = toml::from_str::<Settings>("params = {}").unwrap_err();

        assert!(error.to_string().contains("params"), "{error}");
    }
}
