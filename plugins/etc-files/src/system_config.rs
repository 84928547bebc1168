//! Reading `/etc/system_config`, the `key=value` file that the `system` module writes and the
//! `hosts` and `motd` modules read.
//!
//! NOTE: the writer stays in the `system` module. [`parse`] ignores keys it does not know, but a
//! key that `system` renames or stops writing needs a matching change here.

use std::path::Path;

use plugin_api::anyhow::{Context as _, Result, anyhow, bail};

/// The system path of the file, as modules pass it to `Context::resolve`.
pub const SYSTEM_CONFIG: &str = "/etc/system_config";

/// The values that the `system` module records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemConfig {
    /// The machine's hostname.
    pub hostname: String,
    /// The deployment environment's name.
    pub environment: String,
}

/// Reads and parses the file at `path`, the resolved form of [`SYSTEM_CONFIG`].
pub fn read(path: &Path) -> Result<SystemConfig> {
    let text = plugin_api::fs::read_to_string_if_exists(path)?.with_context(|| {
        format!(
            "{} does not exist; the `system` module writes it, and this module lists `system` \
             in depends_on, so check that `system` ran",
            path.display()
        )
    })?;
    parse(&text).with_context(|| format!("invalid {}", path.display()))
}

/// Parses the text of the file. Blank lines and lines starting with `#` are skipped, and
/// unknown keys are ignored so that `system` can add keys without breaking readers.
pub fn parse(text: &str) -> Result<SystemConfig> {
    let mut hostname = None;
    let mut environment = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bail!("line {}: expected `key=value`, found `{line}`", index + 1);
        };
        match key.trim() {
            "hostname" => hostname = Some(value.trim().to_owned()),
            "environment" => environment = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    Ok(SystemConfig {
        hostname: hostname.ok_or_else(|| anyhow!("missing key `hostname`"))?,
        environment: environment.ok_or_else(|| anyhow!("missing key `environment`"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_keys_and_skips_comments() {
        let text = "# written by system\n\nhostname=web01\ntimezone=Etc/UTC\nenvironment=staging\n";

        let config = parse(text).unwrap();

        assert_eq!(config.hostname, "web01");
        assert_eq!(config.environment, "staging");
    }

    #[test]
    fn parse_trims_spaces_around_keys_and_values() {
        let config = parse("hostname = web01 \nenvironment= prod\n").unwrap();

        assert_eq!(config.hostname, "web01");
        assert_eq!(config.environment, "prod");
    }

    #[test]
    fn parse_names_the_missing_key() {
        let error = parse("hostname=web01\n").unwrap_err();

        assert_eq!(error.to_string(), "missing key `environment`");
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
    fn read_explains_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();

        let error = read(&dir.path().join("system_config")).unwrap_err();

        assert!(
            error.to_string().contains("`system` module writes it"),
            "{error}"
        );
    }
}
