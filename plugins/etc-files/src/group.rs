//! Parsing and editing `/etc/group`, whose lines read `name:password:gid:member,member`.
//!
//! [`GroupFile`] keeps every line it does not change byte for byte, so an edit touches only
//! the groups it adds or extends. Blank lines, `#` comments and NIS compatibility lines
//! (starting with `+` or `-`) are kept but never read as groups.

use plugin_api::anyhow::Result;

use crate::record_file::{Record, RecordFile, lowest_free_id};

/// Lowest gid given to a new group, `GID_MIN` in Debian's `/etc/login.defs`.
pub const GID_MIN: u32 = 1000;

/// Highest gid given to a new group, `GID_MAX` in Debian's `/etc/login.defs`.
pub const GID_MAX: u32 = 60000;

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

impl Record for GroupEntry {
    const LAYOUT: &'static str = "name:password:gid:members";

    /// Parses a group line, or returns `None` when it does not have four fields, a name and a
    /// numeric gid.
    fn from_line(line: &str) -> Option<Self> {
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

    fn to_line(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.name,
            self.password,
            self.gid,
            self.members.join(",")
        )
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// The parsed contents of `/etc/group`.
#[derive(Debug, Clone)]
pub struct GroupFile {
    records: RecordFile<GroupEntry>,
}

impl GroupFile {
    /// Parses the file's text. Fails on the first line that is neither a group, a blank line,
    /// a comment nor an NIS line, naming its 1-based number.
    pub fn parse(text: &str) -> Result<Self> {
        Ok(Self {
            records: RecordFile::parse(text)?,
        })
    }

    /// Returns the group called `name`.
    pub fn get(&self, name: &str) -> Option<&GroupEntry> {
        self.records.get(name)
    }

    /// Returns the name of the group that has `gid`.
    pub fn gid_owner(&self, gid: u32) -> Option<&str> {
        self.entries()
            .find(|entry| entry.gid == gid)
            .map(|entry| entry.name.as_str())
    }

    /// Returns the lowest gid from [`GID_MIN`] to [`GID_MAX`] that no group has.
    pub fn free_gid(&self) -> Result<u32> {
        lowest_free_id(
            GID_MIN..=GID_MAX,
            self.entries().map(|entry| entry.gid),
            "gid",
        )
    }

    /// Appends a group at the end of the file.
    pub fn push(&mut self, entry: GroupEntry) {
        self.records.push(entry);
    }

    /// Adds `member` to the group called `group` unless it is listed already. Returns whether
    /// the file changed, or `None` when there is no such group.
    pub fn add_member(&mut self, group: &str, member: &str) -> Option<bool> {
        self.records.edit(group, |entry| {
            if entry.members.iter().any(|existing| existing == member) {
                return false;
            }
            entry.members.push(member.to_owned());
            true
        })
    }

    /// Formats the file, ending with a line break unless it is empty.
    pub fn render(&self) -> String {
        self.records.render()
    }

    fn entries(&self) -> impl Iterator<Item = &GroupEntry> {
        self.records.records()
    }
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
    fn render_of_empty_file_is_empty() {
        let file = GroupFile::parse("").unwrap();

        assert_eq!(file.render(), "");
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
    fn parse_rejects_empty_name() {
        assert!(GroupFile::parse(":x:50:\n").is_err());
    }

    #[test]
    fn gid_owner_names_the_group() {
        let file = GroupFile::parse(SAMPLE).unwrap();

        assert_eq!(file.gid_owner(27), Some("sudo"));
        assert_eq!(file.gid_owner(28), None);
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
    fn push_appends_group_line() {
        let mut file = GroupFile::parse("root:x:0:\n").unwrap();

        file.push(GroupEntry {
            name: "deploy".to_owned(),
            password: "x".to_owned(),
            gid: 2000,
            members: vec!["alice".to_owned(), "bob".to_owned()],
        });

        assert_eq!(file.render(), "root:x:0:\ndeploy:x:2000:alice,bob\n");
        assert_eq!(file.gid_owner(2000), Some("deploy"));
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
    fn add_member_leaves_unchanged_line_as_written() {
        let text = "staff:x:1000:alice,,bob\n";
        let mut file = GroupFile::parse(text).unwrap();

        assert_eq!(file.add_member("staff", "bob"), Some(false));
        assert_eq!(file.render(), text);
    }

    #[test]
    fn add_member_reports_unknown_group() {
        let mut file = GroupFile::parse("staff:x:1000:\n").unwrap();

        assert_eq!(file.add_member("missing", "alice"), None);
    }
}
