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

    /// Host names are case-insensitive, so `DB` on a line counts as `db`.
    fn lists_name(&self, name: &str) -> bool {
        self.names.iter().any(|own| own.eq_ignore_ascii_case(name))
    }
}

/// The `127.0.1.1` line that maps the machine's own hostname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnLine {
    /// The line written when none is there or the one there is stale.
    pub entry: HostEntry,
    /// Whether the line must list exactly the entry's names in order. Otherwise a line that
    /// lists them all is kept with any other names it has.
    pub exact: bool,
}

/// The result of [`updated_hosts_file`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsUpdate {
    /// The new text of the file.
    pub text: String,
    /// One description per change. Empty when the current text should be kept as is.
    pub changes: Vec<String>,
    /// One description per line that the update kept although it maps a configured name to
    /// another address, so that the name may still resolve there.
    pub warnings: Vec<String>,
}

/// Formats a line for a message, with single spaces in place of tabs and runs of blanks.
fn describe(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Returns the text of `/etc/hosts` after applying `own` and `extras`, with a description of
/// each change and of each line that still maps a configured name elsewhere.
///
/// - `own`, when given, owns the first line with its address: that line is replaced unless it
///   lists `own`'s names (see [`OwnLine::exact`]). Without such a line, `own` goes right after
///   the first `127.0.0.1` line, or at the end when there is none.
/// - Each entry of `extras` owns its names. A line whose names are all configured for other
///   addresses is stale: it is replaced in place by the first entry that needs a line and
///   lists one of its names, or else removed. Lines with a loopback address or an address
///   that is not an IP address are never stale, so `localhost` and the own line stay.
/// - An entry of `extras` is satisfied by any line with its address that lists all its names.
///   Otherwise it replaces a stale line as above or is appended as a new line. A line that an
///   entry dropped from the settings used to satisfy stays in the file.
///
/// Every other line, comments and blank lines included, is kept verbatim.
pub fn updated_hosts_file(
    current: &str,
    own: Option<&OwnLine>,
    extras: &[HostEntry],
) -> HostsUpdate {
    let mut lines: Vec<String> = current.lines().map(str::to_owned).collect();
    let mut changes = Vec::new();

    if let Some(own) = own {
        apply_own_line(&mut lines, own, &mut changes);
    }
    apply_extras(&mut lines, extras, &mut changes);
    let warnings = shadowing_lines(&lines, extras);

    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    HostsUpdate {
        text,
        changes,
        warnings,
    }
}

fn apply_own_line(lines: &mut Vec<String>, own: &OwnLine, changes: &mut Vec<String>) {
    let entry = &own.entry;
    let own_line = lines
        .iter()
        .position(|line| line_address_is(line, &entry.address));
    match own_line {
        Some(index) if own.exact && line_names_equal(&lines[index], &entry.names) => {}
        Some(index) if !own.exact && line_has_names(&lines[index], &entry.names) => {}
        Some(index) => {
            changes.push(format!(
                "replaced `{}` with `{}`",
                describe(&lines[index]),
                describe(&entry.to_line())
            ));
            lines[index] = entry.to_line();
        }
        None => {
            let after_localhost = lines
                .iter()
                .position(|line| line_address_is(line, "127.0.0.1"))
                .map_or(lines.len(), |index| index + 1);
            lines.insert(after_localhost, entry.to_line());
            changes.push(format!("added `{}`", describe(&entry.to_line())));
        }
    }
}

fn apply_extras(lines: &mut Vec<String>, extras: &[HostEntry], changes: &mut Vec<String>) {
    let mut stale: Vec<bool> = lines.iter().map(|line| is_stale(line, extras)).collect();

    for entry in extras {
        let satisfied = lines.iter().any(|line| {
            line_address_is(line, &entry.address) && line_has_names(line, &entry.names)
        });
        if satisfied {
            continue;
        }
        let replaceable = (0..lines.len()).find(|&index| {
            stale[index]
                && parse_line(&lines[index])
                    .is_some_and(|(_, names)| names.iter().any(|name| entry.lists_name(name)))
        });
        match replaceable {
            Some(index) => {
                changes.push(format!(
                    "replaced `{}` with `{}`",
                    describe(&lines[index]),
                    describe(&entry.to_line())
                ));
                lines[index] = entry.to_line();
                stale[index] = false;
            }
            None => {
                changes.push(format!("added `{}`", describe(&entry.to_line())));
                lines.push(entry.to_line());
                stale.push(false);
            }
        }
    }

    let mut remaining_lines = Vec::with_capacity(lines.len());
    for (line, stale) in lines.drain(..).zip(stale) {
        if stale {
            changes.push(format!(
                "removed `{}`: its names are configured for other addresses",
                describe(&line)
            ));
        } else {
            remaining_lines.push(line);
        }
    }
    *lines = remaining_lines;
}

/// Returns the address of the entry that lists `name`, if any.
fn configured_address<'a>(extras: &'a [HostEntry], name: &str) -> Option<&'a str> {
    extras
        .iter()
        .find(|entry| entry.lists_name(name))
        .map(|entry| entry.address.as_str())
}

/// Returns whether every name on the line is configured for an address other than the line's,
/// which must be an IP address outside the loopback range.
fn is_stale(line: &str, extras: &[HostEntry]) -> bool {
    let Some((address, names)) = parse_line(line) else {
        return false;
    };
    let Ok(ip) = address.parse::<IpAddr>() else {
        return false;
    };
    !ip.is_loopback()
        && !names.is_empty()
        && names.iter().all(|name| {
            configured_address(extras, name).is_some_and(|other| !same_address(other, address))
        })
}

/// Describes each line that maps a configured name to an address other than the configured
/// one.
fn shadowing_lines(lines: &[String], extras: &[HostEntry]) -> Vec<String> {
    let mut warnings = Vec::new();
    for line in lines {
        let Some((address, names)) = parse_line(line) else {
            continue;
        };
        for name in names {
            let Some(configured) = configured_address(extras, name) else {
                continue;
            };
            if !same_address(configured, address) {
                warnings.push(format!(
                    "`{}` still maps {name} to {address}, but [modules.hosts] maps it to \
                     {configured}; remove {name} from that line",
                    describe(line)
                ));
            }
        }
    }
    warnings
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

    /// Builds the own line as written with a `domain`, which must list exactly these names.
    fn exact_own(names: &[&str]) -> OwnLine {
        OwnLine {
            entry: entry(OWN_ADDRESS, names),
            exact: true,
        }
    }

    /// Builds the own line as written without a `domain`, which any line listing the hostname
    /// satisfies.
    fn own(hostname: &str) -> OwnLine {
        OwnLine {
            entry: entry(OWN_ADDRESS, &[hostname]),
            exact: false,
        }
    }

    /// Runs the update and returns the text and changes, checking that it warned of nothing.
    fn update(current: &str, own: Option<&OwnLine>, extras: &[HostEntry]) -> (String, Vec<String>) {
        let update = updated_hosts_file(current, own, extras);
        assert!(update.warnings.is_empty(), "{:?}", update.warnings);
        (update.text, update.changes)
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
        let own = exact_own(&["web01.example.com", "web01"]);

        let (text, changes) = update(DEBIAN_HOSTS, Some(&own), &[]);

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

        let (text, _) = update(current, Some(&own("web01")), &[]);

        assert_eq!(
            text,
            "127.0.0.1 localhost\n127.0.1.1\tweb01\n::1 localhost\n"
        );
    }

    #[test]
    fn own_line_is_appended_without_localhost_line() {
        let (text, _) = update("::1 localhost\n", Some(&own("web01")), &[]);

        assert_eq!(text, "::1 localhost\n127.0.1.1\tweb01\n");
    }

    #[test]
    fn own_line_with_comment_is_kept() {
        let current = "127.0.1.1   WEB01   # set by the installer\n";

        let (text, changes) = update(current, Some(&exact_own(&["web01"])), &[]);

        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(text, current);
    }

    #[test]
    fn exact_own_line_with_extra_alias_is_replaced() {
        let current = "127.0.1.1 web01 old-alias\n";

        let (text, changes) = update(current, Some(&exact_own(&["web01"])), &[]);

        assert_eq!(text, "127.0.1.1\tweb01\n");
        assert_eq!(changes.len(), 1);
    }

    #[test]
    fn own_line_without_domain_keeps_other_names() {
        let current = "127.0.1.1 web01.corp.example web01\n";

        let (text, changes) = update(current, Some(&own("web01")), &[]);

        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(text, current);
    }

    #[test]
    fn own_line_without_domain_replaces_other_hostname() {
        let current = "127.0.1.1 web01.corp.example web01\n";

        let (text, changes) = update(current, Some(&own("web02")), &[]);

        assert_eq!(text, "127.0.1.1\tweb02\n");
        assert_eq!(
            changes,
            ["replaced `127.0.1.1 web01.corp.example web01` with `127.0.1.1 web02`"]
        );
    }

    #[test]
    fn only_first_own_address_line_is_replaced() {
        let current = "127.0.1.1 old\n127.0.1.1 other\n";

        let (text, _) = update(current, Some(&own("web01")), &[]);

        assert_eq!(text, "127.0.1.1\tweb01\n127.0.1.1 other\n");
    }

    #[test]
    fn unknown_hostname_leaves_own_line_alone() {
        let (text, changes) = update(DEBIAN_HOSTS, None, &[]);

        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(text, DEBIAN_HOSTS);
    }

    #[test]
    fn extra_entry_is_appended_when_missing() {
        let extra = entry("192.0.2.10", &["db.example.com", "db"]);

        let (text, changes) = update(DEBIAN_HOSTS, Some(&own("debian")), &[extra]);

        assert_eq!(
            text,
            format!("{DEBIAN_HOSTS}192.0.2.10\tdb.example.com db\n")
        );
        assert_eq!(changes, ["added `192.0.2.10 db.example.com db`"]);
    }

    #[test]
    fn extra_entry_matches_longer_line() {
        let current = "127.0.1.1 web01\n192.0.2.10 db.example.com db backup\n";

        let (_, changes) = update(
            current,
            Some(&own("web01")),
            &[entry("192.0.2.10", &["db"])],
        );

        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn moved_entry_replaces_its_old_line() {
        let current = "127.0.0.1 localhost\n192.0.2.10\tdb.example.com db\n192.0.2.20 cache\n";
        let moved = entry("192.0.2.11", &["db.example.com", "db"]);

        let (text, changes) = update(current, None, &[moved, entry("192.0.2.20", &["cache"])]);

        assert_eq!(
            text,
            "127.0.0.1 localhost\n192.0.2.11\tdb.example.com db\n192.0.2.20 cache\n"
        );
        assert_eq!(
            changes,
            ["replaced `192.0.2.10 db.example.com db` with `192.0.2.11 db.example.com db`"]
        );
    }

    #[test]
    fn old_line_above_moved_entry_is_removed() {
        let current = "192.0.2.10 db.example.com db\n192.0.2.11 db.example.com db\n";
        let moved = entry("192.0.2.11", &["db.example.com", "db"]);

        let (text, changes) = update(current, None, &[moved]);

        assert_eq!(text, "192.0.2.11 db.example.com db\n");
        assert_eq!(
            changes,
            [
                "removed `192.0.2.10 db.example.com db`: its names are configured for other addresses"
            ]
        );
    }

    #[test]
    fn old_line_shared_by_two_entries() {
        let current = "192.0.2.10 db cache\n";
        let extras = [
            entry("192.0.2.11", &["db"]),
            entry("192.0.2.12", &["cache"]),
        ];

        let (text, changes) = update(current, None, &extras);

        assert_eq!(text, "192.0.2.11\tdb\n192.0.2.12\tcache\n");
        assert_eq!(
            changes,
            [
                "replaced `192.0.2.10 db cache` with `192.0.2.11 db`",
                "added `192.0.2.12 cache`"
            ]
        );
    }

    #[test]
    fn line_with_unmanaged_name_is_kept_with_warning() {
        let current = "192.0.2.10 db legacy-db\n";

        let update = updated_hosts_file(current, None, &[entry("192.0.2.11", &["db"])]);

        assert_eq!(update.text, "192.0.2.10 db legacy-db\n192.0.2.11\tdb\n");
        assert_eq!(update.changes, ["added `192.0.2.11 db`"]);
        assert_eq!(
            update.warnings,
            [
                "`192.0.2.10 db legacy-db` still maps db to 192.0.2.10, but [modules.hosts] maps \
              it to 192.0.2.11; remove db from that line"
            ]
        );
    }

    #[test]
    fn loopback_line_is_never_replaced() {
        let current = "127.0.0.1 localhost db\n::1 db\n";

        let update = updated_hosts_file(current, None, &[entry("192.0.2.10", &["db"])]);

        assert_eq!(update.text, format!("{current}192.0.2.10\tdb\n"));
        assert_eq!(update.warnings.len(), 2, "{:?}", update.warnings);
    }

    #[test]
    fn names_of_moved_entry_match_case_insensitively() {
        let current = "192.0.2.10 DB\n";

        let (text, _) = update(current, None, &[entry("192.0.2.11", &["db"])]);

        assert_eq!(text, "192.0.2.11\tdb\n");
    }

    #[test]
    fn unrelated_lines_are_untouched_by_a_move() {
        let current = "# databases\n192.0.2.10 db\n\n10.0.0.1 gateway # router\n";

        let (text, _) = update(current, None, &[entry("192.0.2.11", &["db"])]);

        assert_eq!(
            text,
            "# databases\n192.0.2.11\tdb\n\n10.0.0.1 gateway # router\n"
        );
    }

    #[test]
    fn ipv6_addresses_match_in_any_spelling() {
        let current = "127.0.1.1 web01\n2001:db8:0:0::5 app\n";

        let (_, changes) = update(
            current,
            Some(&own("web01")),
            &[entry("2001:db8::5", &["app"])],
        );

        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn commented_out_entry_does_not_count() {
        let current = "127.0.1.1 web01\n# 192.0.2.10 db\n";

        let (text, _) = update(
            current,
            Some(&own("web01")),
            &[entry("192.0.2.10", &["db"])],
        );

        assert_eq!(text, "127.0.1.1 web01\n# 192.0.2.10 db\n192.0.2.10\tdb\n");
    }

    #[test]
    fn empty_file_gets_own_and_extra_lines() {
        let (text, _) = update("", Some(&own("web01")), &[entry("192.0.2.10", &["db"])]);

        assert_eq!(text, "127.0.1.1\tweb01\n192.0.2.10\tdb\n");
    }

    #[test]
    fn second_update_changes_nothing() {
        let own = exact_own(&["web01.example.com", "web01"]);
        let extras = [
            entry("192.0.2.10", &["db.example.com", "db"]),
            entry("2001:db8::5", &["app"]),
        ];
        let (first, _) = update(DEBIAN_HOSTS, Some(&own), &extras);

        let (second, changes) = update(&first, Some(&own), &extras);

        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(second, first);
    }

    #[test]
    fn second_update_after_move_changes_nothing() {
        let current = "192.0.2.10 db\n192.0.2.10 db-old db\n";
        let extras = [entry("192.0.2.11", &["db"])];
        let first = updated_hosts_file(current, None, &extras);

        let second = updated_hosts_file(&first.text, None, &extras);

        assert!(second.changes.is_empty(), "{:?}", second.changes);
        assert_eq!(second.text, first.text);
        assert_eq!(second.warnings, first.warnings);
    }
}
