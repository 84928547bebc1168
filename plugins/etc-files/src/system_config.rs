//! Reading `/etc/system_config`, the `key=value` file that the `system` module writes and the
//! `hosts` and `motd` modules read.
//!
//! Every key is optional: `system` records only the values it has, from its settings or the
//! current `/etc/hostname` and `/etc/timezone`, and writes no file at all when nothing is
//! configured. A reader treats a missing file or key as an unknown value.
//!
//! NOTE: the writer stays in the `system` module. [`parse`] ignores keys it does not know, but a
//! key that `system` renames or stops writing needs a matching change here.

use std::path::Path;

use plugin_api::anyhow::{Context as _, Result, bail};

/// The system path of the file, as modules pass it to `Context::resolve`.
pub const SYSTEM_CONFIG: &str = "/etc/system_config";

/// The values that the `system` module records, each `None` when the file does not list it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemConfig {
    /// The machine's hostname.
    pub hostname: Option<String>,
    /// The deployment environment's name.
    pub environment: Option<String>,
}

/// Reads and parses the file at `path`, the resolved form of [`SYSTEM_CONFIG`]. A missing file
/// gives a [`SystemConfig`] with every value unknown. Anything but a regular file is an error.
pub fn read(path: &Path) -> Result<SystemConfig> {
    match plugin_api::fs::read_to_string_if_exists(path)? {
        Some(text) => parse(&text).with_context(|| format!("invalid {}", path.display())),
        None => Ok(SystemConfig::default()),
    }
}

/// Parses the text of the file. Blank lines and lines starting with `#` are skipped, and
/// unknown keys are ignored so that `system` can add keys without breaking readers. A known
/// key with an empty value is an error, because `system` never writes one.
pub fn parse(text: &str) -> Result<SystemConfig> {
    let mut config = SystemConfig::default();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bail!("line {}: expected `key=value`, found `{line}`", index + 1);
        };
        let (key, value) = (key.trim(), value.trim());
        let slot = match key {
            "hostname" => &mut config.hostname,
            "environment" => &mut config.environment,
            _ => continue,
        };
        if value.is_empty() {
            bail!("line {}: key `{key}` has an empty value", index + 1);
        }
        *slot = Some(value.to_owned());
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn parse_reads_keys_and_skips_comments() {
        let text = "# written by system\n\nhostname=web01\ntimezone=Etc/UTC\nenvironment=staging\n";

        let config = parse(text).unwrap();

        assert_eq!(config.hostname.as_deref(), Some("web01"));
        assert_eq!(config.environment.as_deref(), Some("staging"));
    }

    #[test]
    fn parse_trims_spaces_around_keys_and_values() {
        let config = parse("hostname = web01 \nenvironment= prod\n").unwrap();

        assert_eq!(config.hostname.as_deref(), Some("web01"));
        assert_eq!(config.environment.as_deref(), Some("prod"));
    }

    #[test]
    fn parse_leaves_missing_keys_unknown() {
        let config = parse("hostname=web01\n").unwrap();

        assert_eq!(config.hostname.as_deref(), Some("web01"));
        assert_eq!(config.environment, None);
    }

    #[test]
    fn parse_of_header_only_is_empty() {
        let config = parse("# written by system\n").unwrap();

        assert_eq!(config, SystemConfig::default());
    }

    #[test]
    fn parse_rejects_empty_value() {
        let error = parse("hostname=\n").unwrap_err();

        assert_eq!(
            error.to_string(),
            "line 1: key `hostname` has an empty value"
        );
    }

    #[test]
    fn parse_names_the_malformed_line() {
        let error = parse("hostname=web01\nthis is not a pair\n").unwrap_err();

        assert_eq!(
            error.to_string(),
            "line 2: expected `key=value`, found `this is not a pair`"
        );
    }

    #[test]
    fn read_of_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();

        let config = read(&dir.path().join("system_config")).unwrap();

        assert_eq!(config, SystemConfig::default());
    }

    #[test]
    fn read_names_the_file_of_an_invalid_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("system_config");
        fs::write(&path, "garbage\n").unwrap();

        let error = read(&path).unwrap_err();

        assert_eq!(
            format!("{error:#}"),
            format!(
                "invalid {}: line 1: expected `key=value`, found `garbage`",
                path.display()
            )
        );
    }

    #[test]
    fn read_rejects_a_directory() {
        let dir = tempfile::tempdir().unwrap();

        let error = read(dir.path()).unwrap_err();

        assert!(
            format!("{error:#}").contains("not a regular file"),
            "{error:#}"
        );
    }
}
