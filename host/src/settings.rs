//! Checks every module's settings table against the settings type its author declared, before
//! anything runs, and names the line of each mistake in the configuration file.
//!
//! The plugin deserializes its table into its declared type (`export_module!(M, settings = T)`)
//! and returns the mistake with its key path, such as `entries[2].address`. This module maps
//! that path to a line of the original file with `toml_edit`'s spans. Plugins without a
//! declared type, including every plugin built against plugin-api 1.0, are not checked here:
//! their mistakes show when `configure` reads the settings. Read [`check_modules`] first.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml_edit::{Document, Item, Value};

use crate::config::Config;
use crate::module::ModuleCode;

/// The result of checking a settings table against the module's declared settings type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", content = "problems", rename_all = "snake_case")]
pub enum SettingsCheck {
    /// The module declares no settings type, so its table is not checked before the run.
    Undeclared,
    /// The table deserializes into the declared type.
    Valid,
    /// The table does not deserialize into the declared type.
    Invalid(Vec<KeyProblem>),
}

/// One mistake in a settings table, as the module's declared type reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyProblem {
    /// The key path inside the module's table, such as `entries[2].address`, or empty for
    /// the table itself.
    pub path: String,
    /// The error message, naming the expected type and the value found.
    pub message: String,
}

/// A mistake in one module's settings table, located in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsProblem {
    /// The configuration file, or `None` when no file was read.
    pub file: Option<std::path::PathBuf>,
    /// The 1-based line of the key, or of the nearest enclosing table that the file contains.
    pub line: Option<usize>,
    /// The module whose table it is.
    pub module: String,
    /// The key path inside the module's table, or empty for the table itself.
    pub path: String,
    /// The error message, naming the expected type and the value found.
    pub message: String,
}

impl fmt::Display for SettingsProblem {
    /// Formats the problem as `FILE:LINE: [modules.NAME] PATH: MESSAGE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}", file.display())?,
            None => write!(f, "configuration")?,
        }
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": [modules.{}]", self.module)?;
        if !self.path.is_empty() {
            write!(f, " {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Checks the settings table of each of `modules` against its declared type and returns every
/// problem, in the order of `modules`.
///
/// The configuration file is read again for the lines; when that fails, the problems are
/// returned without lines.
pub fn check_modules<'a>(
    modules: impl IntoIterator<Item = (&'a str, &'a dyn ModuleCode)>,
    config: &Config,
) -> Vec<SettingsProblem> {
    let mut problems = Vec::new();
    for (name, module) in modules {
        match module.check_settings(&config.settings_text(name)) {
            SettingsCheck::Undeclared => tracing::debug!(
                "module {name} declares no settings type, so its settings are not checked \
                 before the run"
            ),
            SettingsCheck::Valid => {}
            SettingsCheck::Invalid(found) => {
                problems.extend(found.into_iter().map(|problem| SettingsProblem {
                    file: config.path.clone(),
                    line: None,
                    module: name.to_owned(),
                    path: problem.path,
                    message: problem.message,
                }));
            }
        }
    }
    if !problems.is_empty() {
        add_lines(&mut problems, config.path.as_deref());
    }
    problems
}

/// Fills in the line of each problem from the configuration file at `file`.
fn add_lines(problems: &mut [SettingsProblem], file: Option<&Path>) {
    let Some(file) = file else { return };
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) => {
            tracing::warn!(
                "cannot read {} again to locate settings mistakes: {error}",
                file.display()
            );
            return;
        }
    };
    for problem in problems {
        problem.line = line_of(&text, &problem.module, &problem.path);
    }
}

/// Returns the 1-based line of the key `path` in the `[modules.MODULE]` table of the TOML
/// document `text`, or of the deepest enclosing key or table that the document contains.
/// Returns `None` when the document does not parse or has no table for the module.
pub fn line_of(text: &str, module: &str, path: &str) -> Option<usize> {
    let document = Document::parse(text).ok()?;
    let (_, modules) = document.as_table().get_key_value("modules")?;
    let mut span = None;
    let table = step_key(modules, module, &mut span)?;

    let mut current = table;
    let mut segments = parse_path(path).into_iter().peekable();
    while let Some(segment) = segments.next() {
        let next = match segment {
            Segment::Index(index) => step_index(current, index, &mut span),
            // serde_path_to_error joins keys with dots without quoting them, so a key that
            // itself contains dots, such as a sysctl name, spans several segments.
            Segment::Key(mut key) => loop {
                if let Some(item) = step_key(current, &key, &mut span) {
                    break Some(item);
                }
                match segments.next_if(|next| matches!(next, Segment::Key(_))) {
                    Some(Segment::Key(more)) => key = format!("{key}.{more}"),
                    _ => break None,
                }
            },
        };
        match next {
            Some(item) => current = item,
            None => break,
        }
    }
    span.map(|span| line_at(text, span.start))
}

/// One step of a key path: a key in a table or an index in an array.
#[derive(Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Splits a path such as `entries[2].address` into its keys and indexes.
fn parse_path(path: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    for part in path.split('.').filter(|part| !part.is_empty()) {
        let (key, mut indexes) = match part.find('[') {
            Some(start) => part.split_at(start),
            None => (part, ""),
        };
        if !key.is_empty() {
            segments.push(Segment::Key(key.to_owned()));
        }
        while let Some(rest) = indexes.strip_prefix('[') {
            let Some((index, after)) = rest.split_once(']') else {
                break;
            };
            if let Ok(index) = index.parse() {
                segments.push(Segment::Index(index));
            }
            indexes = after;
        }
    }
    segments
}

/// Returns the value of `key` in the table `item`, recording the key's span in `span`.
fn step_key<'a>(item: &'a Item, key: &str, span: &mut Option<Range<usize>>) -> Option<&'a Item> {
    let (key, value) = item.as_table_like()?.get_key_value(key)?;
    // A table with a `[header]` has the header's span. Any other value takes the span of its
    // key's name, because a multi-line value starts on the key's line.
    let found = match value {
        Item::Table(table) => table.span(),
        _ => None,
    }
    .or_else(|| key.span());
    if found.is_some() {
        *span = found;
    }
    Some(value)
}

/// Returns element `index` of the array or array of tables `item`, recording its span.
fn step_index<'a>(
    item: &'a Item,
    index: usize,
    span: &mut Option<Range<usize>>,
) -> Option<&'a Item> {
    let element = item.get(index)?;
    let found = match element {
        Item::Table(table) => table.span(),
        Item::Value(Value::InlineTable(table)) => table.span(),
        Item::Value(value) => value.span(),
        _ => None,
    };
    if found.is_some() {
        *span = found;
    }
    Some(element)
}

/// Returns the 1-based line of byte `offset` in `text`.
fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&byte| byte == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
jobs = 2

[modules.hosts]
domain = \"example.com\"
entries = [
  \"10.0.0.1 db\",
  \"10.0.0.2 web\",
  5,
]

[modules.sysctl.parameters]
\"vm.swappiness\" = \"high\"

[[modules.users.user]]
name = \"alice\"

[[modules.users.user]]
uid = \"many\"

[modules.motd]
banner.text = \"hello\"
";

    #[test]
    fn line_of_top_level_key() {
        assert_eq!(line_of(CONFIG, "hosts", "domain"), Some(4));
    }

    #[test]
    fn line_of_array_element() {
        assert_eq!(line_of(CONFIG, "hosts", "entries[2]"), Some(8));
    }

    #[test]
    fn line_of_key_in_array_of_tables() {
        assert_eq!(line_of(CONFIG, "users", "user[1].uid"), Some(18));
    }

    #[test]
    fn line_of_array_of_tables_element() {
        assert_eq!(line_of(CONFIG, "users", "user[1]"), Some(17));
    }

    #[test]
    fn line_of_key_with_dots() {
        assert_eq!(
            line_of(CONFIG, "sysctl", "parameters.vm.swappiness"),
            Some(12)
        );
    }

    #[test]
    fn line_of_dotted_key() {
        assert_eq!(line_of(CONFIG, "motd", "banner.text"), Some(21));
    }

    #[test]
    fn line_of_module_table() {
        assert_eq!(line_of(CONFIG, "hosts", ""), Some(3));
    }

    #[test]
    fn line_of_missing_key_is_its_table() {
        assert_eq!(line_of(CONFIG, "hosts", "colour"), Some(3));
        assert_eq!(line_of(CONFIG, "users", "user[1].name"), Some(17));
    }

    #[test]
    fn line_of_module_without_table() {
        assert_eq!(line_of(CONFIG, "groups", "group[0]"), None);
    }

    #[test]
    fn parse_path_splits_keys_and_indexes() {
        assert_eq!(
            parse_path("entries[2].address"),
            vec![
                Segment::Key("entries".to_owned()),
                Segment::Index(2),
                Segment::Key("address".to_owned())
            ]
        );
        assert_eq!(
            parse_path("matrix[1][0]"),
            vec![
                Segment::Key("matrix".to_owned()),
                Segment::Index(1),
                Segment::Index(0)
            ]
        );
        assert_eq!(parse_path(""), Vec::new());
    }

    #[test]
    fn problem_display_names_file_line_module_and_key() {
        let problem = SettingsProblem {
            file: Some("configurator.toml".into()),
            line: Some(12),
            module: "hosts".to_owned(),
            path: "entries[2]".to_owned(),
            message: "invalid type: integer `5`, expected a string".to_owned(),
        };

        assert_eq!(
            problem.to_string(),
            "configurator.toml:12: [modules.hosts] entries[2]: invalid type: integer `5`, \
             expected a string"
        );
    }

    #[test]
    fn problem_display_without_line_or_path() {
        let problem = SettingsProblem {
            file: None,
            line: None,
            module: "users".to_owned(),
            path: String::new(),
            message: "missing field `name`".to_owned(),
        };

        assert_eq!(
            problem.to_string(),
            "configuration: [modules.users]: missing field `name`"
        );
    }
}
