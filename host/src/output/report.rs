//! The JSON report of `run --report FILE`: [`ReportDocument`], built by [`report_document`]
//! and written by [`write_report`].
//!
//! The schema is `docs/report-schema.json`, described in `docs/report.md`. Adding a field keeps
//! [`REPORT_SCHEMA_VERSION`]. Renaming, removing or retyping one, or changing a unit, bumps it.

use std::collections::BTreeMap;
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::changes::FileChange;
use crate::execute::{ModuleReport, RunReport, Status};
use crate::loader::Rejection;
use crate::locks::LockWait;
use crate::plan::Plan;

use super::{RejectedFile, json, rejected_files, status_detail};

/// The version of the report's schema.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// One plugin file whose module was in the run.
#[derive(Debug, Clone, Serialize)]
pub struct ReportPlugin {
    /// The module's name.
    pub name: String,
    /// The module's release version.
    pub version: String,
    /// The `plugin-api` version the plugin was built against.
    pub interface_version: String,
    /// The plugin file.
    #[serde(serialize_with = "json::serialize_optional_path")]
    pub file: Option<PathBuf>,
    /// The SHA-256 of the file that was loaded, as lowercase hex.
    pub sha256: String,
}

/// What [`report_document`] needs besides the run's own report.
#[derive(Debug)]
pub struct ReportInput<'a> {
    /// The run's outcome.
    pub report: &'a RunReport,
    /// The plan the run followed.
    pub plan: &'a Plan,
    /// The plugins of the planned modules.
    pub plugins: Vec<ReportPlugin>,
    /// The file changes modules made, or would make in a check run.
    pub changes: &'a [FileChange],
    /// Every lock request of the run.
    pub lock_waits: &'a [LockWait],
    /// When module execution started.
    pub started: SystemTime,
    /// When module execution ended.
    pub finished: SystemTime,
    /// The worker threads of the run.
    pub jobs: usize,
    /// Whether the run was a check run.
    pub check: bool,
    /// The plugin files that `--skip-broken` left out of the run.
    pub rejected: &'a [Rejection],
}

/// The report document.
#[derive(Debug, Serialize)]
pub struct ReportDocument<'a> {
    /// [`REPORT_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The host binary.
    pub host: HostEntry,
    /// The run as a whole.
    pub run: RunEntry,
    /// The plugins of the planned modules, sorted by module name.
    pub plugins: Vec<ReportPlugin>,
    /// The batches of the plan, in order.
    pub plan: PlanEntry,
    /// One entry per planned module, in plan order.
    pub modules: Vec<ModuleEntry>,
    /// Counts and sums over the modules.
    pub totals: Totals,
    /// The plugin files that `--skip-broken` left out of the run.
    pub rejected: Vec<RejectedFile<'a>>,
}

/// The host binary's versions.
#[derive(Debug, Serialize)]
pub struct HostEntry {
    /// The `configurator` package version.
    pub version: &'static str,
    /// The `plugin-api` version the host implements.
    pub interface_version: &'static str,
}

/// The run as a whole.
#[derive(Debug, Serialize)]
pub struct RunEntry {
    /// RFC 3339 UTC timestamp of the start of module execution.
    pub started: String,
    /// RFC 3339 UTC timestamp of the end of module execution.
    pub finished: String,
    /// Wall-clock seconds of module execution.
    pub elapsed_seconds: f64,
    /// `batches` or `eager`.
    pub schedule: &'static str,
    /// The seed of a shuffled start order.
    pub shuffle_seed: Option<u64>,
    /// Worker threads.
    pub jobs: usize,
    /// Whether this was a check run.
    pub check: bool,
    /// Whether a signal interrupted the run.
    pub interrupted: bool,
}

/// The plan of the run.
#[derive(Debug, Serialize)]
pub struct PlanEntry {
    /// The batches in order.
    pub batches: Vec<BatchEntry>,
}

/// One batch of the plan.
#[derive(Debug, Serialize)]
pub struct BatchEntry {
    /// Module names, sorted.
    pub modules: Vec<String>,
    /// Whether the batch is one `force_sequential` module running alone.
    pub sequential: bool,
}

/// One module of the run.
#[derive(Debug, Serialize)]
pub struct ModuleEntry {
    /// The module's name.
    pub name: String,
    /// The module's batch, counting from 0.
    pub batch: usize,
    /// The status as an identifier, such as `changed` or `timed_out`.
    pub status: &'static str,
    /// The module's own message on success, else the error or the reason it did not run.
    pub message: String,
    /// RFC 3339 UTC timestamp of the call to `configure`; `null` when it never started.
    pub started: Option<String>,
    /// RFC 3339 UTC timestamp of the return from `configure`, or of the moment it was
    /// abandoned; `null` when it never started.
    pub finished: Option<String>,
    /// Seconds from `started` to `finished`; 0 when it never started.
    pub duration_seconds: f64,
    /// The worker thread's name; `null` when it never started or was abandoned.
    pub thread: Option<String>,
    /// The files the module changed, or would change in a check run, as system paths.
    #[serde(serialize_with = "json::serialize_paths")]
    pub files_changed: Vec<PathBuf>,
    /// Seconds the module spent waiting for locks, summed over its requests.
    pub lock_wait_seconds: f64,
    /// Each lock request of the module, in the order they ended.
    pub lock_waits: Vec<LockWaitEntry>,
}

/// One lock request of a module.
#[derive(Debug, Serialize)]
pub struct LockWaitEntry {
    /// The locked file as a system path.
    #[serde(serialize_with = "json::serialize_path")]
    pub path: PathBuf,
    /// The module of this run holding the lock when the request began, if any.
    pub holder: Option<String>,
    /// Seconds from the request to the grant or the failure.
    pub waited_seconds: f64,
    /// Whether the lock was granted; `false` after a lock timeout.
    pub acquired: bool,
}

/// Counts and sums over the modules of the run.
#[derive(Debug, Serialize)]
pub struct Totals {
    /// Planned modules.
    pub modules: usize,
    /// Modules by status identifier; every identifier is present, with 0 when unused.
    pub statuses: BTreeMap<&'static str, usize>,
    /// Distinct files changed by any module.
    pub files_changed: usize,
    /// Seconds all modules spent waiting for locks.
    pub lock_wait_seconds: f64,
}

/// Every status identifier of the report.
pub const STATUS_IDS: [&str; 7] = [
    "changed",
    "unchanged",
    "failed",
    "timed_out",
    "interrupted",
    "skipped",
    "not_started",
];

/// Returns the report's identifier of `status`.
pub fn status_id(status: &Status) -> &'static str {
    match status {
        Status::Changed(_) => "changed",
        Status::Unchanged(_) => "unchanged",
        Status::Failed(_) => "failed",
        Status::TimedOut { .. } => "timed_out",
        Status::Interrupted => "interrupted",
        Status::Skipped { .. } | Status::NoCheckSupport => "skipped",
        Status::NotStarted(_) => "not_started",
    }
}

/// Builds the report document of a run.
pub fn report_document(input: ReportInput<'_>) -> ReportDocument<'_> {
    let batch_of: BTreeMap<&str, usize> = input
        .plan
        .batches
        .iter()
        .enumerate()
        .flat_map(|(index, batch)| batch.modules.iter().map(move |name| (name.as_str(), index)))
        .collect();
    let modules: Vec<ModuleEntry> = input
        .report
        .modules
        .iter()
        .map(|module| {
            let batch = batch_of.get(module.name.as_str()).copied().unwrap_or(0);
            module_entry(module, batch, input.changes, input.lock_waits)
        })
        .collect();

    let mut statuses: BTreeMap<&'static str, usize> =
        STATUS_IDS.iter().map(|id| (*id, 0)).collect();
    for module in &modules {
        *statuses.entry(module.status).or_default() += 1;
    }
    let mut changed_paths: Vec<&Path> = input
        .changes
        .iter()
        .map(|change| change.path.as_path())
        .collect();
    changed_paths.sort_unstable();
    changed_paths.dedup();
    let totals = Totals {
        modules: modules.len(),
        statuses,
        files_changed: changed_paths.len(),
        lock_wait_seconds: seconds_total(modules.iter().map(|module| module.lock_wait_seconds)),
    };

    let mut plugins = input.plugins;
    plugins.sort_by(|a, b| a.name.cmp(&b.name));
    ReportDocument {
        schema_version: REPORT_SCHEMA_VERSION,
        host: HostEntry {
            version: env!("CARGO_PKG_VERSION"),
            interface_version: plugin_api::ffi::INTERFACE_VERSION,
        },
        run: RunEntry {
            started: rfc3339(input.started),
            finished: rfc3339(input.finished),
            elapsed_seconds: input.report.elapsed.as_secs_f64(),
            schedule: input.report.schedule.name(),
            shuffle_seed: input.report.shuffle_seed,
            jobs: input.jobs,
            check: input.check,
            interrupted: input.report.interrupted,
        },
        plugins,
        plan: PlanEntry {
            batches: input
                .plan
                .batches
                .iter()
                .map(|batch| BatchEntry {
                    modules: batch.modules.clone(),
                    sequential: batch.sequential,
                })
                .collect(),
        },
        modules,
        totals,
        rejected: rejected_files(input.rejected),
    }
}

fn module_entry(
    module: &ModuleReport,
    batch: usize,
    changes: &[FileChange],
    lock_waits: &[LockWait],
) -> ModuleEntry {
    let lock_waits: Vec<LockWaitEntry> = lock_waits
        .iter()
        .filter(|wait| wait.module == module.name)
        .map(|wait| LockWaitEntry {
            path: wait.path.clone(),
            holder: wait.holder.clone(),
            waited_seconds: wait.waited.as_secs_f64(),
            acquired: wait.acquired,
        })
        .collect();
    ModuleEntry {
        name: module.name.clone(),
        batch,
        status: status_id(&module.status),
        message: status_detail(&module.status),
        started: module.started.map(rfc3339),
        finished: module
            .started
            .map(|started| rfc3339(started + module.duration)),
        duration_seconds: module.duration.as_secs_f64(),
        thread: module.thread.clone(),
        files_changed: changes
            .iter()
            .filter(|change| change.module == module.name)
            .map(|change| change.path.clone())
            .collect(),
        lock_wait_seconds: seconds_total(lock_waits.iter().map(|wait| wait.waited_seconds)),
        lock_waits,
    }
}

/// Writes `document` as pretty-printed JSON to `path` atomically, as [`write_atomically`]
/// does.
pub fn write_report(path: &Path, document: &ReportDocument<'_>) -> io::Result<()> {
    let mut json = serde_json::to_vec_pretty(document)?;
    json.push(b'\n');
    write_atomically(path, &json)
}

/// Writes `content` to `path` atomically: to a temporary file in the same directory, flushed
/// and renamed over `path`, so that readers see the old or the new file, never a partial one.
/// The file gets mode 0644, which a report meant for other tools needs; tempfile creates 0600.
pub fn write_atomically(path: &Path, content: &[u8]) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(directory)?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    file.write_all(content)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// Formats `time` as an RFC 3339 UTC timestamp with microseconds, such as
/// `2026-12-04T21:08:41.123456Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let second_of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60,
        since_epoch.subsec_micros()
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
///
/// The calendar repeats every 400 years (146 097 days). Counting years from March 1 puts the
/// leap day at the end of a year, so the day of the year maps to a month by one linear formula.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, which is 719 468 days before 1970-01-01.
    let days = days + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March: 0 is March, 11 is February.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

/// Adds up seconds, starting from `0.0`: `Iterator::sum` of floats starts from `-0.0`, which
/// would print as `-0.0` for a module that never waited.
fn seconds_total(seconds: impl Iterator<Item = f64>) -> f64 {
    seconds.fold(0.0, |total, value| total + value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64, micros: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_micros(micros)
    }

    #[test]
    fn rfc3339_epoch() {
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn rfc3339_leap_day_and_year_end() {
        // 2024-02-29T12:34:56Z and 1999-12-31T23:59:59Z, from `date -u -d @SECONDS`.
        assert_eq!(rfc3339(at(1_709_210_096, 7)), "2024-02-29T12:34:56.000007Z");
        assert_eq!(rfc3339(at(946_684_799, 0)), "1999-12-31T23:59:59.000000Z");
        assert_eq!(rfc3339(at(951_782_400, 0)), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn status_ids_cover_statuses() {
        assert!(STATUS_IDS.contains(&status_id(&Status::Interrupted)));
        assert_eq!(status_id(&Status::NoCheckSupport), "skipped");
    }
}
