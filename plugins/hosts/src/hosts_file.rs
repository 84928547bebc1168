//! Editing the text of `/etc/hosts`, where each line is an address followed by names and `#`
//! starts a comment.
//!
//! Read [`updated_hosts_file`] first.

use std::net::IpAddr;

/// Loopback address that Debian's installer maps to the machine's own hostname.
pub const OWN_ADDRESS: &str = "127.0.1.1";

/// One address and the names that resolve to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    /// IPv4 or IPv6 address as written in the file.
    pub address: String,
    /// Host names, the canonical name first.
    pub names: Vec<String>,
}

impl HostEntry {
    /// Formats the entry as a line of `/etc/hosts`, without the line break.
    pub fn to_line(&self) -> String {
        format!("{}\t{}", self.address, self.names.join(" "))
    }
}

/// Formats a line for a change message, with single spaces in place of tabs and runs of
/// blanks.
fn describe(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Returns the text of `/etc/hosts` after applying `own` and `extras`, and one description per
/// change. An empty list means that `current` already satisfies both and should be kept as is.
///
/// - `own` owns the first line with the same address: that line is replaced unless it lists
///   exactly `own`'s names. Without such a line, `own` goes right after the first `127.0.0.1`
///   line, or at the end when there is none.
/// - An entry of `extras` is satisfied by any line with its address that lists all its names.
///   Otherwise it is appended as a new line. Lines are never removed, so an entry dropped
///   from the settings stays in the file.
///
/// Every other line, comments and blank lines included, is kept verbatim.
pub fn updated_hosts_file(
    current: &str,
    own: &HostEntry,
    extras: &[HostEntry],
) -> (String, Vec<String>) {
    let mut lines: Vec<String> = current.lines().map(str::to_owned).collect();
    let mut changes = Vec::new();

    let own_line = lines
        .iter()
        .position(|line| line_address_is(line, &own.address));
    match own_line {
        Some(index) if line_names_equal(&lines[index], &own.names) => {}
        Some(index) => {
            changes.push(format!(
                "replaced `{}` with `{}`",
                describe(&lines[index]),
                describe(&own.to_line())
            ));
            lines[index] = own.to_line();
        }
        None => {
            let after_localhost = lines
                .iter()
                .position(|line| line_address_is(line, "127.0.0.1"))
                .map_or(lines.len(), |index| index + 1);
            lines.insert(after_localhost, own.to_line());
            changes.push(format!("added `{}`", describe(&own.to_line())));
        }
    }

    for entry in extras {
        let satisfied = lines.iter().any(|line| {
            line_address_is(line, &entry.address) && line_has_names(line, &entry.names)
        });
        if !satisfied {
            lines.push(entry.to_line());
            changes.push(format!("added `{}`", describe(&entry.to_line())));
        }
    }

    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    (text, changes)
}

/// Splits a line into its address and names, dropping any comment. Returns `None` for blank
/// and comment-only lines.
fn parse_line(line: &str) -> Option<(&str, Vec<&str>)> {
    let without_comment = line.split_once('#').map_or(line, |(before, _)| before);
    let mut fields = without_comment.split_whitespace();
    let address = fields.next()?;
    Some((address, fields.collect()))
}

/// Compares addresses as IP addresses when both parse, so `::1` matches `0:0:0:0:0:0:0:1`.
fn same_address(left: &str, right: &str) -> bool {
    match (left.parse::<IpAddr>(), right.parse::<IpAddr>()) {
        (Ok(left), Ok(right)) => left == right,
        _ => left == right,
    }
}

fn line_address_is(line: &str, address: &str) -> bool {
    parse_line(line).is_some_and(|(line_address, _)| same_address(line_address, address))
}

/// Host names are case-insensitive, so `Web01` on a line counts as `web01`.
fn line_has_names(line: &str, names: &[String]) -> bool {
    let Some((_, line_names)) = parse_line(line) else {
        return false;
    };
    names.iter().all(|name| {
        line_names
            .iter()
            .any(|line_name| line_name.eq_ignore_ascii_case(name))
    })
}

fn line_names_equal(line: &str, names: &[String]) -> bool {
    let Some((_, line_names)) = parse_line(line) else {
        return false;
    };
    line_names.len() == names.len()
        && line_names
            .iter()
            .zip(names)
            .all(|(line_name, name)| line_name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(address: &str, names: &[&str]) -> HostEntry {
        HostEntry {
            address: address.to_owned(),
            names: names.iter().map(|name| (*name).to_owned()).collect(),
        }
    }

    const DEBIAN_HOSTS: &str = "\
127.0.0.1\tlocalhost
127.0.1.1\tdebian

# The following lines are desirable for IPv6 capable hosts
::1     localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
";

    #[test]
    fn own_line_replaces_stale_hostname() {
        let own = entry(OWN_ADDRESS, &["web01.example.com", "web01"]);

        let (text, changes) = updated_hosts_file(DEBIAN_HOSTS, &own, &[]);

        assert_eq!(
            text,
            DEBIAN_HOSTS.replace("127.0.1.1\tdebian", "127.0.1.1\tweb01.example.com web01")
        );
        assert_eq!(
            changes,
            ["replaced `127.0.1.1 debian` with `127.0.1.1 web01.example.com web01`"]
        );
    }

    #[test]
    fn own_line_goes_after_localhost_when_missing() {
        let current = "127.0.0.1 localhost\n::1 localhost\n";

        let (text, _) = updated_hosts_file(current, &entry(OWN_ADDRESS, &["web01"]), &[]);

        assert_eq!(
            text,
            "127.0.0.1 localhost\n127.0.1.1\tweb01\n::1 localhost\n"
        );
    }

    #[test]
    fn own_line_is_appended_without_localhost_line() {
        let (text, _) = updated_hosts_file("::1 localhost\n", &entry(OWN_ADDRESS, &["web01"]), &[]);

        assert_eq!(text, "::1 localhost\n127.0.1.1\tweb01\n");
    }

    #[test]
    fn own_line_with_comment_is_kept() {
        let current = "127.0.1.1   WEB01   # set by the installer\n";

        let (text, changes) = updated_hosts_file(current, &entry(OWN_ADDRESS, &["web01"]), &[]);

        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(text, current);
    }

    #[test]
    fn own_line_with_extra_alias_is_replaced() {
        let current = "127.0.1.1 web01 old-alias\n";

        let (text, changes) = updated_hosts_file(current, &entry(OWN_ADDRESS, &["web01"]), &[]);

        assert_eq!(text, "127.0.1.1\tweb01\n");
        assert_eq!(changes.len(), 1);
    }

    #[test]
    fn only_first_own_address_line_is_replaced() {
        let current = "127.0.1.1 old\n127.0.1.1 other\n";

        let (text, _) = updated_hosts_file(current, &entry(OWN_ADDRESS, &["web01"]), &[]);

        assert_eq!(text, "127.0.1.1\tweb01\n127.0.1.1 other\n");
    }

    #[test]
    fn extra_entry_is_appended_when_missing() {
        let own = entry(OWN_ADDRESS, &["debian"]);
        let extra = entry("192.0.2.10", &["db.example.com", "db"]);

        let (text, changes) = updated_hosts_file(DEBIAN_HOSTS, &own, &[extra]);

        assert_eq!(
            text,
            format!("{DEBIAN_HOSTS}192.0.2.10\tdb.example.com db\n")
        );
        assert_eq!(changes, ["added `192.0.2.10 db.example.com db`"]);
    }

    #[test]
    fn extra_entry_matches_longer_line() {
        let current = "127.0.1.1 web01\n192.0.2.10 db.example.com db backup\n";
        let own = entry(OWN_ADDRESS, &["web01"]);

        let (_, changes) = updated_hosts_file(current, &own, &[entry("192.0.2.10", &["db"])]);

        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn extra_entry_on_other_address_is_still_added() {
        let current = "127.0.1.1 web01\n192.0.2.99 db\n";
        let own = entry(OWN_ADDRESS, &["web01"]);

        let (text, _) = updated_hosts_file(current, &own, &[entry("192.0.2.10", &["db"])]);

        assert_eq!(text, "127.0.1.1 web01\n192.0.2.99 db\n192.0.2.10\tdb\n");
    }

    #[test]
    fn ipv6_addresses_match_in_any_spelling() {
        let current = "127.0.1.1 web01\n2001:db8:0:0::5 app\n";
        let own = entry(OWN_ADDRESS, &["web01"]);

        let (_, changes) = updated_hosts_file(current, &own, &[entry("2001:db8::5", &["app"])]);

        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn commented_out_entry_does_not_count() {
        let current = "127.0.1.1 web01\n# 192.0.2.10 db\n";
        let own = entry(OWN_ADDRESS, &["web01"]);

        let (text, _) = updated_hosts_file(current, &own, &[entry("192.0.2.10", &["db"])]);

        assert_eq!(text, "127.0.1.1 web01\n# 192.0.2.10 db\n192.0.2.10\tdb\n");
    }

    #[test]
    fn empty_file_gets_own_and_extra_lines() {
        let own = entry(OWN_ADDRESS, &["web01"]);

        let (text, _) = updated_hosts_file("", &own, &[entry("192.0.2.10", &["db"])]);

        assert_eq!(text, "127.0.1.1\tweb01\n192.0.2.10\tdb\n");
    }

    #[test]
    fn second_update_changes_nothing() {
        let own = entry(OWN_ADDRESS, &["web01.example.com", "web01"]);
        let extras = [
            entry("192.0.2.10", &["db.example.com", "db"]),
            entry("2001:db8::5", &["app"]),
        ];
        let (first, _) = updated_hosts_file(DEBIAN_HOSTS, &own, &extras);

        let (second, changes) = updated_hosts_file(&first, &own, &extras);

        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(second, first);
    }
}
