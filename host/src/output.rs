//! What the operator reads on standard output: the plan, the module list, the run recap and
//! the diffs of `run --diff`, as text or as JSON documents.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::execute::{RunReport, Status, StopReason};
use crate::loader::{Rejection, escape_control};
use crate::module::ModuleInfo;
use crate::plan::Plan;

mod diff;
pub mod json;
mod planning;
mod report;
mod timeline;

pub use diff::{DiffEntry, diff_entries, diff_text};
pub use planning::{PlanDocument, placement_text, selection_text};
pub use report::{
    REPORT_SCHEMA_VERSION, ReportDocument, ReportInput, ReportPlugin, report_document,
    write_atomically, write_report,
};
pub use timeline::{timeline_html, timeline_svg};

/// Renders the plan as text, one line per batch.
pub fn plan_text(plan: &Plan) -> String {
    let mut text = String::new();
    for (index, batch) in plan.batches.iter().enumerate() {
        let kind = if batch.sequential {
            "sequential"
        } else {
            "parallel"
        };
        let _ = writeln!(
            text,
            "batch {} ({kind}): {}",
            index + 1,
            batch.modules.join(", ")
        );
    }
    if plan.batches.is_empty() {
        text.push_str("no modules to run\n");
    }
    text
}

/// One plugin file in the table of `configurator list`.
#[derive(Debug, Clone, Copy)]
pub struct ListEntry<'a> {
    /// The module's metadata.
    pub info: &'a ModuleInfo,
    /// The `depends_on` entries as declared, with their version requirements.
    pub depends_on: &'a [String],
    /// The `plugin-api` version the plugin was built against.
    pub interface_version: &'a str,
    /// The SHA-256 of the file as lowercase hex.
    pub sha256: &'a str,
    /// The reason the module is left out of runs, such as `disabled`, or `None` when it runs.
    pub note: Option<&'a str>,
}

/// Renders the module table of `configurator list`, one row per entry in the given order.
pub fn module_list(entries: &[ListEntry<'_>]) -> String {
    let rows: Vec<[String; 7]> = entries.iter().map(row).collect();
    let header = [
        "MODULE",
        "VERSION",
        "INTERFACE",
        "SEQUENTIAL",
        "DEPENDS ON",
        "FILE",
        "SHA-256",
    ]
    .map(str::to_owned);
    table(&header, &rows)
}

fn row(entry: &ListEntry<'_>) -> [String; 7] {
    let module = entry.info;
    let depends_on = if entry.depends_on.is_empty() {
        "-".to_owned()
    } else {
        entry.depends_on.join(",")
    };
    let note = entry
        .note
        .map(|note| format!(" ({note})"))
        .unwrap_or_default();
    [
        format!("{}{note}", module.name),
        module.version.clone(),
        entry.interface_version.to_owned(),
        if module.force_sequential { "yes" } else { "no" }.to_owned(),
        depends_on,
        module
            .path
            .as_ref()
            .map(|path| escape_control(&path.display().to_string()).into_owned())
            .unwrap_or_default(),
        entry.sha256.to_owned(),
    ]
}

/// Renders the rejected files, one per line, for output after a `--skip-broken` run or list.
pub fn rejected_list(rejected: &[Rejection]) -> String {
    let mut text = String::new();
    if rejected.is_empty() {
        return text;
    }
    let _ = writeln!(text, "\nrejected plugin files:");
    for rejection in rejected {
        let _ = writeln!(text, "  {rejection}");
    }
    text
}

/// One rejected plugin file in the JSON output of `list`, `plan` and `run`, and in the run
/// report.
#[derive(Debug, Serialize)]
pub struct RejectedFile<'a> {
    /// The rejected file.
    #[serde(serialize_with = "json::serialize_path")]
    pub path: &'a Path,
    /// One line saying why.
    pub reason: &'a str,
}

/// Returns the rejected files for JSON output, in the given order.
pub fn rejected_files(rejected: &[Rejection]) -> Vec<RejectedFile<'_>> {
    rejected
        .iter()
        .map(|rejection| RejectedFile {
            path: &rejection.path,
            reason: &rejection.reason,
        })
        .collect()
}

/// Renders the recap of a run: one row per module, the totals, then notes on the shuffle seed,
/// abandoned threads and an interrupt.
pub fn recap(report: &RunReport) -> String {
    let rows: Vec<[String; 4]> = report
        .modules
        .iter()
        .map(|module| {
            [
                module.name.clone(),
                module.status.label().to_owned(),
                if module.status.started() {
                    format_duration(module.duration)
                } else {
                    "-".to_owned()
                },
                status_detail(&module.status),
            ]
        })
        .collect();
    let header = ["MODULE", "STATUS", "TIME", "DETAIL"].map(str::to_owned);
    let mut text = format!("\nRECAP\n{}", table(&header, &rows));
    let _ = writeln!(
        text,
        "\nchanged={} unchanged={} failed={} skipped={} timed_out={} not_started={} \
         interrupted={}  total {}",
        report.count("changed"),
        report.count("unchanged"),
        report.count("failed"),
        report.count("skipped"),
        report.count("timed out"),
        report.count("not started"),
        report.count("interrupted"),
        format_duration(report.elapsed)
    );

    if let Some(seed) = report.shuffle_seed {
        let _ = writeln!(
            text,
            "shuffle seed: {seed} (repeat this start order with --shuffle={seed})"
        );
    }
    let abandoned: Vec<&str> = report
        .modules
        .iter()
        .filter(|module| module.status.abandoned())
        .map(|module| module.name.as_str())
        .collect();
    if !abandoned.is_empty() {
        let _ = writeln!(
            text,
            "abandoned the threads of {}; they may still be running when the host exits",
            abandoned.join(", ")
        );
    }
    if report.interrupted {
        text.push_str("the run was interrupted: no module started after the signal\n");
    }
    text
}

/// Returns the line printed after the recap of a check run, which changed nothing.
pub fn check_notice() -> &'static str {
    "check mode: nothing was changed; `changed` means the module would have changed something\n"
}

/// Renders the findings of the access audit, one line each.
pub fn audit_text(findings: &[crate::audit::Finding], accesses: usize) -> String {
    let mut text = format!("\nAUDIT ({accesses} file accesses recorded)\n");
    if findings.is_empty() {
        text.push_str("  no findings\n");
    }
    for finding in findings {
        let _ = writeln!(text, "  - {}", finding.describe());
    }
    text
}

/// The JSON document of `run --format json`.
#[derive(Debug, Serialize)]
pub struct RunDocument<'a> {
    /// One entry per planned module, in plan order.
    pub modules: Vec<ModuleEntry<'a>>,
    /// Modules per status word.
    pub totals: std::collections::BTreeMap<&'static str, usize>,
    /// Wall-clock time of the run in milliseconds.
    pub elapsed_ms: u128,
    /// Whether a signal interrupted the run.
    pub interrupted: bool,
    /// The access audit, present with `--audit`.
    pub audit: Option<AuditDocument<'a>>,
    /// Whether the run was a check run (`--check`), which changed nothing.
    pub check: bool,
    /// The file changes as unified diffs, present with `--diff`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Vec<DiffEntry<'a>>>,
    /// The plugin files that `--skip-broken` left out of the run.
    pub rejected: Vec<RejectedFile<'a>>,
}

/// One module in [`RunDocument`].
#[derive(Debug, Serialize)]
pub struct ModuleEntry<'a> {
    /// The module's name.
    pub name: &'a str,
    /// Its status word, as in the recap.
    pub status: &'static str,
    /// How long `configure` ran, in milliseconds.
    pub duration_ms: u128,
    /// The outcome message, error or reason, as in the recap.
    pub detail: String,
}

/// The audit part of [`RunDocument`].
#[derive(Debug, Serialize)]
pub struct AuditDocument<'a> {
    /// How many distinct accesses were recorded.
    pub accesses: usize,
    /// Every finding, with its suggested change.
    pub findings: &'a [crate::audit::Finding],
}

/// Builds the JSON document of a run, with the audit's findings when there was one and the
/// plugin files rejected before it.
pub fn run_document<'a>(
    report: &'a RunReport,
    audit: Option<AuditDocument<'a>>,
    rejected: &'a [Rejection],
) -> RunDocument<'a> {
    let modules = report
        .modules
        .iter()
        .map(|module| ModuleEntry {
            name: &module.name,
            status: module.status.label(),
            duration_ms: module.duration.as_millis(),
            detail: status_detail(&module.status),
        })
        .collect();
    let mut totals = std::collections::BTreeMap::new();
    for module in &report.modules {
        *totals.entry(module.status.label()).or_insert(0) += 1;
    }
    RunDocument {
        modules,
        totals,
        elapsed_ms: report.elapsed.as_millis(),
        interrupted: report.interrupted,
        audit,
        check: false,
        diff: None,
        rejected: rejected_files(rejected),
    }
}

fn status_detail(status: &Status) -> String {
    let detail = match status {
        Status::Changed(message) | Status::Unchanged(message) => message.clone(),
        Status::Failed(failure) if failure.panicked => format!("panicked: {}", failure.message),
        Status::Failed(failure) => failure.message.clone(),
        Status::TimedOut { limit } => format!(
            "exceeded its timeout of {}; thread abandoned",
            format_duration(*limit)
        ),
        Status::Interrupted => {
            "still running when the interrupt's grace period ended; thread abandoned".to_owned()
        }
        Status::Skipped {
            dependency,
            failed,
            cause,
        } if dependency == failed => format!("dependency {failed} {}", cause.label()),
        Status::Skipped {
            dependency,
            failed,
            cause,
        } => format!(
            "dependency {dependency} was skipped because {failed} {}",
            cause.label()
        ),
        // These details avoid the words `failed` and `skipped`, which would read as a status.
        Status::NotStarted(StopReason::FailFast { failed }) => {
            format!("--fail-fast stopped the run after {failed}")
        }
        Status::NotStarted(StopReason::Interrupted) => "the run was interrupted first".to_owned(),
        Status::NotStarted(StopReason::NoWorkers { error }) => {
            format!("no worker thread could start: {error}")
        }
        Status::NoCheckSupport => "does not support check mode".to_owned(),
    };
    // Keep the table one line per module; multi-line errors are in the log above.
    let one_line = detail.lines().collect::<Vec<_>>().join(" | ");
    printable(&one_line)
}

/// Escapes control characters in text that came from a module, so that it cannot move the
/// cursor, recolour the terminal or start a line that looks like the host's own output.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|character| {
            if character.is_control() {
                character.escape_default().to_string()
            } else {
                character.to_string()
            }
        })
        .collect()
}

fn format_duration(duration: Duration) -> String {
    let millis = duration.as_secs_f64() * 1000.0;
    if millis < 1000.0 {
        format!("{millis:.0}ms")
    } else {
        format!("{:.2}s", duration.as_secs_f64())
    }
}

/// Lays out rows under a header, columns padded to their widest cell; the last column is not
/// padded.
fn table<const N: usize>(header: &[String; N], rows: &[[String; N]]) -> String {
    let mut widths = header.clone().map(|cell| cell.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(header).chain(rows) {
        let mut line = String::new();
        for (index, cell) in row.iter().enumerate() {
            if index + 1 == N {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[index]);
            }
        }
        let _ = writeln!(text, "  {}", line.trim_end());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::{ModuleReport, Schedule, SkipCause};
    use crate::module::RunFailure;
    use crate::plan::Batch;

    fn report(name: &str, status: Status, millis: u64) -> ModuleReport {
        ModuleReport {
            name: name.to_owned(),
            status,
            started: None,
            duration: Duration::from_millis(millis),
            thread: None,
        }
    }

    #[test]
    fn recap_lists_modules_and_totals() {
        let run = RunReport {
            modules: vec![
                report("system", Status::Changed("wrote /etc/hostname".into()), 12),
                report(
                    "hosts",
                    Status::Failed(RunFailure {
                        panicked: true,
                        message: "boom".into(),
                    }),
                    3,
                ),
                report(
                    "motd",
                    Status::Skipped {
                        dependency: "hosts".into(),
                        failed: "hosts".into(),
                        cause: SkipCause::Failed,
                    },
                    0,
                ),
            ],
            elapsed: Duration::from_millis(1500),
            schedule: Schedule::Batches,
            shuffle_seed: None,
            interrupted: false,
        };
        let expected = "
RECAP
  MODULE  STATUS   TIME  DETAIL
  system  changed  12ms  wrote /etc/hostname
  hosts   failed   3ms   panicked: boom
  motd    skipped  -     dependency hosts failed

changed=1 unchanged=0 failed=1 skipped=1 timed_out=0 not_started=0 interrupted=0  total 1.50s
";
        assert_eq!(recap(&run), expected);
    }

    #[test]
    fn recap_explains_stopped_and_abandoned_modules() {
        let run = RunReport {
            modules: vec![
                report(
                    "hosts",
                    Status::TimedOut {
                        limit: Duration::from_secs(2),
                    },
                    2001,
                ),
                report(
                    "motd",
                    Status::Skipped {
                        dependency: "system".into(),
                        failed: "hosts".into(),
                        cause: SkipCause::TimedOut,
                    },
                    0,
                ),
                report("sshd", Status::Interrupted, 5000),
                report(
                    "users",
                    Status::NotStarted(StopReason::FailFast {
                        failed: "hosts".into(),
                    }),
                    0,
                ),
                report("groups", Status::NotStarted(StopReason::Interrupted), 0),
            ],
            elapsed: Duration::from_millis(7250),
            schedule: Schedule::Eager,
            shuffle_seed: Some(1234),
            interrupted: true,
        };
        let expected = "
RECAP
  MODULE  STATUS       TIME   DETAIL
  hosts   timed out    2.00s  exceeded its timeout of 2.00s; thread abandoned
  motd    skipped      -      dependency system was skipped because hosts timed out
  sshd    interrupted  5.00s  still running when the interrupt's grace period ended; thread abandoned
  users   not started  -      --fail-fast stopped the run after hosts
  groups  not started  -      the run was interrupted first

changed=0 unchanged=0 failed=0 skipped=1 timed_out=1 not_started=2 interrupted=1  total 7.25s
shuffle seed: 1234 (repeat this start order with --shuffle=1234)
abandoned the threads of hosts, sshd; they may still be running when the host exits
the run was interrupted: no module started after the signal
";
        assert_eq!(recap(&run), expected);
    }

    #[test]
    fn recap_gives_check_skip_reasons() {
        let run = RunReport {
            modules: vec![
                report("legacy", Status::NoCheckSupport, 0),
                report(
                    "motd",
                    Status::Skipped {
                        dependency: "legacy".into(),
                        failed: "legacy".into(),
                        cause: SkipCause::NoCheckSupport,
                    },
                    0,
                ),
            ],
            elapsed: Duration::from_millis(3),
            schedule: Schedule::Batches,
            shuffle_seed: None,
            interrupted: false,
        };
        let expected = "
RECAP
  MODULE  STATUS   TIME  DETAIL
  legacy  skipped  -     does not support check mode
  motd    skipped  -     dependency legacy does not support check mode

changed=0 unchanged=0 failed=0 skipped=2 timed_out=0 not_started=0 interrupted=0  total 3ms
";
        assert_eq!(recap(&run), expected);
    }

    #[test]
    fn plan_text_marks_sequential_batches() {
        let plan = Plan {
            batches: vec![
                Batch {
                    modules: vec!["a".into(), "b".into()],
                    sequential: false,
                },
                Batch {
                    modules: vec!["solo".into()],
                    sequential: true,
                },
            ],
        };
        assert_eq!(
            plan_text(&plan),
            "batch 1 (parallel): a, b\nbatch 2 (sequential): solo\n"
        );
    }

    #[test]
    fn printable_escapes_control_characters() {
        assert_eq!(printable("plain text"), "plain text");
        assert_eq!(printable("a\nb"), "a\\nb");
        assert_eq!(printable("\u{1b}[31mred"), "\\u{1b}[31mred");
    }
}
