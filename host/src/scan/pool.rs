//! The host's side of the plugin scanner: starting helper processes, handing them files and
//! turning a helper's death into the rejection of the file it was loading.
//!
//! [`examine`] splits the files into batches, one helper process per batch, with as many
//! helpers at a time as the machine has cores. A helper reports on one file after another:
//!
//! - when it dies on a file (a signal, an abort, an unexpected exit), that file is rejected
//!   with the signal or exit status named, and the rest of the batch goes back in the queue
//!   for a new helper;
//! - when it sends no answer within the timeout, it is killed and the file rejected as hung;
//! - when it dies or hangs after answering for every file, while it exits (in a library
//!   destructor, which would hit the host when it exits too), each file of the batch that
//!   passed is examined again alone, to find the one at fault.
//!
//! Each helper runs in a process group of its own, which is killed when the helper ends, so
//! that a process a plugin's constructor started cannot outlive it or hold its report channel
//! open. A triggered [`Interrupt`] kills the helpers and stops the examination.
//!
//! Batches hold at most [`MAX_BATCH`] files, because a helper keeps a descriptor open per
//! file it loaded (see [`crate::loader::load_file`]).

use std::collections::VecDeque;
use std::io::{self, BufRead as _, BufReader, Read, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

use super::protocol::{
    CheckedSettings, ConfiguredSettings, FileIdentity, RejectedFile, Report, Verdict,
};
use crate::deadline::deadline_after;
use crate::execute::Interrupt;

/// The hidden subcommand that makes the `configurator` binary a plugin scanner.
pub const SCAN_SUBCOMMAND: &str = "__scan";

/// The maximum number of files one helper process examines. A helper keeps one descriptor per
/// loaded file, so this stays far below the usual soft limit of 1024 descriptors, and it is
/// large enough that 200 files take one helper start per core, not two.
pub const MAX_BATCH: usize = 128;

/// How many of the last bytes a helper wrote to stderr are kept for the report of its death.
const STDERR_TAIL_BYTES: usize = 4096;

/// How long to wait for the rest of a dead helper's stderr.
const STDERR_GRACE: Duration = Duration::from_millis(500);

/// How often a wait for a helper checks for an interrupt and for a helper that exited while
/// a process it started keeps its report channel open.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How to run the plugin scanner.
#[derive(Debug, Clone)]
pub struct Scanner {
    /// The `configurator` executable, run with [`SCAN_SUBCOMMAND`].
    pub program: PathBuf,
    /// How long loading one file may take before the file is rejected as hung.
    pub timeout: Duration,
    /// The interrupt that SIGINT, SIGTERM and SIGHUP trigger, which stops the examination.
    pub interrupt: Option<Interrupt>,
    /// The configured settings, against which the scanner checks each plugin's settings.
    pub settings: ConfiguredSettings,
}

/// The outcome of examining one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The verdict.
    pub verdict: Verdict,
    /// The identity of the file the scanner loaded, when it sent a report.
    pub identity: Option<FileIdentity>,
    /// For a plugin, the result of its settings check.
    pub settings: Option<CheckedSettings>,
    /// Whether the verdict belongs to the file rather than to the moment: a hang may come from
    /// a busy machine and an external signal from the operator, so those are not cached.
    pub cacheable: bool,
    /// Whether the helper died on the file, which may have happened in the plugin's settings
    /// check and so may depend on the configured settings.
    pub died: bool,
}

/// The plugin scanner could not be started at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the plugin scanner {}", program.display())]
pub struct StartError {
    /// The executable.
    pub program: PathBuf,
    /// The failure.
    #[source]
    pub source: io::Error,
}

/// The reason the examination stopped before every file had a finding.
#[derive(Debug, thiserror::Error)]
pub enum ExamineError {
    /// A helper could not be started.
    #[error(transparent)]
    Start(#[from] StartError),
    /// A signal interrupted the examination.
    #[error("interrupted while the plugin scanner was examining plugin files")]
    Interrupted,
}

/// Examines every file in helper processes and returns a finding per file, in the given order.
pub fn examine(scanner: &Scanner, jobs: &[PathBuf]) -> Result<Vec<Finding>, ExamineError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let workers = thread::available_parallelism()
        .map_or(1, usize::from)
        .min(jobs.len());
    // Equal batches, as many as it takes to stay within `MAX_BATCH`, rounded up to a multiple
    // of the workers so that they finish together.
    let batches = jobs.len().div_ceil(MAX_BATCH).div_ceil(workers) * workers;
    let batch_size = jobs.len().div_ceil(batches);
    let indexes: Vec<usize> = (0..jobs.len()).collect();
    let queue: Mutex<VecDeque<Vec<usize>>> =
        Mutex::new(indexes.chunks(batch_size).map(<[usize]>::to_vec).collect());
    let findings: Mutex<Vec<Option<Finding>>> = Mutex::new(vec![None; jobs.len()]);
    let stop: Mutex<Option<ExamineError>> = Mutex::new(None);

    thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                work(scanner, jobs, &queue, &findings, &stop);
            });
        }
    });

    if let Some(error) = lock(&stop).take() {
        return Err(error);
    }
    let findings = findings
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    Ok(findings
        .into_iter()
        .map(|finding| finding.expect("every job is examined unless the examination stopped"))
        .collect())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes batches from the queue until it is empty, putting back what a dead helper left.
fn work(
    scanner: &Scanner,
    jobs: &[PathBuf],
    queue: &Mutex<VecDeque<Vec<usize>>>,
    findings: &Mutex<Vec<Option<Finding>>>,
    stop: &Mutex<Option<ExamineError>>,
) {
    loop {
        let Some(batch) = lock(queue).pop_front() else {
            return;
        };
        if lock(stop).is_some() {
            return;
        }
        if is_triggered(scanner.interrupt.as_ref()) {
            lock(stop).get_or_insert(ExamineError::Interrupted);
            return;
        }
        match run_batch(scanner, jobs, &batch) {
            Ok(outcome) => {
                let mut findings = lock(findings);
                for (job, finding) in outcome.findings {
                    findings[job] = Some(finding);
                }
                drop(findings);
                let mut queue = lock(queue);
                for batch in outcome.again.into_iter().rev() {
                    queue.push_front(batch);
                }
            }
            Err(error) => {
                lock(stop).get_or_insert(error);
                return;
            }
        }
    }
}

/// The findings of one helper, and the batches still to examine.
#[derive(Debug, Default)]
struct BatchOutcome {
    findings: Vec<(usize, Finding)>,
    again: Vec<Vec<usize>>,
}

/// Returns whether `interrupt` exists and was triggered.
fn is_triggered(interrupt: Option<&Interrupt>) -> bool {
    interrupt.is_some_and(|interrupt| interrupt.trigger_count() > 0)
}

/// Runs one helper over `batch`.
fn run_batch(
    scanner: &Scanner,
    jobs: &[PathBuf],
    batch: &[usize],
) -> Result<BatchOutcome, ExamineError> {
    let mut helper = Helper::start(scanner)?;
    let mut outcome = BatchOutcome::default();
    let mut passed = Vec::new();

    for (position, &job) in batch.iter().enumerate() {
        let path = &jobs[job];
        tracing::debug!("the plugin scanner examines {}", path.display());
        match helper.examine(path) {
            Ok(report) => {
                if matches!(report.verdict, Verdict::Plugin(_)) {
                    passed.push(job);
                }
                let finding = Finding {
                    verdict: report.verdict,
                    identity: report.identity,
                    settings: report.settings,
                    cacheable: true,
                    died: false,
                };
                outcome.findings.push((job, finding));
            }
            Err(Failure::Interrupted) => return Err(ExamineError::Interrupted),
            Err(failure) => {
                tracing::debug!(
                    "the plugin scanner failed on {}: {failure:?}",
                    path.display()
                );
                outcome
                    .findings
                    .push((job, failure.finding(scanner.timeout, Moment::Loading)));
                let rest = &batch[position + 1..];
                if !rest.is_empty() {
                    outcome.again.push(rest.to_vec());
                }
                return Ok(outcome);
            }
        }
    }

    if let Err(failure) = helper.finish() {
        if let Failure::Interrupted = failure {
            return Err(ExamineError::Interrupted);
        }
        tracing::debug!("the plugin scanner failed while exiting: {failure:?}");
        // The files that passed are the suspects; a rejected file is never loaded by the host.
        outcome.findings.retain(|(job, _)| !passed.contains(job));
        if let [job] = passed[..]
            && batch.len() == 1
        {
            outcome
                .findings
                .push((job, failure.finding(scanner.timeout, Moment::Exiting)));
        } else {
            outcome
                .again
                .extend(passed.into_iter().map(|job| vec![job]));
        }
    }
    Ok(outcome)
}

/// When a helper failed.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// While loading a file.
    Loading,
    /// While exiting after it loaded its files.
    Exiting,
}

/// The way a helper failed.
#[derive(Debug)]
enum Failure {
    /// It ended, by a signal or with an exit status; with the end of its stderr.
    Ended { status: ExitStatus, stderr: String },
    /// It sent no report within the timeout and was killed.
    Hung,
    /// It answered with something that is not a report.
    Garbled(String),
    /// A signal interrupted the wait, and the helper was killed.
    Interrupted,
}

impl Failure {
    /// Turns the failure into the finding for the file it is blamed on.
    fn finding(&self, timeout: Duration, moment: Moment) -> Finding {
        let (reason, cacheable) = match (self, moment) {
            (Self::Ended { status, stderr }, Moment::Loading) => describe_end(*status, stderr),
            (Self::Ended { status, stderr }, Moment::Exiting) => {
                let (reason, cacheable) = describe_end(*status, stderr);
                (
                    format!("{reason} (during exit, in a library destructor)"),
                    cacheable,
                )
            }
            (Self::Hung, Moment::Loading) => (
                format!(
                    "hung: loading it did not finish within {timeout:?} (the `scan_timeout` \
                     setting), so the plugin scanner was killed"
                ),
                false,
            ),
            (Self::Hung, Moment::Exiting) => (
                format!(
                    "hung: a library destructor kept the plugin scanner from exiting within \
                     {timeout:?} (the `scan_timeout` setting)"
                ),
                false,
            ),
            (Self::Garbled(line), _) => (
                format!("the plugin scanner sent an unreadable report while loading it: {line}"),
                false,
            ),
            (Self::Interrupted, _) => (
                "a signal interrupted the plugin scanner while it was loading it".to_owned(),
                false,
            ),
        };
        let detail = match self {
            Self::Ended { stderr, .. } if !stderr.trim().is_empty() => Some(format!(
                "the plugin scanner's last output:\n{}",
                stderr.trim_end()
            )),
            _ => None,
        };
        Finding {
            verdict: Verdict::Rejected(RejectedFile { reason, detail }),
            identity: None,
            settings: None,
            cacheable,
            died: matches!(self, Self::Ended { .. }),
        }
    }
}

/// The end of the reason for a file that a helper died on: the helper had loaded it or was
/// running its settings check.
const WHILE_EXAMINING: &str = "while it loaded the file or checked its settings";

/// Describes how a helper ended while it was examining a file, and whether the cause lies in
/// the file.
fn describe_end(status: ExitStatus, stderr: &str) -> (String, bool) {
    if let Some(signal) = status.signal() {
        let name = signal_name(signal).map_or_else(|| format!("signal {signal}"), str::to_owned);
        if is_fault(signal) {
            let reason = format!("crashed the plugin scanner with {name} {WHILE_EXAMINING}");
            return (reason, true);
        }
        // Sent from outside, such as a SIGKILL from the operator or the kernel.
        let reason = format!("the plugin scanner was ended by {name} {WHILE_EXAMINING}");
        return (reason, false);
    }
    let last_line = stderr
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(|line| format!(": {}", truncate(line, 300)))
        .unwrap_or_default();
    let reason = match status.code() {
        Some(code) => {
            format!("made the plugin scanner exit with status {code} {WHILE_EXAMINING}{last_line}")
        }
        None => format!("made the plugin scanner exit {WHILE_EXAMINING}{last_line}"),
    };
    (reason, true)
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Returns whether `signal` is one a process raises on itself through a fault in its own code,
/// as opposed to one sent from outside, such as Ctrl-C's SIGINT or the kernel's SIGKILL when
/// memory runs out.
fn is_fault(signal: i32) -> bool {
    [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGABRT,
        libc::SIGTRAP,
        libc::SIGSYS,
    ]
    .contains(&signal)
}

/// Returns the conventional name of `signal`, such as `SIGSEGV`.
fn signal_name(signal: i32) -> Option<&'static str> {
    let names = [
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGTRAP, "SIGTRAP"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGUSR2, "SIGUSR2"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGXFSZ, "SIGXFSZ"),
        (libc::SIGSYS, "SIGSYS"),
    ];
    names
        .iter()
        .find(|(number, _)| *number == signal)
        .map(|(_, name)| *name)
}

/// One running helper process.
struct Helper {
    child: Child,
    /// The helper's process id, which also names its process group.
    pid: Pid,
    stdin: Option<ChildStdin>,
    /// Lines the helper wrote to its report channel; disconnected once it exited.
    replies: Receiver<String>,
    /// The end of what the helper wrote to stderr.
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Disconnected once the helper's stderr is closed.
    stderr_closed: Receiver<()>,
    /// How long loading one file may take.
    timeout: Duration,
    interrupt: Option<Interrupt>,
    /// Whether the helper has been reaped, after which its process id may name another process.
    reaped: bool,
}

/// The end of a wait for the helper's next report line.
enum Reply {
    Line(String),
    /// The report channel closed: the helper exited.
    Closed,
    TimedOut,
    Interrupted,
}

impl Helper {
    fn start(scanner: &Scanner) -> Result<Self, StartError> {
        let program = &scanner.program;
        let mut child = Command::new(program)
            .arg(SCAN_SUBCOMMAND)
            // Resolve every symbol at load time, so that a library with an unresolvable symbol
            // fails in `dlopen` with a message rather than later with an exit.
            .env("LD_BIND_NOW", "1")
            // A process group of its own, so that killing the group also ends what a plugin's
            // constructor started, and Ctrl-C reaches only the host, which stops the helpers.
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| StartError {
                program: program.to_owned(),
                source,
            })?;
        let pid = Pid::from_child(&child);
        let mut stdin = child.stdin.take();
        let mut preamble =
            serde_json::to_vec(&scanner.settings).expect("settings texts always serialize");
        preamble.push(0);
        if let Some(pipe) = &mut stdin
            && pipe.write_all(&preamble).is_err()
        {
            // The helper has exited already; the first request finds out how.
            stdin = None;
        }
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr_pipe = child.stderr.take().expect("stderr is piped");

        let (reply_sender, replies) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                if reply_sender
                    .send(String::from_utf8_lossy(&line).into_owned())
                    .is_err()
                {
                    break;
                }
            }
        });

        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (closed_sender, stderr_closed) = mpsc::channel::<()>();
        let tail = Arc::clone(&stderr);
        thread::spawn(move || {
            let _closed_when_dropped = closed_sender;
            keep_stderr_tail(stderr_pipe, &tail);
        });

        Ok(Self {
            child,
            pid,
            stdin,
            replies,
            stderr,
            stderr_closed,
            timeout: scanner.timeout,
            interrupt: scanner.interrupt.clone(),
            reaped: false,
        })
    }

    /// Sends one path and waits for its report.
    fn examine(&mut self, path: &Path) -> Result<Report, Failure> {
        let mut request = path.as_os_str().as_bytes().to_vec();
        request.push(0);
        let sent = match &mut self.stdin {
            Some(stdin) => stdin.write_all(&request).and_then(|()| stdin.flush()),
            None => Err(io::Error::from(io::ErrorKind::BrokenPipe)),
        };
        if sent.is_err() {
            // The helper has exited, and its exit status gives the reason.
            return Err(self.wait_for_exit());
        }
        match self.next_reply(deadline_after(Instant::now(), self.timeout)) {
            Reply::Line(line) => serde_json::from_str(&line).map_err(|error| {
                self.kill();
                Failure::Garbled(format!("{error}: {}", truncate(&line, 200)))
            }),
            Reply::TimedOut => {
                self.kill();
                Err(Failure::Hung)
            }
            Reply::Interrupted => {
                self.kill();
                Err(Failure::Interrupted)
            }
            Reply::Closed => Err(self.wait_for_exit()),
        }
    }

    /// Ends the helper's input and waits for it to exit; `Ok` when it exited with success.
    fn finish(mut self) -> Result<(), Failure> {
        drop(self.stdin.take());
        match self.wait_for_exit() {
            Failure::Ended { status, .. } if status.success() => Ok(()),
            failure => Err(failure),
        }
    }

    /// Waits for the next report line until `deadline` (`None` for no limit), checking for
    /// an interrupt meanwhile.
    ///
    /// A helper that exited while a process it started, such as one forked by a plugin's
    /// constructor, keeps the report channel open would never close it: its process group is
    /// killed then, which closes it.
    fn next_reply(&mut self, deadline: Option<Instant>) -> Reply {
        loop {
            if is_triggered(self.interrupt.as_ref()) {
                return Reply::Interrupted;
            }
            let wait = match deadline {
                Some(deadline) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    if remaining.is_zero() {
                        return Reply::TimedOut;
                    }
                    remaining.min(POLL_INTERVAL)
                }
                None => POLL_INTERVAL,
            };
            match self.replies.recv_timeout(wait) {
                Ok(line) => return Reply::Line(line),
                Err(RecvTimeoutError::Disconnected) => return Reply::Closed,
                Err(RecvTimeoutError::Timeout) => {
                    if self.has_exited() {
                        self.kill_group();
                    }
                }
            }
        }
    }

    /// Waits until the helper closes its report channel and exits, and returns how it ended.
    /// A helper that takes longer than the timeout is killed.
    fn wait_for_exit(&mut self) -> Failure {
        let deadline = deadline_after(Instant::now(), self.timeout);
        loop {
            match self.next_reply(deadline) {
                Reply::Line(line) => {
                    tracing::debug!("the plugin scanner sent an unexpected line: {line}");
                }
                Reply::Closed => break,
                Reply::TimedOut => {
                    self.kill();
                    return Failure::Hung;
                }
                Reply::Interrupted => {
                    self.kill();
                    return Failure::Interrupted;
                }
            }
        }
        // A helper closes the channel by exiting, which takes a moment after the close.
        while !self.has_exited() {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                self.kill();
                return Failure::Hung;
            }
            thread::sleep(Duration::from_millis(1));
        }
        // Whatever the helper started ends with it. Its process id, and with it the group's,
        // stays taken until it is reaped below.
        self.kill_group();
        self.reaped = true;
        let status = match self.child.wait() {
            Ok(status) => status,
            Err(error) => {
                tracing::debug!("cannot wait for the plugin scanner: {error}");
                return Failure::Hung;
            }
        };
        // The stderr reader may still be catching up with the last lines.
        let _ = self.stderr_closed.recv_timeout(STDERR_GRACE);
        let stderr = String::from_utf8_lossy(&lock(&self.stderr)).into_owned();
        Failure::Ended { status, stderr }
    }

    /// Returns whether the helper has exited, without reaping it, so that its process id
    /// cannot be reused while its process group is signalled.
    fn has_exited(&self) -> bool {
        matches!(
            rustix::process::waitid(
                WaitId::Pid(self.pid),
                WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG,
            ),
            Ok(Some(_))
        )
    }

    /// Kills every process left in the helper's process group, the helper included. Only
    /// called before the helper is reaped.
    fn kill_group(&self) {
        // An error means that no process is left in the group.
        let _ = rustix::process::kill_process_group(self.pid, Signal::KILL);
    }

    fn kill(&mut self) {
        if self.reaped {
            return;
        }
        self.kill_group();
        // The group kill ended the helper unless it left its group, which it does not do.
        let _ = self.child.kill();
        self.reaped = true;
        let _ = self.child.wait();
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads the helper's stderr to its end, logging each line and keeping the last bytes.
fn keep_stderr_tail(pipe: impl Read, tail: &Mutex<Vec<u8>>) {
    for line in BufReader::new(pipe).split(b'\n') {
        let Ok(line) = line else { break };
        tracing::debug!("plugin scanner: {}", String::from_utf8_lossy(&line));
        let mut tail = lock(tail);
        tail.extend_from_slice(&line);
        tail.push(b'\n');
        if tail.len() > STDERR_TAIL_BYTES {
            let excess = tail.len() - STDERR_TAIL_BYTES;
            tail.drain(..excess);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_signals_are_named_and_cacheable() {
        let status = ExitStatus::from_raw(libc::SIGSEGV);
        let (reason, cacheable) = describe_end(status, "");
        assert_eq!(
            reason,
            "crashed the plugin scanner with SIGSEGV while it loaded the file or checked its settings"
        );
        assert!(cacheable);
    }

    #[test]
    fn interrupt_is_no_crash_and_not_cacheable() {
        let status = ExitStatus::from_raw(libc::SIGINT);
        let (reason, cacheable) = describe_end(status, "");
        assert_eq!(
            reason,
            "the plugin scanner was ended by SIGINT while it loaded the file or checked its settings"
        );
        assert!(!cacheable);
    }

    #[test]
    fn exit_status_carries_last_stderr_line() {
        // A wait status with exit code 127 has the code in its second byte.
        let status = ExitStatus::from_raw(127 << 8);
        let (reason, _) = describe_end(status, "first\nundefined symbol: foo\n\n");
        assert_eq!(
            reason,
            "made the plugin scanner exit with status 127 while it loaded the file or checked its settings: \
             undefined symbol: foo"
        );
    }

    #[test]
    fn hang_is_not_cacheable() {
        let finding = Failure::Hung.finding(Duration::from_secs(2), Moment::Loading);
        assert!(!finding.cacheable);
        let Verdict::Rejected(rejected) = finding.verdict else {
            panic!("a hang rejects the file");
        };
        assert!(rejected.reason.starts_with("hung"), "{}", rejected.reason);
    }

    #[test]
    fn missing_scanner_is_a_start_error() {
        let scanner = Scanner {
            program: PathBuf::from("/nonexistent/configurator"),
            timeout: Duration::from_secs(1),
            interrupt: None,
            settings: ConfiguredSettings::new(),
        };
        let error = examine(&scanner, &[PathBuf::from("/nonexistent/x.so")]).unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/configurator"),
            "{error}"
        );
    }
    /// Writes an executable shell script with `body` to use as the scanner program.
    fn fake_scanner(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let program = dir.join("scanner");
        std::fs::write(&program, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        program
    }

    /// Examines one file with a fake scanner running `body` and a timeout of `timeout_secs`,
    /// and returns the reason the file is rejected.
    fn rejection_by_fake_scanner(dir: &Path, body: &str, timeout_secs: u64) -> String {
        let scanner = Scanner {
            program: fake_scanner(dir, body),
            timeout: Duration::from_secs(timeout_secs),
            interrupt: None,
            settings: ConfiguredSettings::new(),
        };
        let findings = examine(&scanner, &[PathBuf::from("/nonexistent/x.so")]).unwrap();
        match &findings[0].verdict {
            Verdict::Rejected(rejected) => rejected.reason.clone(),
            Verdict::Plugin(_) => panic!("a scanner that exits rejects the file"),
        }
    }

    #[test]
    fn interrupt_stops_a_hanging_scanner() {
        let dir = tempfile::tempdir().unwrap();
        let interrupt = Interrupt::new();
        let scanner = Scanner {
            program: fake_scanner(dir.path(), "exec sleep 600"),
            timeout: Duration::from_secs(300),
            interrupt: Some(interrupt.clone()),
            settings: ConfiguredSettings::new(),
        };
        let trigger = thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            interrupt.trigger();
        });

        let result = examine(&scanner, &[PathBuf::from("/nonexistent/x.so")]);
        trigger.join().unwrap();

        assert!(
            matches!(result, Err(ExamineError::Interrupted)),
            "{result:?}"
        );
    }

    #[test]
    fn forked_process_holding_reports_open_is_ended() {
        let dir = tempfile::tempdir().unwrap();
        // The background process keeps the report channel open after the scanner exits.
        let reason = rejection_by_fake_scanner(dir.path(), "sleep 600 &\nexit 3", 120);

        assert!(
            reason.contains("exit with status 3"),
            "the scanner's exit is reported, not a hang: {reason}"
        );
    }

    #[test]
    fn timeout_beyond_instant_range_is_no_limit() {
        let dir = tempfile::tempdir().unwrap();
        let reason = rejection_by_fake_scanner(dir.path(), "exit 4", u64::MAX);

        assert!(reason.contains("exit with status 4"), "{reason}");
    }
}
