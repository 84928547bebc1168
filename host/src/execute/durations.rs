//! The durations state file: how long each module ran in the previous run, for the eager
//! schedule's priorities.
//!
//! The file is JSON, `{"version": 1, "seconds": {"hosts": 0.012, ...}}`, and lives beside the
//! lock directory. It is only a hint: a missing or damaged file is ignored with a debug message,
//! and a run that cannot write it logs a warning and still succeeds. Writes go to a temporary
//! file in the same directory that is then renamed over the old file, so a reader never sees a
//! half-written file.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::report::RunReport;

/// The file name of the durations file, beside the lock directory.
pub const DURATIONS_FILE_NAME: &str = "durations.json";

/// The format version this host reads and writes.
const FORMAT_VERSION: u32 = 1;

/// Errors in writing the durations file.
#[derive(Debug, thiserror::Error)]
pub enum DurationsError {
    /// The directory, the temporary file or the rename failed.
    #[error("cannot write durations file {}", path.display())]
    Write {
        /// The durations file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct DurationsFile {
    version: u32,
    /// Module name to the duration of its last run, in seconds.
    seconds: BTreeMap<String, f64>,
}

/// Returns the default durations file for a run whose sidecar lock files are in `lock_dir`:
/// `durations.json` in the lock directory's parent, or `None` when it has no parent.
pub fn default_durations_path(lock_dir: &Path) -> Option<PathBuf> {
    lock_dir
        .parent()
        .map(|parent| parent.join(DURATIONS_FILE_NAME))
}

/// Reads the recorded durations from `path`; empty when the file is missing or damaged.
///
/// Entries that are negative or not finite are left out.
pub fn load_durations(path: &Path) -> BTreeMap<String, Duration> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            tracing::debug!(
                "no recorded module durations: cannot read {}: {error}",
                path.display()
            );
            return BTreeMap::new();
        }
    };
    let file: DurationsFile = match serde_json::from_str(&text) {
        Ok(file) => file,
        Err(error) => {
            tracing::debug!(
                "ignoring damaged durations file {}: {error}",
                path.display()
            );
            return BTreeMap::new();
        }
    };
    if file.version != FORMAT_VERSION {
        tracing::debug!(
            "ignoring durations file {}: format version {} is not {FORMAT_VERSION}",
            path.display(),
            file.version
        );
        return BTreeMap::new();
    }
    file.seconds
        .into_iter()
        .filter_map(|(name, seconds)| {
            let duration = Duration::try_from_secs_f64(seconds).ok()?;
            Some((name, duration))
        })
        .collect()
}

/// Writes `previous` updated with the duration of every module of `report` that ran, and
/// returns the durations written.
///
/// A module that timed out is recorded with the time it ran until it was abandoned, a lower
/// bound of its real duration. Interrupted modules and modules that did not start keep their
/// previous entries, and so do modules that were not part of this run.
pub fn save_durations(
    path: &Path,
    previous: &BTreeMap<String, Duration>,
    report: &RunReport,
) -> Result<BTreeMap<String, Duration>, DurationsError> {
    let mut durations = previous.clone();
    for module in &report.modules {
        if module.status.started() && !matches!(module.status, super::Status::Interrupted) {
            durations.insert(module.name.clone(), module.duration);
        }
    }
    let file = DurationsFile {
        version: FORMAT_VERSION,
        seconds: durations
            .iter()
            .map(|(name, duration)| (name.clone(), duration.as_secs_f64()))
            .collect(),
    };
    write_atomically(path, &file).map_err(|source| DurationsError::Write {
        path: path.to_owned(),
        source,
    })?;
    Ok(durations)
}

fn write_atomically(path: &Path, file: &DurationsFile) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(directory)?;
    let mut temporary = tempfile::NamedTempFile::new_in(directory)?;
    serde_json::to_writer_pretty(&mut temporary, file)?;
    temporary.write_all(b"\n")?;
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|error| error.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::{ModuleReport, Schedule, Status};

    fn report(modules: Vec<ModuleReport>) -> RunReport {
        RunReport {
            modules,
            elapsed: Duration::ZERO,
            schedule: Schedule::Eager,
            shuffle_seed: None,
            interrupted: false,
        }
    }

    fn ran(name: &str, millis: u64) -> ModuleReport {
        ModuleReport {
            name: name.to_owned(),
            status: Status::Unchanged(String::new()),
            started: Some(std::time::SystemTime::now()),
            duration: Duration::from_millis(millis),
            thread: None,
        }
    }

    #[test]
    fn saved_durations_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/durations.json");
        let previous = BTreeMap::from([
            ("kept".to_owned(), Duration::from_millis(7)),
            ("hosts".to_owned(), Duration::from_millis(1)),
        ]);
        let skipped = ModuleReport::without_start(
            "kept",
            Status::NotStarted(crate::execute::StopReason::Interrupted),
        );

        let written =
            save_durations(&path, &previous, &report(vec![ran("hosts", 250), skipped])).unwrap();

        assert_eq!(written["hosts"], Duration::from_millis(250));
        assert_eq!(written["kept"], Duration::from_millis(7));
        assert_eq!(load_durations(&path), written);
    }

    #[test]
    fn missing_file_loads_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_durations(&dir.path().join("durations.json")).is_empty());
    }

    #[test]
    fn damaged_file_loads_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("durations.json");
        for text in [
            "{\"version\": 1, \"seconds\": {\"hosts\": ",
            "[]",
            "{\"version\": 99, \"seconds\": {\"hosts\": 1.0}}",
        ] {
            fs::write(&path, text).unwrap();
            assert!(load_durations(&path).is_empty(), "loaded {text:?}");
        }
    }

    #[test]
    fn invalid_entries_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("durations.json");
        fs::write(
            &path,
            "{\"version\": 1, \"seconds\": {\"negative\": -1.0, \"hosts\": 0.5}}",
        )
        .unwrap();
        let loaded = load_durations(&path);
        assert_eq!(
            loaded,
            BTreeMap::from([("hosts".to_owned(), Duration::from_millis(500))])
        );
    }

    #[test]
    fn default_path_is_beside_lock_directory() {
        assert_eq!(
            default_durations_path(Path::new("/srv/root/run/configurator/locks")),
            Some(PathBuf::from("/srv/root/run/configurator/durations.json"))
        );
    }
}
