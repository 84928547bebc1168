//! The SVG timeline of `run --timeline FILE`: [`timeline_svg`] draws one row per worker thread
//! and one bar per module that started, coloured by status, with the batch boundaries and the
//! critical path marked.
//!
//! The critical path is the chain of modules that determined the run's length: it starts at the
//! module that finished last and follows, from each module, the module it waits for
//! (`depends_on`, or `after` in the run) that finished last.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::execute::{ModuleReport, RunReport, Schedule, Status};
use crate::module::ModuleInfo;
use crate::plan::Plan;

use super::report::status_id;

/// Width of the drawing area of the bars, in SVG user units (pixels at 100 %).
const CHART_WIDTH: f64 = 1000.0;
/// Width of the thread labels left of the chart.
const LABEL_WIDTH: f64 = 110.0;
/// Height of one thread row.
const ROW_HEIGHT: f64 = 26.0;
/// Height of one bar inside its row.
const BAR_HEIGHT: f64 = 18.0;
/// Space above the first row, for the time axis and the batch labels.
const TOP: f64 = 44.0;
/// Estimated width of one character of the 11 px sans-serif label font, to decide whether a
/// label fits inside its bar.
const CHAR_WIDTH: f64 = 6.6;

/// The row of modules whose thread was abandoned after a timeout or an interrupt.
const ABANDONED_ROW: &str = "abandoned";

/// A started module placed on the timeline.
struct Bar<'a> {
    module: &'a ModuleReport,
    /// Seconds from the run's first start.
    start: f64,
    end: f64,
    row: usize,
}

/// Renders the timeline of a run as a standalone SVG document.
///
/// `infos` supplies each module's `depends_on` and `after` for the critical path; modules that
/// never started get no bar and are counted in the caption.
pub fn timeline_svg(report: &RunReport, plan: &Plan, infos: &[ModuleInfo]) -> String {
    let origin = report
        .modules
        .iter()
        .filter_map(|module| module.started)
        .min()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let rows = thread_rows(report);
    let bars: Vec<Bar<'_>> = report
        .modules
        .iter()
        .filter_map(|module| {
            let started = module.started?;
            let start = started
                .duration_since(origin)
                .unwrap_or(Duration::ZERO)
                .as_secs_f64();
            let row_name = module.thread.as_deref().unwrap_or(ABANDONED_ROW);
            Some(Bar {
                module,
                start,
                end: start + module.duration.as_secs_f64(),
                row: rows.iter().position(|row| row == row_name)?,
            })
        })
        .collect();
    let span = bars
        .iter()
        .map(|bar| bar.end)
        .fold(report.elapsed.as_secs_f64(), f64::max)
        .max(1e-3);
    let critical = critical_path(&bars, infos);
    let scale = CHART_WIDTH / span;
    let height = TOP + ROW_HEIGHT * rows.len() as f64 + 56.0;
    let width = LABEL_WIDTH + CHART_WIDTH + 20.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    svg.push_str(STYLE);
    let _ = writeln!(
        svg,
        r##"<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>"##
    );
    draw_axis(&mut svg, span, scale, rows.len());
    for (index, row) in rows.iter().enumerate() {
        let y = TOP + ROW_HEIGHT * index as f64;
        let _ = writeln!(
            svg,
            r#"<text class="thread" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            LABEL_WIDTH - 8.0,
            y + ROW_HEIGHT / 2.0 + 4.0,
            escape(row)
        );
    }
    if report.schedule == Schedule::Batches {
        draw_batch_boundaries(&mut svg, plan, &bars, scale, rows.len());
    }
    for bar in &bars {
        draw_bar(
            &mut svg,
            bar,
            scale,
            critical.contains(bar.module.name.as_str()),
        );
    }
    draw_caption(&mut svg, report, &bars, &critical, height);
    svg.push_str("</svg>\n");
    svg
}

/// Wraps the SVG document in a minimal HTML page, for `--timeline FILE.html`.
pub fn timeline_html(svg: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Configurator \
         run timeline</title></head>\n<body>\n{svg}</body>\n</html>\n"
    )
}

const STYLE: &str = r#"<style>
.module { stroke: #333333; stroke-width: 0.5; }
.critical { stroke: #000000; stroke-width: 2.5; }
.label { fill: #ffffff; pointer-events: none; }
.batch { stroke: #555555; stroke-dasharray: 4 3; }
.tick { stroke: #dddddd; }
</style>
"#;

/// Returns the rows: the worker threads in number order, then the abandoned row if needed.
fn thread_rows(report: &RunReport) -> Vec<String> {
    let mut threads: BTreeSet<(usize, String)> = BTreeSet::new();
    let mut abandoned = false;
    for module in report
        .modules
        .iter()
        .filter(|module| module.started.is_some())
    {
        match &module.thread {
            Some(thread) => {
                // Sort `worker-10` after `worker-9`.
                let number = thread
                    .rsplit('-')
                    .next()
                    .and_then(|suffix| suffix.parse().ok())
                    .unwrap_or(usize::MAX);
                threads.insert((number, thread.clone()));
            }
            None => abandoned = true,
        }
    }
    let mut rows: Vec<String> = threads.into_iter().map(|(_, name)| name).collect();
    if abandoned {
        rows.push(ABANDONED_ROW.to_owned());
    }
    rows
}

/// Returns the names of the modules on the critical path.
///
/// NOTE: under `--schedule batches` a module also waits for the whole previous batch, which
/// may have ended later than any module it waits for; the path does not follow that wait.
fn critical_path<'a>(bars: &[Bar<'a>], infos: &[ModuleInfo]) -> BTreeSet<&'a str> {
    let by_name: BTreeMap<&str, &Bar<'a>> = bars
        .iter()
        .map(|bar| (bar.module.name.as_str(), bar))
        .collect();
    let waits_for: BTreeMap<&str, Vec<&str>> = infos
        .iter()
        .map(|info| {
            let awaited = info.depends_on.iter().chain(&info.after);
            (info.name.as_str(), awaited.map(String::as_str).collect())
        })
        .collect();

    let mut path = BTreeSet::new();
    let mut current = bars.iter().max_by(|a, b| a.end.total_cmp(&b.end));
    while let Some(bar) = current {
        let name = bar.module.name.as_str();
        if !path.insert(name) {
            break;
        }
        current = waits_for
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|awaited| by_name.get(awaited).copied())
            .max_by(|a, b| a.end.total_cmp(&b.end));
    }
    path
}

fn draw_axis(svg: &mut String, span: f64, scale: f64, rows: usize) {
    let step = tick_step(span);
    let bottom = TOP + ROW_HEIGHT * rows as f64;
    let mut tick = 0.0;
    while tick <= span + step * 1e-6 {
        let x = LABEL_WIDTH + tick * scale;
        let _ = writeln!(
            svg,
            r#"<line class="tick" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{bottom:.1}"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            TOP - 4.0,
            TOP - 8.0,
            format_seconds(tick)
        );
        tick += step;
    }
}

/// Returns a tick spacing of 1, 2 or 5 times a power of ten giving at most about ten ticks.
fn tick_step(span: f64) -> f64 {
    let rough = span / 10.0;
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|factor| factor * power)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * power)
}

fn format_seconds(seconds: f64) -> String {
    if seconds == 0.0 {
        "0".to_owned()
    } else if seconds < 1.0 {
        format!("{:.0} ms", seconds * 1000.0)
    } else {
        format!("{:.1} s", seconds)
    }
}

/// Draws a dashed line where each batch after the first started: at the first start among its
/// modules.
fn draw_batch_boundaries(svg: &mut String, plan: &Plan, bars: &[Bar<'_>], scale: f64, rows: usize) {
    let bottom = TOP + ROW_HEIGHT * rows as f64;
    for (index, batch) in plan.batches.iter().enumerate().skip(1) {
        let start = bars
            .iter()
            .filter(|bar| batch.modules.contains(&bar.module.name))
            .map(|bar| bar.start)
            .min_by(f64::total_cmp);
        let Some(start) = start else {
            continue;
        };
        let x = LABEL_WIDTH + start * scale;
        let _ = writeln!(
            svg,
            r#"<line class="batch" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{bottom:.1}"><title>batch {} starts</title></line><text x="{:.1}" y="{:.1}" font-size="9">b{}</text>"#,
            TOP - 20.0,
            index + 1,
            x + 2.0,
            TOP - 22.0,
            index + 1
        );
    }
}

fn draw_bar(svg: &mut String, bar: &Bar<'_>, scale: f64, critical: bool) {
    let x = LABEL_WIDTH + bar.start * scale;
    // A bar of zero width would vanish; one pixel keeps every module visible.
    let width = ((bar.end - bar.start) * scale).max(1.0);
    let y = TOP + ROW_HEIGHT * bar.row as f64 + (ROW_HEIGHT - BAR_HEIGHT) / 2.0;
    let status = status_id(&bar.module.status);
    let class = if critical {
        "module critical"
    } else {
        "module"
    };
    let name = escape(&bar.module.name);
    let _ = write!(
        svg,
        r#"<rect class="{class}" data-module="{name}" data-status="{status}" x="{x:.2}" y="{y:.1}" width="{width:.2}" height="{BAR_HEIGHT}" fill="{}"><title>{name}: {} in {}{}</title></rect>"#,
        colour(&bar.module.status),
        status.replace('_', " "),
        format_seconds(bar.end - bar.start),
        if critical {
            ", on the critical path"
        } else {
            ""
        },
    );
    if width >= bar.module.name.len() as f64 * CHAR_WIDTH + 6.0 {
        let _ = write!(
            svg,
            r#"<text class="label" x="{:.2}" y="{:.1}">{name}</text>"#,
            x + 3.0,
            y + BAR_HEIGHT / 2.0 + 4.0
        );
    }
    svg.push('\n');
}

fn draw_caption(
    svg: &mut String,
    report: &RunReport,
    bars: &[Bar<'_>],
    critical: &BTreeSet<&str>,
    height: f64,
) {
    let y = height - 34.0;
    let mut x = LABEL_WIDTH;
    for (status, label) in [
        (Status::Changed(String::new()), "changed"),
        (Status::Unchanged(String::new()), "unchanged"),
        (
            Status::TimedOut {
                limit: Duration::ZERO,
            },
            "timed out",
        ),
        (Status::Interrupted, "interrupted"),
    ] {
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{}" y="{:.1}">{label}</text>"#,
            y - 10.0,
            colour(&status),
            x + 16.0,
            y
        );
        x += 100.0;
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{x}" y="{:.1}" width="12" height="12" fill="{FAILED}"/><text x="{}" y="{:.1}">failed</text>"##,
        y - 10.0,
        x + 16.0,
        y
    );
    x += 100.0;
    let _ = writeln!(
        svg,
        r##"<rect class="critical" x="{x}" y="{:.1}" width="12" height="12" fill="#ffffff"/><text x="{}" y="{:.1}">critical path</text>"##,
        y - 10.0,
        x + 16.0,
        y
    );
    let not_started = report.modules.len() - bars.len();
    let _ = writeln!(
        svg,
        r#"<text x="{LABEL_WIDTH}" y="{:.1}">{} module(s) ran in {}; {not_started} did not start; critical path: {} module(s); bN: batch N starts</text>"#,
        y + 20.0,
        bars.len(),
        format_seconds(report.elapsed.as_secs_f64()),
        critical.len()
    );
}

/// Fill colour of a failed module's bar.
const FAILED: &str = "#d9534f";

fn colour(status: &Status) -> &'static str {
    match status {
        Status::Changed(_) => "#3a9a5b",
        Status::Unchanged(_) => "#6f9fd0",
        Status::Failed(_) => FAILED,
        Status::TimedOut { .. } => "#e69526",
        Status::Interrupted => "#9467bd",
        Status::Skipped { .. } | Status::NotStarted(_) | Status::NoCheckSupport => "#bbbbbb",
    }
}

/// Escapes text for XML content and attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_step_rounds_up() {
        assert_eq!(tick_step(10.0), 1.0);
        assert_eq!(tick_step(3.0), 0.5);
        assert!((tick_step(0.15) - 0.02).abs() < 1e-12);
    }

    /// Builds a chain of 200 modules, `m000` waiting for nothing and each next one for the previous
    /// one, spread over 8 threads with growing durations.
    fn chain_of_200() -> (RunReport, Vec<ModuleInfo>) {
        let origin = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut modules = Vec::new();
        let mut infos = Vec::new();
        for index in 0..200_u64 {
            let name = format!("m{index:03}");
            modules.push(ModuleReport {
                name: name.clone(),
                status: Status::Changed(String::new()),
                started: Some(origin + Duration::from_millis(index * 10)),
                duration: Duration::from_millis(5 + index % 7),
                thread: Some(format!("worker-{}", index % 8)),
            });
            infos.push(ModuleInfo {
                name,
                version: "1.0.0".to_owned(),
                description: String::new(),
                depends_on: index
                    .checked_sub(1)
                    .map(|previous| vec![format!("m{previous:03}")])
                    .unwrap_or_default(),
                requirements: Vec::new(),
                after: Vec::new(),
                force_sequential: false,
                path: None,
            });
        }
        let report = RunReport {
            modules,
            elapsed: Duration::from_secs(2),
            schedule: Schedule::Eager,
            shuffle_seed: None,
            interrupted: false,
        };
        (report, infos)
    }

    #[test]
    fn two_hundred_modules_get_bars() {
        let (report, infos) = chain_of_200();
        let svg = timeline_svg(
            &report,
            &Plan {
                batches: Vec::new(),
            },
            &infos,
        );

        assert_eq!(svg.matches("data-module=").count(), 200);
        assert_eq!(svg.matches("class=\"module critical\"").count(), 200);
        assert_eq!(svg.matches("class=\"thread\"").count(), 8);
        // Bars of 5 to 11 ms in 2 s are about 3 to 6 px wide, too narrow for a label, so
        // their names are in the tooltips only.
        assert_eq!(svg.matches("class=\"label\"").count(), 0);
        assert_eq!(svg.matches("<title>m").count(), 200);
    }

    #[test]
    fn escape_markup_characters() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
