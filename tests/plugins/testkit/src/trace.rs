//! The trace a test module leaves of each run: [`TraceRecord`], one line per `configure` call in
//! `<root>/trace/<name>`.
//!
//! Times are nanoseconds since `UNIX_EPOCH` from the system clock, so records written by
//! different threads and processes compare directly. The thread is identified by its Linux
//! thread id and name from `/proc/thread-self`, because each plugin links its own copy of the
//! standard library and `std::thread::ThreadId` values from two plugins do not compare.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use plugin_api::anyhow::Context as _;
use plugin_api::{Context, Result};

/// The directory under the run's root that contains one trace file per module.
pub const TRACE_DIR: &str = "trace";

/// One `configure` call as the module saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRecord {
    /// When `configure` started, in nanoseconds since `UNIX_EPOCH`.
    pub start_ns: u128,
    /// When `configure` returned or started unwinding, in nanoseconds since `UNIX_EPOCH`.
    pub end_ns: u128,
    /// Id of the process that ran the module.
    pub pid: u32,
    /// Linux thread id of the thread that ran `configure`.
    pub tid: u32,
    /// Name of that thread as the kernel stores it (at most 15 bytes).
    pub thread: String,
}

impl TraceRecord {
    /// Returns whether the two runs were in `configure` at the same moment.
    pub fn overlaps(&self, other: &TraceRecord) -> bool {
        self.start_ns < other.end_ns && other.start_ns < self.end_ns
    }

    /// Formats the record as one line of a trace file, with its newline.
    pub fn to_line(&self) -> String {
        format!(
            "start_ns={} end_ns={} pid={} tid={} thread={}\n",
            self.start_ns, self.end_ns, self.pid, self.tid, self.thread
        )
    }

    /// Parses one line written by [`to_line`](Self::to_line), without its newline.
    pub fn parse_line(line: &str) -> Result<Self, String> {
        let invalid = || format!("invalid trace line {line:?}");
        let (fields, thread) = line.split_once(" thread=").ok_or_else(invalid)?;
        let mut values = fields.split(' ').map(|field| field.split_once('='));
        let mut next_number = |key: &str| -> Result<u128, String> {
            match values.next() {
                Some(Some((found, value))) if found == key => value.parse().map_err(|_| invalid()),
                _ => Err(invalid()),
            }
        };
        let start_ns = next_number("start_ns")?;
        let end_ns = next_number("end_ns")?;
        let pid = next_number("pid")?.try_into().map_err(|_| invalid())?;
        let tid = next_number("tid")?.try_into().map_err(|_| invalid())?;
        if values.next().is_some() {
            return Err(invalid());
        }
        Ok(Self {
            start_ns,
            end_ns,
            pid,
            tid,
            thread: thread.to_owned(),
        })
    }

    /// Parses every line of a trace file.
    pub fn parse_file(text: &str) -> Result<Vec<Self>, String> {
        text.lines().map(Self::parse_line).collect()
    }
}

/// Returns the trace file of `module` under `root`.
pub fn trace_path(root: &Path, module: &str) -> PathBuf {
    root.join(TRACE_DIR).join(module)
}

/// Appends a [`TraceRecord`] for the current `configure` call when dropped, also while unwinding.
pub(crate) struct TraceGuard<'a> {
    ctx: &'a Context,
    path: PathBuf,
    start_ns: u128,
    tid: u32,
    thread: String,
}

impl<'a> TraceGuard<'a> {
    /// Notes the start time and the running thread, and creates the trace directory.
    pub(crate) fn start(ctx: &'a Context) -> Result<Self> {
        let start_ns = now_ns();
        let path = trace_path(&ctx.root(), ctx.module_name());
        if let Some(directory) = path.parent() {
            fs::create_dir_all(directory)
                .with_context(|| format!("failed to create {}", directory.display()))?;
        }
        let (tid, thread) = current_thread()?;
        Ok(Self {
            ctx,
            path,
            start_ns,
            tid,
            thread,
        })
    }

    fn write(&self, record: &TraceRecord) -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        // One write of one short line, so that records of concurrent runs never interleave.
        file.write_all(record.to_line().as_bytes())
    }
}

impl Drop for TraceGuard<'_> {
    fn drop(&mut self) {
        let record = TraceRecord {
            start_ns: self.start_ns,
            end_ns: now_ns(),
            pid: std::process::id(),
            tid: self.tid,
            thread: self.thread.clone(),
        };
        // Drop may run while unwinding, where a second panic would abort the host, so a
        // failure is only logged. The test that reads the trace then reports it missing.
        if let Err(err) = self.write(&record) {
            self.ctx.error(format!(
                "failed to write trace {}: {err}",
                self.path.display()
            ));
        }
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos())
}

/// Returns the Linux thread id and kernel thread name of the calling thread.
fn current_thread() -> Result<(u32, String)> {
    let link = fs::read_link("/proc/thread-self").context("failed to read /proc/thread-self")?;
    let tid = link
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.parse().ok())
        .with_context(|| format!("unexpected /proc/thread-self target {}", link.display()))?;
    let name = fs::read_to_string("/proc/thread-self/comm")
        .context("failed to read /proc/thread-self/comm")?;
    Ok((tid, name.trim_end_matches('\n').to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_survives_line_round_trip() {
        let record = TraceRecord {
            start_ns: 1_700_000_000_000_000_000,
            end_ns: 1_700_000_000_400_000_000,
            pid: 4242,
            tid: 4243,
            thread: "rayon worker 1".to_owned(),
        };
        let line = record.to_line();

        let parsed = TraceRecord::parse_line(line.trim_end_matches('\n'));

        assert_eq!(parsed, Ok(record), "line was {line:?}");
    }

    #[test]
    fn truncated_line_is_rejected() {
        let parsed = TraceRecord::parse_line("start_ns=1 end_ns=2 pid=3");

        assert!(
            parsed.is_err(),
            "parsed {parsed:?} from a line without tid and thread"
        );
    }

    #[test]
    fn overlap_needs_shared_time() {
        let at = |start_ns, end_ns| TraceRecord {
            start_ns,
            end_ns,
            pid: 1,
            tid: 1,
            thread: String::new(),
        };

        assert!(
            at(0, 10).overlaps(&at(5, 15)),
            "[0, 10] and [5, 15] share [5, 10]"
        );
        assert!(
            !at(0, 10).overlaps(&at(10, 20)),
            "[0, 10] ends where [10, 20] starts"
        );
        assert!(
            !at(10, 20).overlaps(&at(0, 10)),
            "overlap must be symmetric"
        );
    }
}
