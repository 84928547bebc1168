//! The plugin scanner's own side: `configurator __scan`, the helper process that loads
//! candidate plugin files so that a file that crashes or hangs while loading takes down the
//! helper and not the host.
//!
//! It reads NUL-terminated paths from stdin until end of input, loads each with
//! [`loader::load_file`], calls the settings check of each plugin, and writes one [`Report`]
//! per path as a JSON line. The reports go to
//! the original stdout, and stdout itself is pointed at stderr first, so that whatever a plugin
//! prints cannot corrupt them.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead as _, Write as _};
use std::os::fd::AsFd as _;
use std::os::unix::ffi::OsStringExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::candidate;
use super::protocol::{FileIdentity, Report, Verdict};
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
        let mut line = serde_json::to_string(&examine(&path)).context("cannot encode a report")?;
        line.push('\n');
        // One write per report, so that the host never reads half a line from a live scanner.
        reports
            .write_all(line.as_bytes())
            .context("cannot send a report")?;
    }
}

/// Loads one file and reports its metadata or why it is rejected.
fn examine(path: &Path) -> Report {
    let file = match candidate::open_regular_file(path) {
        Ok(file) => file,
        Err(error) => {
            return Report {
                identity: None,
                verdict: Verdict::rejected(format!("cannot be opened: {error}")),
            };
        }
    };
    let identity = match file.metadata() {
        Ok(metadata) if metadata.is_file() => FileIdentity::of(&metadata),
        Ok(_) => {
            return Report {
                identity: None,
                verdict: Verdict::rejected("is not a regular file"),
            };
        }
        Err(error) => {
            return Report {
                identity: None,
                verdict: Verdict::rejected(format!("cannot be inspected: {error}")),
            };
        }
    };
    let verdict = match loader::load_file(file, path) {
        Ok(plugin) => {
            // The host calls the settings check in its own process before any module runs,
            // `plan` included, so it is called here once, with an empty table, to reject a
            // file whose settings check crashes before the host calls it.
            let _ = plugin.check_settings("");
            Verdict::Plugin(plugin.metadata().clone())
        }
        Err(rejection) => Verdict::Rejected(super::protocol::RejectedFile {
            reason: rejection.reason,
            detail: rejection.detail,
        }),
    };
    Report {
        identity: Some(identity),
        verdict,
    }
}
