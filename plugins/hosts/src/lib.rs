//! The `hosts` module: the machine's own line and extra entries in `/etc/hosts`.
//!
//! # Settings
//!
//! - `entries`: extra entries, each written like a line of `/etc/hosts`: an address, then its
//!   names. None by default. A name may appear in one entry only.
//! - `domain`: a domain such as `example.com`. Unset by default, and then the `127.0.1.1` line
//!   is kept as long as it lists the hostname, whatever other names it has. When set, the line
//!   must list exactly `HOSTNAME.DOMAIN HOSTNAME`.
//!
//! # The hostname line
//!
//! The hostname comes from `/etc/system_config`, which the `system` module writes, so `system`
//! is in `depends_on`. Without that, the two could run in the same batch and this module could
//! read a missing or stale file. The `127.0.1.1` line is managed only when that file lists a
//! hostname other than `localhost`, which `system` records only when it is configured. With
//! no hostname and no `entries`, the module touches no file and reports `unchanged`.
//!
//! # Entries own their names
//!
//! A configured entry owns its names: a line whose names all belong to entries with another
//! address is stale, and is replaced by the new entry or removed, so that moving a name to a
//! new address takes effect. A line that also lists names no entry owns is kept, with a
//! warning for each configured name on it that still points elsewhere. Lines with a loopback
//! address are never replaced. Lines the module does not manage are left untouched.
//!
//! `/etc/hosts` is shared with anything else that adds entries, so the whole read-modify-write
//! happens under `Context::file_lock`.
//!
//! Read [`HostsModule::configure`] first, then [`hosts_file::updated_hosts_file`].

mod hosts_file;

use std::collections::HashMap;
use std::net::IpAddr;

use configurator_etc_files::system_config;
use plugin_api::anyhow::{Context as _, Result, bail};
use plugin_api::{ConfigurationModule, Context, Outcome};
use serde::Deserialize;

use crate::hosts_file::{HostEntry, OWN_ADDRESS, OwnLine, updated_hosts_file};

/// Mode of `/etc/hosts` when the module creates it.
const NEW_FILE_MODE: u32 = 0o644;

/// Settings from `[modules.hosts]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// Domain for the fully qualified name on the `127.0.1.1` line, such as `example.com`.
    /// Without it the line only has to list the bare hostname.
    domain: Option<String>,
    /// Extra entries, each written like a line of `/etc/hosts`: an address, then its names.
    entries: Vec<String>,
}

impl Settings {
    /// Checks the settings and parses the extra entries. Fails when a name appears in two
    /// entries, because each entry owns its names.
    fn extra_entries(&self) -> Result<Vec<HostEntry>> {
        if let Some(domain) = &self.domain {
            validate_name(domain).context("invalid `domain` in [modules.hosts]")?;
        }
        let entries = self
            .entries
            .iter()
            .map(|entry| {
                parse_entry(entry).with_context(|| {
                    format!("invalid entry `{entry}` in `entries` of [modules.hosts]")
                })
            })
            .collect::<Result<Vec<_>>>()?;

        // Host names are case-insensitive, so ownership is keyed by the lowercase name.
        let mut owners: HashMap<String, usize> = HashMap::new();
        for (index, entry) in entries.iter().enumerate() {
            for name in &entry.names {
                match owners.insert(name.to_ascii_lowercase(), index) {
                    Some(owner) if owner != index => bail!(
                        "invalid `entries` in [modules.hosts]: name {name} is listed in both \
                         `{}` and `{}`; list each name in one entry",
                        self.entries[owner],
                        self.entries[index]
                    ),
                    _ => {}
                }
            }
        }
        Ok(entries)
    }

    /// Builds the `127.0.1.1` line: the fully qualified name first, then the hostname.
    fn own_line(&self, hostname: &str) -> OwnLine {
        let mut names = Vec::new();
        if let Some(domain) = &self.domain {
            names.push(format!("{hostname}.{domain}"));
        }
        names.push(hostname.to_owned());
        OwnLine {
            entry: HostEntry {
                address: OWN_ADDRESS.to_owned(),
                names,
            },
            exact: self.domain.is_some(),
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

    /// Returns `true`: every write goes through the lock guard, which records it in check mode.
    fn supports_check(&self) -> bool {
        true
    }

    /// Reads the hostname, then edits `/etc/hosts` under its lock.
    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        let settings: Settings = ctx.settings()?;
        let extras = settings.extra_entries()?;

        let hostname = recorded_hostname(ctx)?;
        if hostname.is_none() && settings.domain.is_some() {
            ctx.warn(format_args!(
                "`domain` is set, but {} lists no hostname other than localhost; set \
                 `hostname` in [modules.system]",
                system_config::SYSTEM_CONFIG
            ));
        }
        let own = hostname
            .as_deref()
            .map(|hostname| settings.own_line(hostname));
        if own.is_none() && extras.is_empty() {
            return Ok(Outcome::unchanged(
                "nothing configured: no hostname in /etc/system_config and no entries in \
                 [modules.hosts]",
            ));
        }

        let lock = ctx.file_lock("/etc/hosts")?;
        let current = lock.read_to_string()?.unwrap_or_default();
        let update = updated_hosts_file(&current, own.as_ref(), &extras);
        for warning in &update.warnings {
            ctx.warn(format_args!("/etc/hosts: {warning}"));
        }
        if update.changes.is_empty() {
            return Ok(Outcome::unchanged(match &hostname {
                Some(hostname) => format!(
                    "/etc/hosts already maps {hostname} and {} extra entries",
                    extras.len()
                ),
                None => format!("/etc/hosts already has {} extra entries", extras.len()),
            }));
        }

        lock.write_atomic(&update.text, NEW_FILE_MODE)?;
        for change in &update.changes {
            ctx.info(format_args!("/etc/hosts: {change}"));
        }
        Ok(Outcome::changed(format!(
            "/etc/hosts: {}",
            update.changes.join("; ")
        )))
    }
}

/// Returns the hostname that `/etc/system_config` lists, or `None` when it lists none or
/// `localhost`, which must never be mapped to `127.0.1.1`.
fn recorded_hostname(ctx: &Context) -> Result<Option<String>> {
    let config_path = ctx.resolve(system_config::SYSTEM_CONFIG)?;
    let system = system_config::read(&config_path)?;
    let Some(hostname) = system.hostname else {
        return Ok(None);
    };
    if hostname.eq_ignore_ascii_case("localhost") {
        ctx.debug("the recorded hostname is localhost; leaving 127.0.1.1 alone");
        return Ok(None);
    }
    validate_name(&hostname)
        .with_context(|| format!("invalid hostname in {}", config_path.display()))?;
    Ok(Some(hostname))
}

plugin_api::export_module!(HostsModule, settings = Settings);

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Settings {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn own_line_lists_qualified_name_first() {
        let own = settings("domain = \"example.com\"").own_line("web01");

        assert_eq!(own.entry.to_line(), "127.0.1.1\tweb01.example.com web01");
        assert!(own.exact);
    }

    #[test]
    fn own_line_without_domain_lists_hostname_only() {
        let own = settings("").own_line("web01");

        assert_eq!(own.entry.to_line(), "127.0.1.1\tweb01");
        assert!(!own.exact);
    }

    #[test]
    fn extra_entries_reject_name_in_two_entries() {
        let text = "entries = [\"192.0.2.10 db.example.com db\", \"192.0.2.11 DB\"]";

        let error = settings(text).extra_entries().unwrap_err();

        assert_eq!(
            error.to_string(),
            "invalid `entries` in [modules.hosts]: name DB is listed in both \
             `192.0.2.10 db.example.com db` and `192.0.2.11 DB`; list each name in one entry"
        );
    }

    #[test]
    fn extra_entries_allow_name_repeated_within_entry() {
        let extras = settings("entries = [\"192.0.2.10 db db\"]")
            .extra_entries()
            .unwrap();

        assert_eq!(extras.len(), 1);
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
