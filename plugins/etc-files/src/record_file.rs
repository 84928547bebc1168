//! The part of `/etc/group` and `/etc/passwd` handling that does not depend on their fields: a
//! file of one colon-separated record per line, edited without touching the other lines.
//!
//! [`RecordFile`] keeps every line it does not change byte for byte. Blank lines, `#` comments
//! and NIS compatibility lines (starting with `+` or `-`) are kept but never parsed as records.
//! `group::GroupFile` and `passwd::PasswdFile` wrap it.

use std::collections::HashSet;
use std::ops::RangeInclusive;

use plugin_api::anyhow::{Context as _, Result};

/// The entry type of one account file format.
pub(crate) trait Record: Sized {
    /// The line layout that parse errors name, such as `name:password:gid:members`.
    const LAYOUT: &'static str;

    /// Parses a line, or returns `None` when it does not fit [`Self::LAYOUT`].
    fn from_line(line: &str) -> Option<Self>;

    /// Formats the record as a line, without the line break.
    fn to_line(&self) -> String;

    /// Returns the name that identifies the record within its file.
    fn name(&self) -> &str;
}

/// A line of the file: its text as read or last written, and the record it holds, if any.
#[derive(Debug, Clone)]
struct Line<R> {
    text: String,
    record: Option<R>,
}

/// The lines of one account file, in file order.
#[derive(Debug, Clone)]
pub(crate) struct RecordFile<R> {
    lines: Vec<Line<R>>,
}

impl<R: Record> RecordFile<R> {
    /// Parses the file's text. Fails on the first line that is neither a record, a blank line,
    /// a comment nor an NIS line, naming its 1-based number.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let mut lines = Vec::new();
        for (index, text) in text.lines().enumerate() {
            let record = if is_passive_line(text) {
                None
            } else {
                let record = R::from_line(text).with_context(|| {
                    format!(
                        "line {}: expected `{}`, found `{text}`",
                        index + 1,
                        R::LAYOUT
                    )
                })?;
                Some(record)
            };
            lines.push(Line {
                text: text.to_owned(),
                record,
            });
        }
        Ok(Self { lines })
    }

    /// Returns the records in file order.
    pub(crate) fn records(&self) -> impl Iterator<Item = &R> {
        self.lines.iter().filter_map(|line| line.record.as_ref())
    }

    /// Returns the first record called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&R> {
        self.records().find(|record| record.name() == name)
    }

    /// Appends a record at the end of the file.
    pub(crate) fn push(&mut self, record: R) {
        self.lines.push(Line {
            text: record.to_line(),
            record: Some(record),
        });
    }

    /// Calls `edit` on the first record called `name` and rewrites that line when `edit`
    /// returns `true`, so `edit` must return whether it changed the record. Returns what `edit`
    /// returned, or `None` when there is no such record.
    pub(crate) fn edit(&mut self, name: &str, edit: impl FnOnce(&mut R) -> bool) -> Option<bool> {
        let line = self.lines.iter_mut().find(|line| {
            line.record
                .as_ref()
                .is_some_and(|record| record.name() == name)
        })?;
        let record = line.record.as_mut()?;
        let changed = edit(record);
        if changed {
            line.text = record.to_line();
        }
        Some(changed)
    }

    /// Formats the file, ending with a line break unless it is empty.
    pub(crate) fn render(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(&line.text);
            text.push('\n');
        }
        text
    }
}

/// Returns whether a line is kept without being parsed as a record.
fn is_passive_line(text: &str) -> bool {
    text.trim().is_empty() || text.starts_with(['#', '+', '-'])
}

/// Returns the lowest id in `range` that is not in `taken_ids`. `kind` names the id in the
/// error, such as `gid`.
pub(crate) fn lowest_free_id(
    range: RangeInclusive<u32>,
    taken_ids: impl IntoIterator<Item = u32>,
    kind: &str,
) -> Result<u32> {
    let (min, max) = (*range.start(), *range.end());
    let taken_ids: HashSet<u32> = taken_ids.into_iter().collect();
    range
        .into_iter()
        .find(|id| !taken_ids.contains(id))
        .with_context(|| format!("no free {kind} left between {min} and {max}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_id_fills_first_gap() {
        assert_eq!(
            lowest_free_id(10..=20, [12, 10, 11, 14], "uid").unwrap(),
            13
        );
    }

    #[test]
    fn lowest_free_id_names_exhausted_range() {
        let error = lowest_free_id(1..=3, [3, 1, 2], "gid").unwrap_err();

        assert_eq!(error.to_string(), "no free gid left between 1 and 3");
    }

    #[test]
    fn passive_lines_are_blank_comment_or_nis() {
        for text in [
            "",
            "   ",
            "# comment",
            "+",
            "+@netgroup::::::",
            "-bob::::::",
        ] {
            assert!(is_passive_line(text), "{text:?}");
        }
        for text in ["root:x:0:", " # indented comment"] {
            assert!(!is_passive_line(text), "{text:?}");
        }
    }
}
