//! The plugin scanner's own side: `configurator __scan`, the helper process that loads
//! candidate plugin files so that a file that crashes or hangs while loading takes down the
//! helper and not the host.
//!
//! It reads the configured settings and then NUL-terminated paths from stdin until end of
//! input (see [`super::protocol`]). It loads each file with [`loader::load_file`] and runs
//! the plugin's settings check on its module's configured settings. Then it writes one
//! [`Report`] per path as a JSON line. The reports go to the original stdout, and stdout itself is pointed at
//! stderr first, so that whatever a plugin prints cannot corrupt them.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead as _, Write as _};
use std::os::fd::AsFd as _;
use std::os::unix::ffi::OsStringExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::candidate;
use super::protocol::{
    CheckedSettings, ConfiguredSettings, FileIdentity, Report, Verdict, settings_text, text_sha256,
};
use crate::loader;
use crate::module::ModuleCode as _;

/// Serves the host until stdin ends.
pub fn run() -> anyhow::Result<()> {
    // The reports are useless once the host has exited, so a scanner stuck in a plugin's
    // constructor is killed when the host exits.
    if let Err(error) =
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
    {
        tracing::debug!("the plugin scanner cannot follow the host's exit: {error}");
    }
    let reports = io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .context("cannot keep the report channel")?;
    rustix::stdio::dup2_stdout(io::stderr()).context("cannot redirect plugin output")?;
    let mut reports = File::from(reports);

    let mut input = io::stdin().lock();
    let mut bytes = Vec::new();
    input
        .read_until(0, &mut bytes)
        .context("cannot read the configured settings")?;
    if bytes.last() == Some(&0) {
        bytes.pop();
    }
    let settings: ConfiguredSettings =
        serde_json::from_slice(&bytes).context("cannot decode the configured settings")?;
    loop {
        bytes.clear();
        if input
            .read_until(0, &mut bytes)
            .context("cannot read a path")?
            == 0
        {
            return Ok(());
        }
        if bytes.last() == Some(&0) {
            bytes.pop();
        }
        let path = PathBuf::from(OsString::from_vec(bytes.clone()));
        let report = examine(&path, &settings);
        let mut line = serde_json::to_string(&report).context("cannot encode a report")?;
        line.push('\n');
        // One write per report, so that the host never reads half a line from a live scanner.
        reports
            .write_all(line.as_bytes())
            .context("cannot send a report")?;
    }
}

/// Loads one file and reports its metadata and the result of its settings check on the
/// module's configured settings, or why it is rejected.
fn examine(path: &Path, settings: &ConfiguredSettings) -> Report {
    let rejected = |identity, reason: String| Report {
        identity,
        verdict: Verdict::rejected(reason),
        settings: None,
    };
    let file = match candidate::open_regular_file(path) {
        Ok(file) => file,
        Err(error) => return rejected(None, format!("cannot be opened: {error}")),
    };
    let identity = match file.metadata() {
        Ok(metadata) if metadata.is_file() => FileIdentity::of(&metadata),
        Ok(_) => return rejected(None, "is not a regular file".to_owned()),
        Err(error) => return rejected(None, format!("cannot be inspected: {error}")),
    };
    match loader::load_file(file, path) {
        Ok(plugin) => {
            // The host would otherwise call the settings check in its own process before any
            // module runs, `plan` included, so that a check that crashes would take it down.
            let text = settings_text(settings, &plugin.info.name);
            let checked = CheckedSettings {
                text_sha256: text_sha256(text),
                check: plugin.check_settings(text),
            };
            Report {
                identity: Some(identity),
                verdict: Verdict::Plugin(plugin.metadata().clone()),
                settings: Some(checked),
            }
        }
        Err(rejection) => Report {
            identity: Some(identity),
            verdict: Verdict::Rejected(super::protocol::RejectedFile {
                reason: rejection.reason,
                detail: rejection.detail,
            }),
            settings: None,
        },
    }
}
