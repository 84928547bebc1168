//! What the plugin scanner reports for each file, and the file identity that discovery, the
//! scanner and the scan cache compare.
//!
//! The host first writes the [`ConfiguredSettings`] to the scanner's stdin as JSON, then each
//! file's path, each terminated by a NUL byte. The scanner replies with one [`Report`] per path
//! as a JSON line on stdout, in the same order.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt as _;

use serde::{Deserialize, Serialize};

use crate::loader::PluginMetadata;
use crate::settings::SettingsCheck;
use crate::trust;

/// Each configured module's settings table as TOML text, by module name. A module without a
/// table has the empty text.
pub type ConfiguredSettings = std::collections::BTreeMap<String, String>;

/// Returns the settings text `settings` gives the module `name`.
pub fn settings_text<'a>(settings: &'a ConfiguredSettings, name: &str) -> &'a str {
    settings.get(name).map_or("", String::as_str)
}

/// The result of a plugin's settings check on one settings text, run by the plugin scanner so
/// that the host need not run the plugin's code for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedSettings {
    /// The SHA-256 of the settings text checked, as lowercase hex; the cache keeps the hash
    /// rather than the text, which may hold secrets.
    pub text_sha256: String,
    /// The check's result.
    pub check: SettingsCheck,
}

impl CheckedSettings {
    /// Returns whether this is the result for the settings text `text`.
    pub fn is_for(&self, text: &str) -> bool {
        self.text_sha256 == text_sha256(text)
    }
}

/// Returns the SHA-256 of a settings text as lowercase hex.
pub fn text_sha256(text: &str) -> String {
    trust::sha256_of_reader(text.as_bytes()).expect("reading from memory cannot fail")
}

/// The identity of a file's content as the file system records it. Any write to the file
/// changes its modification or status-change time, and no process can set the status-change time
/// (`ctime`) by hand, so an equal identity means unchanged content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileIdentity {
    /// The device the file lives on.
    pub device: u64,
    /// The inode number.
    pub inode: u64,
    /// The size in bytes.
    pub size: u64,
    /// The modification time, in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// The status-change time, in nanoseconds since the Unix epoch.
    pub ctime_ns: i64,
}

impl FileIdentity {
    /// Returns the identity of the file `metadata` describes.
    pub fn of(metadata: &Metadata) -> Self {
        let nanoseconds = |seconds: i64, nanoseconds: i64| {
            seconds
                .saturating_mul(1_000_000_000)
                .saturating_add(nanoseconds)
        };
        Self {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            mtime_ns: nanoseconds(metadata.mtime(), metadata.mtime_nsec()),
            ctime_ns: nanoseconds(metadata.ctime(), metadata.ctime_nsec()),
        }
    }

    /// Returns the identity of the running executable: the inode behind `/proc/self/exe`,
    /// which stays the one this process runs even when an upgrade replaces the file at its
    /// path. Returns `None` when `/proc` is not mounted.
    pub fn of_running_executable() -> Option<Self> {
        std::fs::metadata(RUNNING_EXECUTABLE)
            .ok()
            .map(|metadata| Self::of(&metadata))
    }
}

/// The path that names the running executable's inode on Linux.
pub const RUNNING_EXECUTABLE: &str = "/proc/self/exe";

/// The result for one file: a plugin and its metadata, or the reason it is not one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The file loaded as a plugin.
    Plugin(PluginMetadata),
    /// The file is not a usable plugin.
    Rejected(RejectedFile),
}

impl Verdict {
    /// Returns a rejection with `reason` and no detail.
    pub fn rejected(reason: impl Into<String>) -> Self {
        Self::Rejected(RejectedFile {
            reason: reason.into(),
            detail: None,
        })
    }
}

/// The reason a file is not a usable plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedFile {
    /// One line saying why.
    pub reason: String,
    /// A longer report, such as abi_stable's layout comparison, for `-v`.
    pub detail: Option<String>,
}

/// The scanner's report for one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The identity of the file the scanner opened, or `None` when it could not open one.
    pub identity: Option<FileIdentity>,
    /// The result of loading it.
    pub verdict: Verdict,
    /// For a plugin, the result of its settings check on the configured settings text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<CheckedSettings>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_round_trips_as_one_json_line() {
        let report = Report {
            identity: Some(FileIdentity {
                device: 1,
                inode: 2,
                size: 3,
                mtime_ns: 4,
                ctime_ns: -5,
            }),
            verdict: Verdict::Plugin(PluginMetadata {
                name: "hosts".to_owned(),
                version: "1.2.0".to_owned(),
                description: "line one\nline two".to_owned(),
                depends_on: vec!["system >=1".to_owned()],
                after: vec!["motd".to_owned()],
                force_sequential: true,
                supports_check: true,
                interface_version: "1.1.0".to_owned(),
            }),
            settings: Some(CheckedSettings {
                text_sha256: text_sha256("names = [1]\n"),
                check: SettingsCheck::Invalid(vec![crate::settings::KeyProblem {
                    path: "names[0]".to_owned(),
                    message: "invalid type: integer `1`, expected a string".to_owned(),
                }]),
            }),
        };
        let line = serde_json::to_string(&report).unwrap();
        assert!(!line.contains('\n'), "{line}");
        assert_eq!(serde_json::from_str::<Report>(&line).unwrap(), report);
    }

    #[test]
    fn checked_settings_match_only_their_text() {
        let checked = CheckedSettings {
            text_sha256: text_sha256("a = 1\n"),
            check: SettingsCheck::Valid,
        };

        assert!(checked.is_for("a = 1\n"));
        assert!(!checked.is_for("a = 2\n"));
        assert!(!checked.is_for(""));
    }

    #[test]
    fn rejection_round_trips() {
        let report = Report {
            identity: None,
            verdict: Verdict::rejected("not a shared library"),
            settings: None,
        };
        let line = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&line).unwrap(), report);
    }
}
