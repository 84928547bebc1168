//! The configuration file: host settings at the top, one `[modules.NAME]` table per module.
//!
//! [`Config::load`] parses and checks the file; the settings tables stay as TOML and reach each
//! module as text, for the module to deserialize into its own type.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Where the host looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/configurator/configurator.toml";

/// Where the host looks for plugins when neither `--plugins` nor `plugin_dir` is given.
pub const DEFAULT_PLUGIN_DIR: &str = "/usr/lib/configurator/modules";

/// The host-level key in a module's table that leaves the module out of the run.
const ENABLED_KEY: &str = "enabled";

/// The host-level key in a module's table that sets the module's timeout, in seconds.
const TIMEOUT_KEY: &str = "timeout";

/// The host-level key in a module's table that pins the version of the module's plugin file.
const VERSION_KEY: &str = "version";

/// Errors in reading or checking the configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {}", path.display())]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },

    /// The file is not valid TOML or a host setting has the wrong type; the source names the
    /// line.
    #[error("invalid configuration file {}", path.display())]
    Parse {
        /// The configuration file.
        path: PathBuf,
        /// The parser's message, with line and column.
        #[source]
        source: Box<toml::de::Error>,
    },

    /// A module's `enabled` key is not a boolean.
    #[error(
        "invalid configuration file {}: `enabled` in [modules.{module}] must be true or false",
        path.display()
    )]
    Enabled {
        /// The configuration file.
        path: PathBuf,
        /// The module whose table is wrong.
        module: String,
    },

    /// A module's `version` pin is not a semver version.
    #[error(
        "invalid configuration file {}: `version` in [modules.{module}] must be a version such \
         as \"1.2.0\"",
        path.display()
    )]
    Version {
        /// The configuration file.
        path: PathBuf,
        /// The module whose table is wrong.
        module: String,
    },

    /// `scan_timeout` is not a positive number.
    #[error(
        "invalid configuration file {}: `scan_timeout` is invalid: `{value}` is {reason}; \
         {SECONDS_EXPECTED}",
        path.display()
    )]
    ScanTimeout {
        /// The configuration file.
        path: PathBuf,
        /// The value as the file gives it.
        value: String,
        /// The reason the value is invalid.
        reason: InvalidSeconds,
    },

    /// A `[trust] sha256` pin is not a SHA-256 in hex.
    #[error(
        "invalid configuration file {}: the `[trust] sha256` pin of module `{module}` must be \
         64 hexadecimal digits",
        path.display()
    )]
    Sha256Pin {
        /// The configuration file.
        path: PathBuf,
        /// The pinned module.
        module: String,
    },

    /// `lock_timeout` is not a positive number.
    #[error(
        "invalid configuration file {}: `lock_timeout` is invalid: `{value}` is {reason}; \
         {SECONDS_EXPECTED}",
        path.display()
    )]
    LockTimeout {
        /// The configuration file.
        path: PathBuf,
        /// The value as the file gives it.
        value: String,
        /// The reason the value is invalid.
        reason: InvalidSeconds,
    },

    /// A module's `timeout` key is not a positive number.
    #[error(
        "invalid configuration file {}: `timeout` in [modules.{module}] is invalid: `{value}` \
         is {reason}; {SECONDS_EXPECTED}",
        path.display()
    )]
    Timeout {
        /// The configuration file.
        path: PathBuf,
        /// The module whose table is wrong.
        module: String,
        /// The value as the file gives it.
        value: String,
        /// The reason the value is invalid.
        reason: InvalidSeconds,
    },

    /// `lock_dir` names the root itself, where the sidecar files would mix with the root's
    /// own entries and the durations file would land outside the root.
    #[error(
        "invalid configuration file {}: `lock_dir = {value:?}` is the root itself; expected a \
         directory below the root, such as \"/run/configurator/locks\"",
        path.display()
    )]
    LockDirIsRoot {
        /// The configuration file.
        path: PathBuf,
        /// The value as the file gives it.
        value: String,
    },
}

/// The accepted values of every timeout setting and option, for messages about invalid ones.
pub const SECONDS_EXPECTED: &str = "expected a positive number of seconds, such as 30 or 2.5 \
                                    (a number too large for the clock, such as 1e20, means no \
                                    limit)";

/// The reason a number of seconds is not a valid timeout. Messages show it as "`VALUE` is
/// REASON".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSeconds {
    /// The value is no number at all, such as `"abc"` or `true`.
    #[error("not a number")]
    NotANumber,
    /// The value is NaN.
    #[error("NaN")]
    NaN,
    /// The value is zero, which would time out before anything started.
    #[error("zero")]
    Zero,
    /// The value is below zero.
    #[error("negative")]
    Negative,
    /// The value is infinite.
    #[error("infinite")]
    Infinite,
}

/// Host settings at the top of the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    plugin_dir: Option<PathBuf>,
    jobs: Option<NonZeroUsize>,
    lock_dir: Option<PathBuf>,
    lock_timeout: Option<toml::Value>,
    scan_cache: Option<PathBuf>,
    scan_timeout: Option<toml::Value>,
    #[serde(default)]
    trust: RawTrust,
    #[serde(default)]
    modules: BTreeMap<String, toml::Table>,
}

/// The `[trust]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrust {
    strict: Option<bool>,
    #[serde(default)]
    sha256: BTreeMap<String, String>,
}

/// The trust policy for plugin files, from the `[trust]` table.
#[derive(Debug, Clone)]
pub struct TrustConfig {
    /// Whether plugin files and their directories must be owned by root or the user running
    /// the host and not writable by group or others (`strict = true`, the default).
    pub strict: bool,
    /// The SHA-256 each pinned module's file must have, as lowercase hex, by module name.
    pub sha256: BTreeMap<String, String>,
}

impl Default for TrustConfig {
    fn default() -> Self {
        Self {
            strict: true,
            sha256: BTreeMap::new(),
        }
    }
}

/// The checked configuration.
#[derive(Debug, Default, Clone)]
pub struct Config {
    /// The file it came from; `None` when no file exists and defaults apply.
    pub path: Option<PathBuf>,
    /// Directory of plugin `.so` files.
    pub plugin_dir: Option<PathBuf>,
    /// Worker threads for a run.
    pub jobs: Option<NonZeroUsize>,
    /// Directory of the sidecar lock files, a path under the root; by default
    /// `/run/configurator/locks`.
    pub lock_dir: Option<PathBuf>,
    /// How long a module's `file_lock` waits before it fails; `None` leaves the host's default.
    pub lock_timeout: Option<Duration>,
    /// The plugin scan cache file; `None` uses the default place.
    pub scan_cache: Option<PathBuf>,
    /// How long the plugin scanner may take to load one file; `None` uses the default.
    pub scan_timeout: Option<Duration>,
    /// The trust policy for plugin files.
    pub trust: TrustConfig,
    /// Each module's table, without the host-level keys.
    pub modules: BTreeMap<String, ModuleConfig>,
}

/// One `[modules.NAME]` table.
#[derive(Debug, Default, Clone)]
pub struct ModuleConfig {
    /// `false` leaves the module out of the run.
    pub enabled: bool,
    /// How long the module may run before it is abandoned as timed out.
    pub timeout: Option<Duration>,
    /// The only version of the module to load when several plugin files provide it.
    pub version: Option<semver::Version>,
    /// The module's own settings.
    pub settings: toml::Table,
}

impl Config {
    /// Loads the file given with `--config`, or the default file when it exists, or defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Self, ConfigError> {
        match explicit {
            Some(path) => Self::from_file(path),
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
                Self::from_file(Path::new(DEFAULT_CONFIG_PATH))
            }
            None => Ok(Self::default()),
        }
    }

    /// Reads and checks one configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Checks configuration text; `path` is used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;

        let mut modules = BTreeMap::new();
        for (name, mut settings) in raw.modules {
            let enabled = match settings.remove(ENABLED_KEY) {
                None => true,
                Some(toml::Value::Boolean(enabled)) => enabled,
                Some(_) => {
                    return Err(ConfigError::Enabled {
                        path: path.to_owned(),
                        module: name,
                    });
                }
            };
            let timeout = match settings.remove(TIMEOUT_KEY) {
                None => None,
                Some(value) => Some(timeout_of(&value).map_err(|reason| ConfigError::Timeout {
                    path: path.to_owned(),
                    module: name.clone(),
                    value: value.to_string(),
                    reason,
                })?),
            };
            let version = match settings.remove(VERSION_KEY) {
                None => None,
                Some(value) => Some(
                    value
                        .as_str()
                        .and_then(|text| semver::Version::parse(text.trim()).ok())
                        .ok_or_else(|| ConfigError::Version {
                            path: path.to_owned(),
                            module: name.clone(),
                        })?,
                ),
            };
            modules.insert(
                name,
                ModuleConfig {
                    enabled,
                    timeout,
                    version,
                    settings,
                },
            );
        }

        let lock_timeout = match &raw.lock_timeout {
            None => None,
            Some(value) => Some(
                timeout_of(value).map_err(|reason| ConfigError::LockTimeout {
                    path: path.to_owned(),
                    value: value.to_string(),
                    reason,
                })?,
            ),
        };
        let scan_timeout = match &raw.scan_timeout {
            None => None,
            Some(value) => Some(
                timeout_of(value).map_err(|reason| ConfigError::ScanTimeout {
                    path: path.to_owned(),
                    value: value.to_string(),
                    reason,
                })?,
            ),
        };
        if let Some(lock_dir) = &raw.lock_dir
            && names_root(lock_dir)
        {
            return Err(ConfigError::LockDirIsRoot {
                path: path.to_owned(),
                value: lock_dir.display().to_string(),
            });
        }
        let mut sha256 = BTreeMap::new();
        for (module, pin) in raw.trust.sha256 {
            let pin = pin.trim().to_ascii_lowercase();
            if !crate::trust::is_sha256_hex(&pin) {
                return Err(ConfigError::Sha256Pin {
                    path: path.to_owned(),
                    module,
                });
            }
            sha256.insert(module, pin);
        }
        Ok(Self {
            path: Some(path.to_owned()),
            plugin_dir: raw.plugin_dir,
            jobs: raw.jobs,
            lock_dir: raw.lock_dir,
            lock_timeout,
            scan_cache: raw.scan_cache,
            scan_timeout,
            trust: TrustConfig {
                strict: raw.trust.strict.unwrap_or(true),
                sha256,
            },
            modules,
        })
    }

    /// Returns whether `module` takes part in the run.
    pub fn is_enabled(&self, module: &str) -> bool {
        self.modules.get(module).is_none_or(|table| table.enabled)
    }

    /// Returns the `timeout` of every module that sets one.
    pub fn module_timeouts(&self) -> BTreeMap<String, Duration> {
        self.modules
            .iter()
            .filter_map(|(name, table)| Some((name.clone(), table.timeout?)))
            .collect()
    }

    /// Returns the `version` pin of every module that sets one.
    pub fn version_pins(&self) -> BTreeMap<String, semver::Version> {
        self.modules
            .iter()
            .filter_map(|(name, table)| Some((name.clone(), table.version.clone()?)))
            .collect()
    }

    /// Returns the settings table of `module` as TOML text; empty when it has none.
    pub fn settings_text(&self, module: &str) -> String {
        self.modules
            .get(module)
            .map(|table| table.settings.to_string())
            .unwrap_or_default()
    }

    /// Returns the plugin directory: `--plugins`, else `plugin_dir`, else the system default.
    pub fn plugin_dir(&self, explicit: Option<&Path>) -> PathBuf {
        explicit
            .map(Path::to_path_buf)
            .or_else(|| self.plugin_dir.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PLUGIN_DIR))
    }
}

/// Returns a module's `timeout` value as a duration, if it is a positive number of seconds.
fn timeout_of(value: &toml::Value) -> Result<Duration, InvalidSeconds> {
    match value {
        toml::Value::Integer(seconds) => match u64::try_from(*seconds) {
            Ok(0) => Err(InvalidSeconds::Zero),
            Ok(seconds) => Ok(Duration::from_secs(seconds)),
            Err(_) => Err(InvalidSeconds::Negative),
        },
        toml::Value::Float(seconds) => positive_seconds(*seconds),
        _ => Err(InvalidSeconds::NotANumber),
    }
}

/// Converts a positive finite number of seconds to a duration.
///
/// A number too small for `Duration` becomes one nanosecond, and one too large becomes
/// [`Duration::MAX`], for which every wait has no limit (see [`crate::deadline`]).
pub fn positive_seconds(seconds: f64) -> Result<Duration, InvalidSeconds> {
    if seconds.is_nan() {
        return Err(InvalidSeconds::NaN);
    }
    if seconds.is_infinite() {
        return Err(InvalidSeconds::Infinite);
    }
    if seconds == 0.0 {
        return Err(InvalidSeconds::Zero);
    }
    if seconds < 0.0 {
        return Err(InvalidSeconds::Negative);
    }
    // The value is finite and positive, so conversion fails only when it is too large.
    match Duration::try_from_secs_f64(seconds) {
        Ok(duration) if duration.is_zero() => Ok(Duration::from_nanos(1)),
        Ok(duration) => Ok(duration),
        Err(_) => Ok(Duration::MAX),
    }
}

/// Parses a number of seconds from the command line like [`positive_seconds`].
pub fn parse_seconds(text: &str) -> Result<Duration, InvalidSeconds> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| InvalidSeconds::NotANumber)?;
    positive_seconds(seconds)
}

/// Returns whether `lock_dir`, a path below the root, names the root itself, such as `""`,
/// `"/"` or `"/run/.."`. Symlinks are not followed; the run checks the resolved directory
/// again.
fn names_root(lock_dir: &Path) -> bool {
    crate::paths::resolve_under(Path::new("/"), lock_dir) == Path::new("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn enabled_key_is_removed_from_settings() {
        let config = parse("[modules.hosts]\nenabled = false\nentries = []\n").unwrap();
        let hosts = &config.modules["hosts"];
        assert!(!hosts.enabled);
        assert!(!hosts.settings.contains_key("enabled"));
        assert!(hosts.settings.contains_key("entries"));
        assert!(!config.is_enabled("hosts"));
    }

    #[test]
    fn timeout_key_is_removed_from_settings() {
        let config =
            parse("[modules.hosts]\ntimeout = 30\n\n[modules.motd]\ntimeout = 0.5\n").unwrap();
        assert_eq!(
            config.modules["hosts"].timeout,
            Some(Duration::from_secs(30))
        );
        assert!(!config.modules["hosts"].settings.contains_key("timeout"));
        assert_eq!(
            config.module_timeouts(),
            BTreeMap::from([
                ("hosts".to_owned(), Duration::from_secs(30)),
                ("motd".to_owned(), Duration::from_millis(500)),
            ])
        );
    }

    #[test]
    fn invalid_timeout_is_rejected() {
        for value in ["0", "-5", "0.0", "\"soon\"", "nan", "inf", "true"] {
            let error = parse(&format!("[modules.motd]\ntimeout = {value}\n")).unwrap_err();
            assert!(
                matches!(&error, ConfigError::Timeout { module, .. } if module == "motd"),
                "timeout = {value}: {error}"
            );
        }
    }

    #[test]
    fn module_without_table_is_enabled() {
        let config = parse("").unwrap();
        assert!(config.is_enabled("motd"));
        assert_eq!(config.settings_text("motd"), "");
    }

    #[test]
    fn invalid_toml_names_file_and_line() {
        let error = parse("jobs = 2\n[modules.hosts\n").unwrap_err();
        let text = format!("{:#}", anyhow::Error::from(error));
        assert!(text.contains("test.toml"), "{text}");
        assert!(text.contains("line 2"), "{text}");
    }

    #[test]
    fn wrong_host_setting_type_is_rejected() {
        let error = parse("jobs = \"many\"\n").unwrap_err();
        let text = format!("{:#}", anyhow::Error::from(error));
        assert!(text.contains("line 1"), "{text}");
        assert!(text.contains("jobs"), "{text}");
    }

    #[test]
    fn unknown_host_setting_is_rejected() {
        let error = parse("plugin_dirs = \"/x\"\n").unwrap_err();
        let text = format!("{:#}", anyhow::Error::from(error));
        assert!(text.contains("plugin_dirs"), "{text}");
    }

    #[test]
    fn non_boolean_enabled_is_rejected() {
        let error = parse("[modules.motd]\nenabled = \"no\"\n").unwrap_err();
        assert!(error.to_string().contains("[modules.motd]"), "{error}");
    }

    #[test]
    fn explicit_plugin_dir_wins_over_configuration() {
        let config = parse("plugin_dir = \"/from/config\"\n").unwrap();
        assert_eq!(config.plugin_dir(None), Path::new("/from/config"));
        assert_eq!(
            config.plugin_dir(Some(Path::new("/cli"))),
            Path::new("/cli")
        );
        assert_eq!(
            Config::default().plugin_dir(None),
            Path::new(DEFAULT_PLUGIN_DIR)
        );
    }

    #[test]
    fn version_key_is_removed_from_settings() {
        let config = parse("[modules.hosts]\nversion = \"1.2.0\"\nentries = []\n").unwrap();
        let hosts = &config.modules["hosts"];
        assert_eq!(hosts.version, Some(semver::Version::new(1, 2, 0)));
        assert!(!hosts.settings.contains_key("version"));
        assert_eq!(
            config.version_pins(),
            BTreeMap::from([("hosts".to_owned(), semver::Version::new(1, 2, 0))])
        );
    }

    #[test]
    fn invalid_version_pin_is_rejected() {
        for value in ["\"1.2\"", "\"latest\"", "3"] {
            let error = parse(&format!("[modules.motd]\nversion = {value}\n")).unwrap_err();
            assert!(
                matches!(&error, ConfigError::Version { module, .. } if module == "motd"),
                "version = {value}: {error}"
            );
        }
    }

    #[test]
    fn trust_table_is_read() {
        let pin = "AB".repeat(32);
        let config = parse(&format!(
            "[trust]\nstrict = false\nsha256 = {{ hosts = \"{pin}\" }}\n"
        ))
        .unwrap();
        assert!(!config.trust.strict);
        assert_eq!(config.trust.sha256["hosts"], "ab".repeat(32));
        assert!(parse("").unwrap().trust.strict);
    }

    #[test]
    fn invalid_sha256_pin_is_rejected() {
        let error = parse("[trust]\nsha256 = { hosts = \"abc\" }\n").unwrap_err();
        assert!(
            matches!(&error, ConfigError::Sha256Pin { module, .. } if module == "hosts"),
            "{error}"
        );
    }

    #[test]
    fn scan_settings_are_read() {
        let config = parse("scan_cache = \"/tmp/x.json\"\nscan_timeout = 2\n").unwrap();
        assert_eq!(config.scan_cache.as_deref(), Some(Path::new("/tmp/x.json")));
        assert_eq!(config.scan_timeout, Some(Duration::from_secs(2)));
        let error = parse("scan_timeout = -1\n").unwrap_err();
        assert!(error.to_string().contains("scan_timeout"), "{error}");
    }

    #[test]
    fn lock_timeout_must_be_positive() {
        let config = parse("lock_timeout = 2.5\n").unwrap();
        assert_eq!(config.lock_timeout, Some(Duration::from_millis(2500)));
        let config = parse("lock_timeout = 3\n").unwrap();
        assert_eq!(config.lock_timeout, Some(Duration::from_secs(3)));
        let error = parse("lock_timeout = 0\n").unwrap_err();
        assert!(error.to_string().contains("lock_timeout"), "{error}");
    }

    #[test]
    fn huge_timeouts_mean_no_limit() {
        let config = parse(
            "lock_timeout = 1e20\nscan_timeout = 2e19\n\n\
             [modules.motd]\ntimeout = 1e300\n\n\
             [modules.hosts]\ntimeout = 9223372036854775807\n",
        )
        .unwrap();

        assert_eq!(config.lock_timeout, Some(Duration::MAX));
        assert_eq!(config.scan_timeout, Some(Duration::MAX));
        assert_eq!(config.modules["motd"].timeout, Some(Duration::MAX));
        assert_eq!(
            config.modules["hosts"].timeout,
            Some(Duration::from_secs(9_223_372_036_854_775_807))
        );
    }

    #[test]
    fn tiny_timeouts_round_up_to_one_nanosecond() {
        let config =
            parse("lock_timeout = 0.0000000001\n\n[modules.motd]\ntimeout = 1e-300\n").unwrap();

        assert_eq!(config.lock_timeout, Some(Duration::from_nanos(1)));
        assert_eq!(
            config.modules["motd"].timeout,
            Some(Duration::from_nanos(1))
        );
    }

    #[test]
    fn invalid_timeout_message_names_setting_value_and_reason() {
        let cases = [
            (
                "lock_timeout = 0\n",
                "`lock_timeout` is invalid",
                "`0` is zero",
            ),
            (
                "lock_timeout = -2.5\n",
                "`lock_timeout` is invalid",
                "`-2.5` is negative",
            ),
            (
                "scan_timeout = nan\n",
                "`scan_timeout` is invalid",
                "`nan` is NaN",
            ),
            (
                "lock_timeout = \"5\"\n",
                "`lock_timeout` is invalid",
                "`\"5\"` is not a number",
            ),
            (
                "scan_timeout = true\n",
                "`scan_timeout` is invalid",
                "`true` is not a number",
            ),
            (
                "scan_timeout = inf\n",
                "`scan_timeout` is invalid",
                "`inf` is infinite",
            ),
            (
                "[modules.motd]\ntimeout = \"soon\"\n",
                "`timeout` in [modules.motd] is invalid",
                "`\"soon\"` is not a number",
            ),
            (
                "[modules.motd]\ntimeout = -5\n",
                "`timeout` in [modules.motd] is invalid",
                "`-5` is negative",
            ),
        ];
        for (text, setting, reason) in cases {
            let message = parse(text).unwrap_err().to_string();

            assert!(message.contains(setting), "{text}: {message}");
            assert!(message.contains(reason), "{text}: {message}");
            assert!(
                message.contains("expected a positive number of seconds"),
                "{message}"
            );
        }
    }

    #[test]
    fn seconds_from_command_line_are_parsed() {
        assert_eq!(parse_seconds(" 2.5 "), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_seconds("9.3e18"), Ok(Duration::from_secs_f64(9.3e18)));
        assert_eq!(parse_seconds("1e20"), Ok(Duration::MAX));
        assert_eq!(parse_seconds("0.0000000001"), Ok(Duration::from_nanos(1)));
        assert_eq!(parse_seconds("0"), Err(InvalidSeconds::Zero));
        assert_eq!(parse_seconds("-1"), Err(InvalidSeconds::Negative));
        assert_eq!(parse_seconds("NaN"), Err(InvalidSeconds::NaN));
        assert_eq!(parse_seconds("inf"), Err(InvalidSeconds::Infinite));
        assert_eq!(parse_seconds("soon"), Err(InvalidSeconds::NotANumber));
        assert_eq!(parse_seconds(""), Err(InvalidSeconds::NotANumber));
    }

    #[test]
    fn lock_dir_naming_root_is_rejected() {
        for value in ["", "/", ".", "/run/..", "//"] {
            let text = format!("lock_dir = {value:?}\n");

            let error = parse(&text).unwrap_err();

            assert!(
                matches!(&error, ConfigError::LockDirIsRoot { value: shown, .. } if shown == value),
                "{text}: {error}"
            );
            let message = error.to_string();
            assert!(message.contains("`lock_dir = "), "{message}");
            assert!(
                message.contains("expected a directory below the root"),
                "{message}"
            );
        }
        let config = parse("lock_dir = \"locks\"\n").unwrap();
        assert_eq!(config.lock_dir.as_deref(), Some(Path::new("locks")));
    }
}
