//! The unified diffs that `run --diff` prints after the recap: one per module and file, in
//! plan order, each labelled with the module's name.
//!
//! The headers name the file below the root as `a/PATH` and `b/PATH`, as Git does. Each diff
//! runs from the file before the module's first write to the file after its last one.
//!
//! NOTE: when two modules of one batch change the same file, their diffs follow plan order,
//! which may differ from the order of their writes, so applying them in that order may fail.
//!
//! Without colour the content is printed byte for byte. With colour, for a terminal, control
//! characters other than tab are escaped, so that file content cannot move the cursor or
//! recolour the terminal.

use std::fmt::Write as _;
use std::path::Path;

use anstyle::{AnsiColor, Style};
use serde::Serialize;
use similar::TextDiff;

use crate::changes::FileChange;

/// Lines of unchanged context around each change, as `diff -u` prints by default.
const CONTEXT_LINES: usize = 3;

const HEADER: Style = Style::new().bold();
const HUNK: Style = AnsiColor::Cyan.on_default();
const ADDED: Style = AnsiColor::Green.on_default();
const REMOVED: Style = AnsiColor::Red.on_default();

/// One file change in the JSON document of `run --diff --format json`.
#[derive(Debug, Serialize)]
pub struct DiffEntry<'a> {
    /// The module that changed the file.
    pub module: &'a str,
    /// The file as a system path, such as `/etc/hosts`.
    #[serde(serialize_with = "super::json::serialize_path")]
    pub path: &'a Path,
    /// The unified diff, without colour.
    pub diff: String,
}

/// Renders the diffs of `changes` after a `DIFF` heading, the modules in `module_order`
/// first, in that order, and any others after them.
pub fn diff_text(changes: &[FileChange], module_order: &[&str], colour: bool) -> String {
    let mut text = String::from("\nDIFF\n");
    if changes.is_empty() {
        text.push_str("  no file changes\n");
    }
    for change in in_module_order(changes, module_order) {
        let label = match change.old {
            Some(_) => format!("module {}: {}", change.module, change.path.display()),
            None => format!(
                "module {}: {} (new file)",
                change.module,
                change.path.display()
            ),
        };
        let _ = writeln!(text, "{}", paint(HEADER, &label, colour));
        for line in file_diff(change).split_inclusive('\n') {
            text.push_str(&render_line(line, colour));
        }
    }
    text
}

/// Returns one entry per change for the JSON document, ordered like [`diff_text`].
pub fn diff_entries<'a>(changes: &'a [FileChange], module_order: &[&str]) -> Vec<DiffEntry<'a>> {
    in_module_order(changes, module_order)
        .into_iter()
        .map(|change| DiffEntry {
            module: &change.module,
            path: &change.path,
            diff: file_diff(change),
        })
        .collect()
}

/// Orders changes by the position of their module in `module_order`, keeping the recorded
/// order within a module and for modules it does not list.
fn in_module_order<'a>(changes: &'a [FileChange], module_order: &[&str]) -> Vec<&'a FileChange> {
    let position = |change: &FileChange| {
        module_order
            .iter()
            .position(|module| *module == change.module)
            .unwrap_or(module_order.len())
    };
    let mut ordered: Vec<&FileChange> = changes.iter().collect();
    ordered.sort_by_key(|change| position(change));
    ordered
}

/// Returns the unified diff of one file, headers included, as plain text.
fn file_diff(change: &FileChange) -> String {
    let inside = change.path.strip_prefix("/").unwrap_or(&change.path);
    let old_name = match change.old {
        Some(_) => format!("a/{}", inside.display()),
        None => "/dev/null".to_owned(),
    };
    let new_name = format!("b/{}", inside.display());

    let old = std::str::from_utf8(change.old.as_deref().unwrap_or_default());
    let new = std::str::from_utf8(&change.new);
    let (Ok(old), Ok(new)) = (old, new) else {
        return format!("Binary files {old_name} and {new_name} differ\n");
    };
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(CONTEXT_LINES)
        .header(&old_name, &new_name)
        .to_string()
}

/// Returns one line of a diff, with its line break, coloured and escaped when `colour` is set.
fn render_line(line: &str, colour: bool) -> String {
    if !colour {
        return line.to_owned();
    }
    let (content, line_break) = match line.strip_suffix('\n') {
        Some(content) => (content, "\n"),
        None => (line, ""),
    };
    let style = if content.starts_with("--- ") || content.starts_with("+++ ") {
        HEADER
    } else if content.starts_with("@@") {
        HUNK
    } else if content.starts_with('+') {
        ADDED
    } else if content.starts_with('-') {
        REMOVED
    } else {
        Style::new()
    };
    format!(
        "{}{line_break}",
        paint(style, &escape_controls(content), true)
    )
}

fn paint(style: Style, text: &str, colour: bool) -> String {
    if colour {
        format!("{style}{text}{style:#}")
    } else {
        text.to_owned()
    }
}

/// Escapes control characters other than tab, which file content such as `/etc/hosts` uses.
fn escape_controls(text: &str) -> String {
    text.chars()
        .map(|character| {
            if character.is_control() && character != '\t' {
                character.escape_default().to_string()
            } else {
                character.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn change(module: &str, path: &str, old: Option<&str>, new: &str) -> FileChange {
        FileChange {
            module: module.to_owned(),
            path: PathBuf::from(path),
            old: old.map(|text| text.as_bytes().to_vec()),
            new: new.as_bytes().to_vec(),
        }
    }

    #[test]
    fn diff_labels_each_file_with_its_module() {
        let changes = [
            change(
                "hosts",
                "/etc/hosts",
                Some("127.0.0.1\tlocalhost\n"),
                "127.0.0.1\tlocalhost\n127.0.1.1\tweb01\n",
            ),
            change("system", "/etc/hostname", None, "web01\n"),
        ];

        let text = diff_text(&changes, &["system", "hosts"], false);

        let expected = "
DIFF
module system: /etc/hostname (new file)
--- /dev/null
+++ b/etc/hostname
@@ -0,0 +1 @@
+web01
module hosts: /etc/hosts
--- a/etc/hosts
+++ b/etc/hosts
@@ -1 +1,2 @@
 127.0.0.1\tlocalhost
+127.0.1.1\tweb01
";
        assert_eq!(text, expected);
    }

    #[test]
    fn diff_marks_missing_final_newline() {
        let changes = [change("motd", "/etc/motd", Some("old"), "new\n")];

        let text = diff_text(&changes, &["motd"], false);

        assert!(
            text.contains("-old\n\\ No newline at end of file\n+new\n"),
            "{text}"
        );
    }

    #[test]
    fn diff_of_binary_content_names_the_file() {
        let mut binary = change("blob", "/var/lib/blob", None, "");
        binary.new = vec![0xff, 0xfe];

        let text = diff_text(&[binary], &["blob"], false);

        assert!(
            text.ends_with("Binary files /dev/null and b/var/lib/blob differ\n"),
            "{text}"
        );
    }

    #[test]
    fn diff_without_changes_says_so() {
        assert_eq!(diff_text(&[], &[], false), "\nDIFF\n  no file changes\n");
    }

    #[test]
    fn coloured_diff_escapes_control_characters_but_tabs() {
        let changes = [change("motd", "/etc/motd", None, "a\tb\u{1b}[2J\n")];

        let text = diff_text(&changes, &["motd"], true);

        assert!(text.contains("+a\tb\\u{1b}[2J"), "{text}");
        assert!(text.contains(&format!("{ADDED}")), "{text}");
        assert!(!text.contains("\u{1b}[2J"), "{text}");
    }
}
