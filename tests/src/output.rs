//! What one `configurator` invocation printed and how it exited: [`Output`].
//!
//! The recap is read as the contract describes it: one stdout line per module that starts with
//! the module's name, followed by its status and duration, then a totals line
//! `changed=N unchanged=N failed=N skipped=N`.

use std::fmt;
use std::process::ExitStatus;

/// A module's status in the recap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The module ran and changed something.
    Changed,
    /// The module ran and changed nothing.
    Unchanged,
    /// The module returned an error or panicked.
    Failed,
    /// The module did not run because a dependency failed.
    Skipped,
}

impl Status {
    const ALL: [Status; 4] = [
        Status::Changed,
        Status::Unchanged,
        Status::Failed,
        Status::Skipped,
    ];

    /// Returns the word the recap prints for this status.
    pub fn word(self) -> &'static str {
        match self {
            Status::Changed => "changed",
            Status::Unchanged => "unchanged",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// The counts of the recap's totals line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Modules that changed something.
    pub changed: u32,
    /// Modules that changed nothing.
    pub unchanged: u32,
    /// Modules that returned an error or panicked.
    pub failed: u32,
    /// Modules skipped because a dependency failed.
    pub skipped: u32,
}

impl Totals {
    fn parse(line: &str) -> Option<Self> {
        let count = |key: &str| {
            line.split_whitespace()
                .filter_map(|word| word.split_once('='))
                .find(|(found, _)| *found == key)
                .and_then(|(_, value)| value.parse().ok())
        };
        Some(Self {
            changed: count("changed")?,
            unchanged: count("unchanged")?,
            failed: count("failed")?,
            skipped: count("skipped")?,
        })
    }
}

/// The exit status and output of one finished invocation.
#[derive(Debug)]
pub struct Output {
    /// The command line, for failure messages.
    pub command: String,
    /// How the process exited.
    pub status: ExitStatus,
    /// Everything the process wrote to stdout, decoded lossily.
    pub stdout: String,
    /// Everything the process wrote to stderr, decoded lossily.
    pub stderr: String,
}

impl Output {
    /// Returns the exit code, or `None` when a signal ended the process.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Returns stdout followed by stderr, for checks that do not care which stream a text is on.
    pub fn all_text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Returns the recap line of `module`: the stdout line whose first word is the module name.
    pub fn recap_line(&self, module: &str) -> Option<&str> {
        self.stdout
            .lines()
            .find(|line| line.split_whitespace().next().map(trim_word) == Some(module))
    }

    /// Returns the first status word on the recap line of `module`.
    pub fn recap_status(&self, module: &str) -> Option<Status> {
        let line = self.recap_line(module)?;
        line.split_whitespace()
            .skip(1)
            .map(trim_word)
            .find_map(|word| Status::ALL.into_iter().find(|status| status.word() == word))
    }

    /// Parses the totals line `changed=N unchanged=N failed=N skipped=N` from stdout.
    ///
    /// Returns `None` when no stdout line contains all four counts.
    pub fn totals(&self) -> Option<Totals> {
        self.stdout.lines().find_map(Totals::parse)
    }

    /// Returns every stdout or stderr line that contains `text` as a whole word, as
    /// [`contains_word`] defines it.
    pub fn lines_naming(&self, text: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .filter(|line| contains_word(line, text))
            .collect()
    }

    /// Returns whether a stderr line contains `word` as a whole word, as [`contains_word`]
    /// defines it.
    pub fn stderr_names(&self, word: &str) -> bool {
        self.stderr.lines().any(|line| contains_word(line, word))
    }
}

/// Returns whether `word` occurs in `line` with no letter, digit, `-` or `_` on either side, so
/// that `alpha` does not match `alpha-twin` and `cycle-a` does not match `cycle-ab`.
pub fn contains_word(line: &str, word: &str) -> bool {
    let is_word_char = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
    line.match_indices(word).any(|(start, _)| {
        let before = line[..start].chars().next_back();
        let after = line[start + word.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.command)?;
        writeln!(f, "exit: {}", self.status)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

/// Strips the punctuation a recap may put around a word, such as `alpha:` or `[failed]`.
fn trim_word(word: &str) -> &str {
    word.trim_matches(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_word_match_ignores_longer_names() {
        assert!(
            contains_word("alpha failed", "alpha"),
            "alpha starts the line"
        );
        assert!(
            contains_word("skipped (alpha)", "alpha"),
            "brackets are no word characters"
        );
        assert!(
            !contains_word("alpha-twin failed", "alpha"),
            "alpha-twin is another name"
        );
        assert!(
            !contains_word("cycle-ab", "cycle-a"),
            "cycle-ab is another name"
        );
    }

    #[test]
    fn totals_line_parses_all_four_counts() {
        let totals = Totals::parse("changed=2 unchanged=0 failed=1 skipped=3");

        let expected = Totals {
            changed: 2,
            unchanged: 0,
            failed: 1,
            skipped: 3,
        };
        assert_eq!(totals, Some(expected));
    }

    #[test]
    fn line_without_every_count_is_no_totals_line() {
        let totals = Totals::parse("alpha changed=yes");

        assert_eq!(totals, None);
    }
}
