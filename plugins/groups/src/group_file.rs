//! Parsing and editing `/etc/group`, whose lines read `name:password:gid:member,member`.
//!
//! [`GroupFile`] keeps every line it does not change byte for byte, so an edit touches only
//! the groups it adds or extends. Blank lines, `#` comments and NIS compatibility lines
//! (starting with `+` or `-`) are kept but never read as groups.
//!
//! NOTE: the `sshd` and `users` modules carry copies of this parser, trimmed to the parts they
//! use. A fix here likely belongs there too.

use plugin_api::anyhow::{Context as _, Result, bail};

/// Lowest gid given to a new group, `GID_MIN` in Debian's `/etc/login.defs`.
pub const GID_MIN: u32 = 1000;

/// Highest gid given to a new group, `GID_MAX` in Debian's `/etc/login.defs`.
pub const GID_MAX: u32 = 60000;

/// Maximum length of a group or user name, the size of the user field in utmp records.
const MAX_NAME_LEN: usize = 32;

/// One group line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// Password field, normally `x` to point at `/etc/gshadow`.
    pub password: String,
    /// Numeric group id.
    pub gid: u32,
    /// User names listed as supplementary members, in file order.
    pub members: Vec<String>,
}

impl GroupEntry {
    /// Parses a group line, or returns `None` when it does not have four fields and a numeric
    /// gid.
    fn parse(line: &str) -> Option<Self> {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let password = fields.next()?;
        let gid = fields.next()?.parse().ok()?;
        let members = fields.next()?;
        if fields.next().is_some() || name.is_empty() {
            return None;
        }
        Some(Self {
            name: name.to_owned(),
            password: password.to_owned(),
            gid,
            members: members
                .split(',')
                .filter(|member| !member.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }

    /// Formats the entry as a line, without the line break.
    pub fn to_line(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.name,
            self.password,
            self.gid,
            self.members.join(",")
        )
    }
}

/// A line of the file: its text as read or last written, and the group it holds, if any.
#[derive(Debug, Clone)]
struct Line {
    text: String,
    entry: Option<GroupEntry>,
}

/// The parsed contents of `/etc/group`.
#[derive(Debug, Clone)]
pub struct GroupFile {
    lines: Vec<Line>,
}

impl GroupFile {
    /// Parses the file's text. Fails on the first line that is neither a group, a blank line,
    /// a comment nor an NIS line, naming its 1-based number.
    pub fn parse(text: &str) -> Result<Self> {
        let mut lines = Vec::new();
        for (index, text) in text.lines().enumerate() {
            let entry = if is_passive_line(text) {
                None
            } else {
                let entry = GroupEntry::parse(text).with_context(|| {
                    format!(
                        "line {}: expected `name:password:gid:members`, found `{text}`",
                        index + 1
                    )
                })?;
                Some(entry)
            };
            lines.push(Line {
                text: text.to_owned(),
                entry,
            });
        }
        Ok(Self { lines })
    }

    /// Returns the group called `name`.
    pub fn get(&self, name: &str) -> Option<&GroupEntry> {
        self.entries().find(|entry| entry.name == name)
    }

    /// Returns the name of the group that has `gid`.
    pub fn gid_owner(&self, gid: u32) -> Option<&str> {
        self.entries()
            .find(|entry| entry.gid == gid)
            .map(|entry| entry.name.as_str())
    }

    /// Returns the lowest gid from [`GID_MIN`] to [`GID_MAX`] that no group has.
    pub fn free_gid(&self) -> Result<u32> {
        (GID_MIN..=GID_MAX)
            .find(|&gid| self.gid_owner(gid).is_none())
            .with_context(|| format!("no free gid left between {GID_MIN} and {GID_MAX}"))
    }

    /// Appends a group at the end of the file.
    pub fn push(&mut self, entry: GroupEntry) {
        self.lines.push(Line {
            text: entry.to_line(),
            entry: Some(entry),
        });
    }

    /// Adds `member` to the group called `group` unless it is listed already. Returns whether
    /// the file changed, or `None` when there is no such group.
    pub fn add_member(&mut self, group: &str, member: &str) -> Option<bool> {
        let line = self
            .lines
            .iter_mut()
            .find(|line| line.entry.as_ref().is_some_and(|entry| entry.name == group))?;
        let entry = line.entry.as_mut()?;
        if entry.members.iter().any(|existing| existing == member) {
            return Some(false);
        }
        entry.members.push(member.to_owned());
        line.text = entry.to_line();
        Some(true)
    }

    /// Formats the file, ending with a line break unless it is empty.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(&line.text);
            text.push('\n');
        }
        text
    }

    fn entries(&self) -> impl Iterator<Item = &GroupEntry> {
        self.lines.iter().filter_map(|line| line.entry.as_ref())
    }
}

/// Returns whether a line is kept without being read as a group.
fn is_passive_line(text: &str) -> bool {
    text.trim().is_empty() || text.starts_with(['#', '+', '-'])
}

/// Checks a group or user name against the pattern Debian's adduser accepts for system
/// accounts (`SYS_NAME_REGEX`): a lowercase letter or `_`, then lowercase letters, digits,
/// `_` or `-`, and an optional final `$`. Such a name cannot break `/etc/group` or
/// `/etc/passwd` lines.
pub fn validate_name(kind: &str, name: &str) -> Result<()> {
    let body = name.strip_suffix('$').unwrap_or(name);
    let valid = name.len() <= MAX_NAME_LEN
        && body.starts_with(|ch: char| ch.is_ascii_lowercase() || ch == '_')
        && body.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"_-".contains(&byte)
        });
    if !valid {
        bail!(
            "invalid {kind} name `{name}`: expected at most {MAX_NAME_LEN} characters, starting \
             with a lowercase letter or `_`, then lowercase letters, digits, `_` or `-`"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
root:x:0:
sudo:x:27:alice
# local groups
staff:x:1000:alice,bob

+:::
";

    #[test]
    fn parse_reads_groups_and_members() {
        let file = GroupFile::parse(SAMPLE).unwrap();

        let staff = file.get("staff").unwrap();
        assert_eq!(staff.gid, 1000);
        assert_eq!(staff.members, ["alice", "bob"]);
        assert_eq!(file.get("root").unwrap().members, Vec::<String>::new());
    }

    #[test]
    fn parse_skips_comments_blank_and_nis_lines() {
        let file = GroupFile::parse(SAMPLE).unwrap();

        assert_eq!(file.entries().count(), 3);
        assert_eq!(file.get("+"), None);
    }

    #[test]
    fn render_keeps_unchanged_file_byte_for_byte() {
        let file = GroupFile::parse(SAMPLE).unwrap();

        assert_eq!(file.render(), SAMPLE);
    }

    #[test]
    fn render_adds_missing_final_line_break() {
        let file = GroupFile::parse("root:x:0:").unwrap();

        assert_eq!(file.render(), "root:x:0:\n");
    }

    #[test]
    fn parse_rejects_line_with_missing_field() {
        let error = GroupFile::parse("root:x:0:\nbroken:x:12\n").unwrap_err();

        assert_eq!(
            error.to_string(),
            "line 2: expected `name:password:gid:members`, found `broken:x:12`"
        );
    }

    #[test]
    fn parse_rejects_non_numeric_gid() {
        let error = GroupFile::parse("staff:x:abc:\n").unwrap_err();

        assert!(error.to_string().starts_with("line 1:"), "{error}");
    }

    #[test]
    fn parse_rejects_extra_field() {
        assert!(GroupFile::parse("staff:x:50::extra\n").is_err());
    }

    #[test]
    fn free_gid_skips_taken_gids() {
        let file = GroupFile::parse("a:x:1000:\nb:x:1001:\nc:x:1003:\n").unwrap();

        assert_eq!(file.free_gid().unwrap(), 1002);
    }

    #[test]
    fn free_gid_ignores_system_gids() {
        let file = GroupFile::parse("root:x:0:\nsudo:x:27:\n").unwrap();

        assert_eq!(file.free_gid().unwrap(), GID_MIN);
    }

    #[test]
    fn add_member_appends_to_member_list() {
        let mut file = GroupFile::parse("staff:x:1000:alice\n").unwrap();

        assert_eq!(file.add_member("staff", "bob"), Some(true));
        assert_eq!(file.render(), "staff:x:1000:alice,bob\n");
    }

    #[test]
    fn add_member_keeps_existing_member() {
        let mut file = GroupFile::parse("staff:x:1000:alice\n").unwrap();

        assert_eq!(file.add_member("staff", "alice"), Some(false));
        assert_eq!(file.render(), "staff:x:1000:alice\n");
    }

    #[test]
    fn add_member_reports_unknown_group() {
        let mut file = GroupFile::parse("staff:x:1000:\n").unwrap();

        assert_eq!(file.add_member("missing", "alice"), None);
    }

    #[test]
    fn validate_name_accepts_account_names() {
        for name in ["alice", "_apt", "ssh-users", "svc_01", "machine$"] {
            assert!(validate_name("group", name).is_ok(), "{name}");
        }
    }

    #[test]
    fn validate_name_rejects_format_breaking_names() {
        let too_long = "a".repeat(MAX_NAME_LEN + 1);
        for name in [
            "",
            "Alice",
            "1abc",
            "-abc",
            "a:b",
            "a,b",
            "a b",
            "a\nb",
            "a$b",
            too_long.as_str(),
        ] {
            assert!(validate_name("group", name).is_err(), "{name:?}");
        }
    }
}
