//! What the operator reads on standard output: the plan, the module list and the run recap.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::execute::{RunReport, Status};
use crate::loader::Rejection;
use crate::module::ModuleInfo;
use crate::plan::Plan;

/// The JSON document of `plan --format json`.
#[derive(Debug, Serialize)]
pub struct PlanDocument<'a> {
    /// Batches in execution order.
    pub batches: &'a [crate::plan::Batch],
    /// Every planned module, sorted by name.
    pub modules: Vec<&'a ModuleInfo>,
}

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

/// Renders the module table of `configurator list`.
pub fn module_list(modules: &[&ModuleInfo], disabled: &[&ModuleInfo]) -> String {
    let rows: Vec<[String; 5]> = modules
        .iter()
        .map(|module| row(module, ""))
        .chain(disabled.iter().map(|module| row(module, " (disabled)")))
        .collect();
    let header = ["MODULE", "VERSION", "SEQUENTIAL", "DEPENDS ON", "FILE"].map(str::to_owned);
    table(&header, &rows)
}

fn row(module: &ModuleInfo, note: &str) -> [String; 5] {
    let depends_on = if module.depends_on.is_empty() {
        "-".to_owned()
    } else {
        module.depends_on.join(",")
    };
    [
        format!("{}{note}", module.name),
        module.version.clone(),
        if module.force_sequential { "yes" } else { "no" }.to_owned(),
        depends_on,
        module
            .path
            .as_ref()
            .map(|path| path.display().to_string())
            .unwrap_or_default(),
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
        let _ = writeln!(text, "  {}: {}", rejection.path.display(), rejection.reason);
    }
    text
}

/// Renders the recap of a run: one row per module, then the totals.
pub fn recap(report: &RunReport) -> String {
    let rows: Vec<[String; 4]> = report
        .modules
        .iter()
        .map(|module| {
            [
                module.name.clone(),
                module.status.label().to_owned(),
                match module.status {
                    Status::Skipped { .. } => "-".to_owned(),
                    _ => format_duration(module.duration),
                },
                status_detail(&module.status),
            ]
        })
        .collect();
    let header = ["MODULE", "STATUS", "TIME", "DETAIL"].map(str::to_owned);
    let mut text = format!("\nRECAP\n{}", table(&header, &rows));
    let _ = writeln!(
        text,
        "\nchanged={} unchanged={} failed={} skipped={}  total {}",
        report.count("changed"),
        report.count("unchanged"),
        report.count("failed"),
        report.count("skipped"),
        format_duration(report.elapsed)
    );
    text
}

fn status_detail(status: &Status) -> String {
    let detail = match status {
        Status::Changed(message) | Status::Unchanged(message) => message.clone(),
        Status::Failed(failure) if failure.panicked => format!("panicked: {}", failure.message),
        Status::Failed(failure) => failure.message.clone(),
        Status::Skipped { dependency, failed } if dependency == failed => {
            format!("dependency {failed} failed")
        }
        Status::Skipped { dependency, failed } => {
            format!("dependency {dependency} was skipped because {failed} failed")
        }
    };
    // Keep the table one line per module; multi-line errors are in the log above.
    detail.lines().collect::<Vec<_>>().join(" | ")
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
    use crate::execute::ModuleReport;
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
                    },
                    0,
                ),
            ],
            elapsed: Duration::from_millis(1500),
        };
        let expected = "
RECAP
  MODULE  STATUS   TIME  DETAIL
  system  changed  12ms  wrote /etc/hostname
  hosts   failed   3ms   panicked: boom
  motd    skipped  -     dependency hosts failed

changed=1 unchanged=0 failed=1 skipped=1  total 1.50s
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
}
