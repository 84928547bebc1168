//! The `hosts` module: the machine's own line and extra entries in `/etc/hosts`.
//!
//! It reads the hostname from `/etc/system_config`, which the `system` module writes, so it
//! lists `system` in `depends_on`. Without that, the two could run in the same batch and this
//! module could read a missing or stale file. `/etc/hosts` is shared with anything else that
//! adds entries, so the whole read-modify-write happens under `Context::file_lock`. Lines the
//! module does not manage are left untouched.
//!
//! Read [`HostsModule::configure`] first, then [`hosts_file::updated_hosts_file`].

mod hosts_file;

use std::net::IpAddr;

use configurator_etc_files::system_config;
use plugin_api::anyhow::{Context as _, Result, bail};
use plugin_api::fs::{read_to_string_if_exists, write_atomic};
use plugin_api::{ConfigurationModule, Context, Outcome};
use serde::Deserialize;

use crate::hosts_file::{HostEntry, OWN_ADDRESS, updated_hosts_file};

/// Mode of `/etc/hosts` when the module creates it.
const NEW_FILE_MODE: u32 = 0o644;

/// Settings from `[modules.hosts]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// Domain for the fully qualified name on the `127.0.1.1` line, such as `example.com`.
    /// Without it the line lists the bare hostname.
    domain: Option<String>,
    /// Extra entries, each written like a line of `/etc/hosts`: an address, then its names.
    entries: Vec<String>,
}

impl Settings {
    /// Checks the settings and parses the extra entries.
    fn extra_entries(&self) -> Result<Vec<HostEntry>> {
        if let Some(domain) = &self.domain {
            validate_name(domain).context("invalid `domain` in [modules.hosts]")?;
        }
        self.entries
            .iter()
            .map(|entry| {
                parse_entry(entry).with_context(|| {
                    format!("invalid entry `{entry}` in `entries` of [modules.hosts]")
                })
            })
            .collect()
    }

    /// Builds the `127.0.1.1` entry: the fully qualified name first, then the hostname.
    fn own_entry(&self, hostname: &str) -> HostEntry {
        let mut names = Vec::new();
        if let Some(domain) = &self.domain {
            names.push(format!("{hostname}.{domain}"));
        }
        names.push(hostname.to_owned());
        HostEntry {
            address: OWN_ADDRESS.to_owned(),
            names,
        }
    }
}

/// Parses an entry such as `192.0.2.10 db.example.com db`.
fn parse_entry(entry: &str) -> Result<HostEntry> {
    let mut fields = entry.split_whitespace();
    let address = fields.next().unwrap_or_default();
    let parsed: IpAddr = address
        .parse()
        .with_context(|| format!("`{address}` is not an IPv4 or IPv6 address"))?;
    if parsed == OWN_ADDRESS.parse::<IpAddr>()? {
        bail!(
            "address {OWN_ADDRESS} is reserved for the hostname line; set `domain` for its \
             fully qualified name"
        );
    }

    let names: Vec<String> = fields.map(str::to_owned).collect();
    if names.is_empty() {
        bail!("address {address} has no names");
    }
    for name in &names {
        validate_name(name)?;
    }
    Ok(HostEntry {
        address: address.to_owned(),
        names,
    })
}

/// Checks that a host name cannot break the line format: ASCII letters, digits, `.`, `-` and
/// `_`, not starting with `.` or `-`.
fn validate_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b".-_".contains(&byte));
    if !valid {
        bail!("invalid host name `{name}`: expected letters, digits, `.`, `-` or `_`");
    }
    Ok(())
}

/// The `hosts` module.
#[derive(Debug, Default)]
pub struct HostsModule;

impl ConfigurationModule for HostsModule {
    fn name(&self) -> &str {
        "hosts"
    }

    fn description(&self) -> &str {
        "Maps the hostname to 127.0.1.1 and adds extra entries in /etc/hosts"
    }

    fn depends_on(&self) -> &[&str] {
        &["system"]
    }

    /// Reads the hostname, then edits `/etc/hosts` under its lock.
    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        let settings: Settings = ctx.settings()?;
        let extras = settings.extra_entries()?;

        let config_path = ctx.resolve(system_config::SYSTEM_CONFIG)?;
        let system = system_config::read(&config_path)?;
        validate_name(&system.hostname)
            .with_context(|| format!("invalid hostname in {}", config_path.display()))?;
        let own = settings.own_entry(&system.hostname);

        let lock = ctx.file_lock("/etc/hosts")?;
        let current = read_to_string_if_exists(lock.path())?.unwrap_or_default();
        let (updated, changes) = updated_hosts_file(&current, &own, &extras);
        if changes.is_empty() {
            return Ok(Outcome::unchanged(format!(
                "/etc/hosts already maps {} and {} extra entries",
                system.hostname,
                extras.len()
            )));
        }

        write_atomic(lock.path(), &updated, NEW_FILE_MODE)?;
        for change in &changes {
            ctx.info(format_args!("/etc/hosts: {change}"));
        }
        Ok(Outcome::changed(format!(
            "/etc/hosts: {}",
            changes.join("; ")
        )))
    }
}

plugin_api::export_module!(HostsModule);

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Settings {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn own_entry_lists_qualified_name_first() {
        let own = settings("domain = \"example.com\"").own_entry("web01");

        assert_eq!(own.to_line(), "127.0.1.1\tweb01.example.com web01");
    }

    #[test]
    fn own_entry_without_domain_lists_hostname_only() {
        let own = settings("").own_entry("web01");

        assert_eq!(own.to_line(), "127.0.1.1\tweb01");
    }

    #[test]
    fn extra_entries_are_parsed_like_hosts_lines() {
        let text = "entries = [\"192.0.2.10  db.example.com db\", \"2001:db8::5 app\"]";

        let extras = settings(text).extra_entries().unwrap();

        assert_eq!(extras.len(), 2);
        assert_eq!(extras[0].to_line(), "192.0.2.10\tdb.example.com db");
        assert_eq!(extras[1].to_line(), "2001:db8::5\tapp");
    }

    #[test]
    fn extra_entry_rejects_invalid_address() {
        let error = settings("entries = [\"192.0.2.300 db\"]")
            .extra_entries()
            .unwrap_err();

        assert_eq!(
            format!("{error:#}"),
            "invalid entry `192.0.2.300 db` in `entries` of [modules.hosts]: `192.0.2.300` is \
             not an IPv4 or IPv6 address: invalid IP address syntax"
        );
    }

    #[test]
    fn extra_entry_rejects_empty_text() {
        let error = settings("entries = [\"  \"]").extra_entries().unwrap_err();

        assert!(
            format!("{error:#}").contains("`` is not an IPv4"),
            "{error:#}"
        );
    }

    #[test]
    fn extra_entry_rejects_own_address() {
        let error = settings("entries = [\"127.0.1.1 alias\"]")
            .extra_entries()
            .unwrap_err();

        assert!(format!("{error:#}").contains("reserved"), "{error:#}");
    }

    #[test]
    fn extra_entry_rejects_missing_names() {
        let error = settings("entries = [\"192.0.2.10\"]")
            .extra_entries()
            .unwrap_err();

        assert!(format!("{error:#}").contains("has no names"), "{error:#}");
    }

    #[test]
    fn name_rejects_comment_and_whitespace() {
        for name in ["db#x", "db x", "", "-db", "db\n"] {
            assert!(validate_name(name).is_err(), "{name:?}");
        }
    }
}
