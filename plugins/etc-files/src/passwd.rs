//! Parsing and editing `/etc/passwd`, whose lines read
//! `name:password:uid:gid:comment:home:shell`.
//!
//! [`PasswdFile`] keeps every line it does not change byte for byte. Blank lines, `#` comments
//! and NIS compatibility lines (starting with `+` or `-`) are kept but never read as users.

use plugin_api::anyhow::Result;

use crate::record_file::{Record, RecordFile, lowest_free_id};

/// Lowest uid given to a new user, `UID_MIN` in Debian's `/etc/login.defs`.
pub const UID_MIN: u32 = 1000;

/// Highest uid given to a new user, `UID_MAX` in Debian's `/etc/login.defs`.
pub const UID_MAX: u32 = 60000;

/// One user line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// Password field, normally `x` to point at `/etc/shadow`.
    pub password: String,
    /// Numeric user id.
    pub uid: u32,
    /// Numeric id of the primary group.
    pub gid: u32,
    /// Comment (GECOS) field, usually the full name.
    pub comment: String,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
}

impl Record for PasswdEntry {
    const LAYOUT: &'static str = "name:password:uid:gid:comment:home:shell";

    /// Parses a user line, or returns `None` when it does not have seven fields, a name and
    /// numeric ids.
    fn from_line(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split(':').collect();
        let [name, password, uid, gid, comment, home, shell] = fields.as_slice() else {
            return None;
        };
        if name.is_empty() {
            return None;
        }
        Some(Self {
            name: (*name).to_owned(),
            password: (*password).to_owned(),
            uid: uid.parse().ok()?,
            gid: gid.parse().ok()?,
            comment: (*comment).to_owned(),
            home: (*home).to_owned(),
            shell: (*shell).to_owned(),
        })
    }

    fn to_line(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}:{}:{}",
            self.name, self.password, self.uid, self.gid, self.comment, self.home, self.shell
        )
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// The parsed contents of `/etc/passwd`.
#[derive(Debug, Clone)]
pub struct PasswdFile {
    records: RecordFile<PasswdEntry>,
}

impl PasswdFile {
    /// Parses the file's text. Fails on the first line that is neither a user, a blank line, a
    /// comment nor an NIS line, naming its 1-based number.
    pub fn parse(text: &str) -> Result<Self> {
        Ok(Self {
            records: RecordFile::parse(text)?,
        })
    }

    /// Returns the user called `name`.
    pub fn get(&self, name: &str) -> Option<&PasswdEntry> {
        self.records.get(name)
    }

    /// Returns the name of the user that has `uid`.
    pub fn uid_owner(&self, uid: u32) -> Option<&str> {
        self.entries()
            .find(|entry| entry.uid == uid)
            .map(|entry| entry.name.as_str())
    }

    /// Returns the lowest uid from [`UID_MIN`] to [`UID_MAX`] that no user has.
    pub fn free_uid(&self) -> Result<u32> {
        lowest_free_id(
            UID_MIN..=UID_MAX,
            self.entries().map(|entry| entry.uid),
            "uid",
        )
    }

    /// Appends a user at the end of the file.
    pub fn push(&mut self, entry: PasswdEntry) {
        self.records.push(entry);
    }

    /// Replaces the user with `entry.name`, rewriting only its line. Returns `false` when
    /// there is no such user.
    pub fn replace(&mut self, entry: PasswdEntry) -> bool {
        let name = entry.name.clone();
        self.records
            .edit(&name, |old| {
                *old = entry;
                true
            })
            .is_some()
    }

    /// Formats the file, ending with a line break unless it is empty.
    pub fn render(&self) -> String {
        self.records.render()
    }

    fn entries(&self) -> impl Iterator<Item = &PasswdEntry> {
        self.records.records()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
root:x:0:0:root:/root:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin

# people
alice:x:1000:100:Alice Example,,,:/home/alice:/bin/bash
+@netgroup::::::
";

    #[test]
    fn parse_reads_all_fields() {
        let file = PasswdFile::parse(SAMPLE).unwrap();

        let alice = file.get("alice").unwrap();
        assert_eq!(alice.uid, 1000);
        assert_eq!(alice.gid, 100);
        assert_eq!(alice.comment, "Alice Example,,,");
        assert_eq!(alice.home, "/home/alice");
        assert_eq!(alice.shell, "/bin/bash");
    }

    #[test]
    fn parse_skips_comments_blank_and_nis_lines() {
        let file = PasswdFile::parse(SAMPLE).unwrap();

        assert_eq!(file.entries().count(), 3);
        assert_eq!(file.get("+@netgroup"), None);
    }

    #[test]
    fn render_keeps_unchanged_file_byte_for_byte() {
        let file = PasswdFile::parse(SAMPLE).unwrap();

        assert_eq!(file.render(), SAMPLE);
    }

    #[test]
    fn parse_rejects_line_with_six_fields() {
        let error =
            PasswdFile::parse("root:x:0:0:root:/root:/bin/bash\nbad:x:1:1::/\n").unwrap_err();

        assert_eq!(
            error.to_string(),
            "line 2: expected `name:password:uid:gid:comment:home:shell`, found `bad:x:1:1::/`"
        );
    }

    #[test]
    fn parse_rejects_non_numeric_uid() {
        assert!(PasswdFile::parse("bob:x:one:100::/home/bob:/bin/sh\n").is_err());
    }

    #[test]
    fn parse_rejects_empty_name() {
        assert!(PasswdFile::parse(":x:1:1::/:/bin/sh\n").is_err());
    }

    #[test]
    fn uid_owner_names_the_user() {
        let file = PasswdFile::parse(SAMPLE).unwrap();

        assert_eq!(file.uid_owner(65534), Some("nobody"));
        assert_eq!(file.uid_owner(1001), None);
    }

    #[test]
    fn free_uid_skips_taken_uids_and_ignores_nobody() {
        let file = PasswdFile::parse(SAMPLE).unwrap();

        assert_eq!(file.free_uid().unwrap(), 1001);
    }

    #[test]
    fn push_appends_user_line() {
        let mut file = PasswdFile::parse("root:x:0:0:root:/root:/bin/bash\n").unwrap();

        file.push(PasswdEntry {
            name: "bob".to_owned(),
            password: "x".to_owned(),
            uid: 2001,
            gid: 100,
            comment: "Bob Example".to_owned(),
            home: "/srv/bob".to_owned(),
            shell: "/bin/sh".to_owned(),
        });

        assert_eq!(
            file.render(),
            "root:x:0:0:root:/root:/bin/bash\nbob:x:2001:100:Bob Example:/srv/bob:/bin/sh\n"
        );
    }

    #[test]
    fn replace_rewrites_only_that_line() {
        let mut file = PasswdFile::parse(SAMPLE).unwrap();
        let mut alice = file.get("alice").unwrap().clone();
        alice.shell = "/bin/zsh".to_owned();

        assert!(file.replace(alice));
        assert_eq!(
            file.render(),
            SAMPLE.replace(":/home/alice:/bin/bash", ":/home/alice:/bin/zsh")
        );
    }

    #[test]
    fn replace_reports_unknown_user() {
        let mut file = PasswdFile::parse(SAMPLE).unwrap();
        let mut ghost = file.get("alice").unwrap().clone();
        ghost.name = "ghost".to_owned();

        assert!(!file.replace(ghost));
        assert_eq!(file.render(), SAMPLE);
    }
}
