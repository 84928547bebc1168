//! Parsing and editing `/etc/passwd`, whose lines read
//! `name:password:uid:gid:comment:home:shell`.
//!
//! [`PasswdFile`] keeps every line it does not change byte for byte. Blank lines, `#` comments
//! and NIS compatibility lines (starting with `+` or `-`) are kept but never read as users.

use plugin_api::anyhow::{Context as _, Result};

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

impl PasswdEntry {
    /// Parses a user line, or returns `None` when it does not have seven fields and numeric
    /// ids.
    fn parse(line: &str) -> Option<Self> {
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

    /// Formats the entry as a line, without the line break.
    pub fn to_line(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}:{}:{}",
            self.name, self.password, self.uid, self.gid, self.comment, self.home, self.shell
        )
    }
}

/// A line of the file: its text as read or last written, and the user it holds, if any.
#[derive(Debug, Clone)]
struct Line {
    text: String,
    entry: Option<PasswdEntry>,
}

/// The parsed contents of `/etc/passwd`.
#[derive(Debug, Clone)]
pub struct PasswdFile {
    lines: Vec<Line>,
}

impl PasswdFile {
    /// Parses the file's text. Fails on the first line that is neither a user, a blank line, a
    /// comment nor an NIS line, naming its 1-based number.
    pub fn parse(text: &str) -> Result<Self> {
        let mut lines = Vec::new();
        for (index, text) in text.lines().enumerate() {
            let entry = if is_passive_line(text) {
                None
            } else {
                let entry = PasswdEntry::parse(text).with_context(|| {
                    format!(
                        "line {}: expected `name:password:uid:gid:comment:home:shell`, found \
                         `{text}`",
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

    /// Returns the user called `name`.
    pub fn get(&self, name: &str) -> Option<&PasswdEntry> {
        self.entries().find(|entry| entry.name == name)
    }

    /// Returns the name of the user that has `uid`.
    pub fn uid_owner(&self, uid: u32) -> Option<&str> {
        self.entries()
            .find(|entry| entry.uid == uid)
            .map(|entry| entry.name.as_str())
    }

    /// Returns the lowest uid from [`UID_MIN`] to [`UID_MAX`] that no user has.
    pub fn free_uid(&self) -> Result<u32> {
        (UID_MIN..=UID_MAX)
            .find(|&uid| self.uid_owner(uid).is_none())
            .with_context(|| format!("no free uid left between {UID_MIN} and {UID_MAX}"))
    }

    /// Appends a user at the end of the file.
    pub fn push(&mut self, entry: PasswdEntry) {
        self.lines.push(Line {
            text: entry.to_line(),
            entry: Some(entry),
        });
    }

    /// Replaces the user with `entry.name`, rewriting only its line. Returns `false` when
    /// there is no such user.
    pub fn replace(&mut self, entry: PasswdEntry) -> bool {
        let found = self.lines.iter_mut().find(|line| {
            line.entry
                .as_ref()
                .is_some_and(|old| old.name == entry.name)
        });
        let Some(line) = found else {
            return false;
        };
        line.text = entry.to_line();
        line.entry = Some(entry);
        true
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

    fn entries(&self) -> impl Iterator<Item = &PasswdEntry> {
        self.lines.iter().filter_map(|line| line.entry.as_ref())
    }
}

/// Returns whether a line is kept without being read as a user.
fn is_passive_line(text: &str) -> bool {
    text.trim().is_empty() || text.starts_with(['#', '+', '-'])
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
    fn free_uid_skips_taken_uids_and_ignores_nobody() {
        let file = PasswdFile::parse(SAMPLE).unwrap();

        assert_eq!(file.free_uid().unwrap(), 1001);
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
    }
}
