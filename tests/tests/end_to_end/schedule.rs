//! `run`'s scheduling and failure options: `--schedule eager`, `--timeout` and the `timeout`
//! setting, `--fail-fast`, interrupts and `--shuffle`, each checked through its exit status,
//! its recap and the traces of what really ran.
//!
//! Modules that must stay running sleep for ten minutes, far beyond the harness's limit on one
//! invocation, so a host that waited for one fails the test instead of passing slowly.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use configurator_e2e::{Output, Running, Sandbox, Status, TraceRecord};
use serde_json::Value;

use crate::{assert_finished_before, traces};

/// The `sleep_ms` of a module that must outlive the run.
const STUCK_MS: u64 = 600_000;

/// How long a test waits for a module to finish before it sends a signal.
const MODULE_WAIT_LIMIT: Duration = Duration::from_secs(60);

/// Returns the recap line of `module`, failing the test when there is none.
fn recap_line<'a>(output: &'a Output, module: &str) -> &'a str {
    output
        .recap_line(module)
        .unwrap_or_else(|| panic!("no recap line for `{module}`\n{output}"))
}

/// Asserts that the recap line of `module` shows `status`, such as `timed out`.
fn assert_recap_status(output: &Output, module: &str, status: &str) {
    let line = recap_line(output, module);
    let after_name = line.trim_start().strip_prefix(module).unwrap_or(line);
    assert!(
        after_name.trim_start().starts_with(status),
        "`{module}` should be `{status}` in the recap, but its line is {line:?}\n{output}"
    );
}

/// Returns the count of `key` on the totals line, such as `timed_out`.
fn total(output: &Output, key: &str) -> u32 {
    let totals = output
        .stdout
        .lines()
        .find(|line| line.starts_with("changed="))
        .unwrap_or_else(|| panic!("no totals line\n{output}"));
    totals
        .split_whitespace()
        .filter_map(|word| word.split_once('='))
        .find(|(found, _)| *found == key)
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or_else(|| panic!("no `{key}=N` on the totals line {totals:?}\n{output}"))
}

/// Returns the modules in the order their `configure` started, each by its record at `run`
/// (0 for the first run in the sandbox).
fn start_order(sandbox: &Sandbox, modules: &[&str], run: usize) -> Vec<String> {
    let mut starts: Vec<(u128, String)> = modules
        .iter()
        .map(|module| {
            let records = sandbox.traces_of(module);
            let record = records
                .get(run)
                .unwrap_or_else(|| panic!("`{module}` left no trace for run {run}: {records:?}"));
            (record.start_ns, module.to_string())
        })
        .collect();
    starts.sort();
    starts.into_iter().map(|(_, module)| module).collect()
}

/// Waits until `module` has left a trace, that is, has returned from `configure`.
fn wait_for_trace(sandbox: &Sandbox, running: &mut Running, module: &str) -> TraceRecord {
    let started = Instant::now();
    loop {
        if let Some(record) = sandbox.traces_of(module).into_iter().next() {
            return record;
        }
        assert!(
            !running.has_exited(),
            "the run exited before `{module}` finished"
        );
        assert!(
            started.elapsed() < MODULE_WAIT_LIMIT,
            "`{module}` left no trace within {MODULE_WAIT_LIMIT:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `signal` (a name such as `INT`) to the running host with `kill`.
pub(crate) fn send_signal(running: &Running, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(running.id().to_string())
        .status()
        .expect("failed to run kill");
    assert!(status.success(), "kill -{signal} failed: {status}");
}

#[test]
fn eager_dependent_overtakes_slow_module() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "gamma"]);
    // gamma depends only on alpha; beta is a slow module of alpha's level.
    sandbox.write_config(
        r#"
[modules.alpha]
sleep_ms = 50

[modules.beta]
sleep_ms = 3000

[modules.gamma]
sleep_ms = 50
"#,
    );

    let output = sandbox.run(&["--schedule", "eager", "--jobs", "4"]);

    assert_eq!(output.code(), Some(0), "every module succeeds\n{output}");
    let traces = traces(&sandbox, &["alpha", "beta", "gamma"]);
    assert_finished_before(&traces, "alpha", "gamma", "gamma depends on alpha");
    assert!(
        traces["gamma"].start_ns < traces["beta"].end_ns,
        "in eager mode gamma starts once alpha finished, before slow beta ends: {traces:?}"
    );
}

#[test]
fn eager_sequential_module_overlaps_nothing() {
    let modules = ["alpha", "beta", "gamma", "delta", "epsilon", "solo"];
    let sandbox = Sandbox::with_plugins(&modules);
    let settings: String = modules
        .iter()
        .map(|module| format!("[modules.{module}]\nsleep_ms = 150\n\n"))
        .collect();
    sandbox.write_config(&settings);

    let output = sandbox.run(&["--schedule", "eager", "--jobs", "4"]);

    assert_eq!(output.code(), Some(0), "every module succeeds\n{output}");
    let traces = traces(&sandbox, &modules);
    let solo = &traces["solo"];
    for (module, trace) in &traces {
        if module != "solo" {
            assert!(
                !solo.overlaps(trace),
                "force_sequential `solo` ran [{}, {}] ns, overlapping `{module}` at [{}, {}] ns",
                solo.start_ns,
                solo.end_ns,
                trace.start_ns,
                trace.end_ns
            );
        }
    }
    for (dependent, dependency) in [
        ("gamma", "alpha"),
        ("delta", "alpha"),
        ("delta", "beta"),
        ("epsilon", "gamma"),
    ] {
        assert_finished_before(&traces, dependency, dependent, "a dependency runs first");
    }
}

#[test]
fn eager_prefers_longest_recorded_chain() {
    // alpha has the chain alpha -> gamma -> epsilon behind it; beta is alone but slow.
    let modules = ["alpha", "beta", "gamma", "epsilon"];
    let sandbox = Sandbox::with_plugins(&modules);
    sandbox.write_config("[modules.beta]\nsleep_ms = 300\n");
    let arguments = ["--schedule", "eager", "--jobs", "1"];

    let first = sandbox.run(&arguments);
    let second = sandbox.run(&arguments);

    assert_eq!(first.code(), Some(0), "the first run succeeds\n{first}");
    assert_eq!(second.code(), Some(0), "the second run succeeds\n{second}");
    assert_eq!(
        start_order(&sandbox, &modules, 0),
        ["alpha", "gamma", "beta", "epsilon"],
        "without recorded durations each module weighs one unit, so the chain of three wins"
    );
    assert_eq!(
        start_order(&sandbox, &modules, 1)[0],
        "beta",
        "beta's recorded 300 ms outweigh alpha's chain of three quick modules"
    );
    let durations = sandbox.root().join("run/configurator/durations.json");
    let text = std::fs::read_to_string(&durations)
        .unwrap_or_else(|err| panic!("failed to read {}: {err}", durations.display()));
    let recorded: Value = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("invalid JSON in {}: {err}\n{text}", durations.display()));
    for module in modules {
        assert!(
            recorded["seconds"][module].is_number(),
            "the durations file records `{module}`: {text}"
        );
    }
}

#[test]
fn damaged_durations_file_is_ignored() {
    let sandbox = Sandbox::with_plugins(&["alpha", "gamma"]);
    let durations = sandbox.root().join("run/configurator/durations.json");
    std::fs::create_dir_all(durations.parent().unwrap()).unwrap();
    std::fs::write(&durations, "{\"version\": 1, \"seconds\": {\"alpha\": ").unwrap();

    let output = sandbox.run(&["--schedule", "eager"]);

    assert_eq!(
        output.code(),
        Some(0),
        "a damaged state file is no error\n{output}"
    );
    let text = std::fs::read_to_string(&durations).unwrap();
    let recorded: Value = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("the run left invalid JSON: {err}\n{text}"));
    assert!(
        recorded["seconds"]["gamma"].is_number(),
        "the run rewrote the file: {text}"
    );
}

#[test]
fn timeout_abandons_stuck_module() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "gamma", "delta"]);
    // delta depends on alpha and beta; gamma on alpha only.
    sandbox.write_config(&format!("[modules.beta]\nsleep_ms = {STUCK_MS}\n"));

    let output = sandbox.run(&["--timeout", "2", "--jobs", "2"]);

    assert_eq!(
        output.code(),
        Some(1),
        "a timed-out module fails the run\n{output}"
    );
    assert_recap_status(&output, "beta", "timed out");
    assert!(
        recap_line(&output, "beta").contains("abandoned"),
        "the recap says beta's thread was abandoned\n{output}"
    );
    assert_recap_status(&output, "delta", "skipped");
    assert!(
        recap_line(&output, "delta").contains("beta timed out"),
        "delta's recap line names beta and its timeout\n{output}"
    );
    for module in ["alpha", "gamma"] {
        assert_eq!(
            output.recap_status(module),
            Some(Status::Changed),
            "`{module}` does not depend on beta and runs\n{output}"
        );
    }
    assert_eq!(total(&output, "timed_out"), 1, "{output}");
    assert_eq!(total(&output, "skipped"), 1, "{output}");
    assert!(
        sandbox.traces_of("beta").is_empty(),
        "the host exited while beta was still sleeping, so beta never wrote its trace"
    );
}

#[test]
fn module_timeout_comes_from_configuration() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    sandbox.write_config(&format!(
        r#"
[modules.alpha]
sleep_ms = 100
timeout = 60

[modules.beta]
sleep_ms = {STUCK_MS}
timeout = 0.5
"#
    ));

    let output = sandbox.run(&["--schedule", "eager"]);

    assert_eq!(
        output.code(),
        Some(1),
        "a timed-out module fails the run\n{output}"
    );
    assert_recap_status(&output, "beta", "timed out");
    assert!(
        recap_line(&output, "beta").contains("500ms"),
        "the recap names beta's own timeout\n{output}"
    );
    assert_eq!(
        output.recap_status("alpha"),
        Some(Status::Changed),
        "`timeout` is a host setting, so alpha, whose settings reject unknown keys, runs\n{output}"
    );
}

#[test]
fn invalid_timeouts_are_rejected() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);

    for value in ["0", "-1", "\"soon\""] {
        sandbox.write_config(&format!("[modules.alpha]\ntimeout = {value}\n"));
        let output = sandbox.run(&[]);
        assert_eq!(
            output.code(),
            Some(2),
            "timeout = {value} is invalid\n{output}"
        );
        assert!(
            output.stderr.contains("`timeout` in [modules.alpha]"),
            "the error names the key and the table\n{output}"
        );
    }

    sandbox.write_config("");
    for value in ["0", "-3", "soon", "inf"] {
        let output = sandbox.run(&[&format!("--timeout={value}")]);
        assert_eq!(
            output.code(),
            Some(2),
            "--timeout {value} is invalid\n{output}"
        );
        assert!(
            output.stderr.contains("--timeout"),
            "the error names the option\n{output}"
        );
    }
    assert!(
        sandbox.modules_that_ran().is_empty(),
        "nothing runs after an invalid timeout"
    );
}

#[test]
fn fail_fast_reports_not_started() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "gamma", "solo"]);
    sandbox.write_config("[modules.alpha]\nfail = \"alpha failed on purpose\"\n");

    // One thread: alpha, first by name, fails before anything else can start.
    let output = sandbox.run(&["--fail-fast", "--jobs", "1"]);

    assert_eq!(
        output.code(),
        Some(1),
        "a failed module fails the run\n{output}"
    );
    assert_eq!(
        output.recap_status("alpha"),
        Some(Status::Failed),
        "{output}"
    );
    assert_recap_status(&output, "gamma", "skipped");
    for module in ["beta", "solo"] {
        assert_recap_status(&output, module, "not started");
        assert!(
            recap_line(&output, module).contains("--fail-fast"),
            "`{module}`'s recap line says why it did not start\n{output}"
        );
    }
    assert_eq!(total(&output, "not_started"), 2, "{output}");
    assert_eq!(
        sandbox.modules_that_ran(),
        ["alpha"],
        "nothing starts after the failure\n{output}"
    );
}

#[test]
fn keep_going_is_the_default() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "solo"]);
    sandbox.write_config("[modules.alpha]\nfail = \"alpha failed on purpose\"\n");

    let output = sandbox.run(&["--jobs", "1"]);

    assert_eq!(output.code(), Some(1), "{output}");
    for module in ["beta", "solo"] {
        assert_eq!(
            output.recap_status(module),
            Some(Status::Changed),
            "without --fail-fast `{module}` runs after alpha failed\n{output}"
        );
    }
    assert_eq!(total(&output, "not_started"), 0, "{output}");
}

/// Starts a run where beta is stuck beside alpha, waits for alpha to finish, sends `signals`
/// and returns the output. gamma, which depends on alpha, waits in the next batch.
fn interrupted_run(signals: &[&str]) -> (Sandbox, Output) {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "gamma"]);
    sandbox.write_config(&format!("[modules.beta]\nsleep_ms = {STUCK_MS}\n"));
    let mut running = sandbox.spawn_run(&["--jobs", "2"]);

    wait_for_trace(&sandbox, &mut running, "alpha");
    for signal in signals {
        send_signal(&running, signal);
    }
    let output = running.wait();
    (sandbox, output)
}

#[test]
fn interrupt_exits_130_with_recap() {
    let (sandbox, output) = interrupted_run(&["INT"]);

    assert_eq!(
        output.code(),
        Some(130),
        "an interrupted run exits 130\n{output}"
    );
    assert_eq!(
        output.recap_status("alpha"),
        Some(Status::Changed),
        "alpha finished before the signal\n{output}"
    );
    assert_recap_status(&output, "beta", "interrupted");
    assert_recap_status(&output, "gamma", "not started");
    assert_eq!(total(&output, "interrupted"), 1, "{output}");
    assert_eq!(total(&output, "not_started"), 1, "{output}");
    assert!(
        output.stdout.contains("the run was interrupted"),
        "the recap says the run was interrupted\n{output}"
    );
    assert!(sandbox.traces_of("gamma").is_empty(), "gamma never started");
}

#[test]
fn sigterm_interrupts_like_sigint() {
    let (_sandbox, output) = interrupted_run(&["TERM"]);

    assert_eq!(
        output.code(),
        Some(130),
        "SIGTERM interrupts the run\n{output}"
    );
    assert_recap_status(&output, "beta", "interrupted");
    assert_recap_status(&output, "gamma", "not started");
}

#[test]
fn shuffle_seed_is_printed_and_repeats_order() {
    let modules = ["alpha", "beta", "writer-a", "writer-b", "writer-c"];
    let shuffled_run = |arguments: &[&str]| {
        let sandbox = Sandbox::with_plugins(&modules);
        let mut all = vec!["--jobs", "1"];
        all.extend_from_slice(arguments);
        let output = sandbox.run(&all);
        assert_eq!(output.code(), Some(0), "every module succeeds\n{output}");
        let order = start_order(&sandbox, &modules, 0);
        (output, order)
    };

    let (first, first_order) = shuffled_run(&["--shuffle=1234"]);
    let (_, repeated_order) = shuffled_run(&["--shuffle=1234"]);

    assert!(
        first.stderr.contains("shuffle seed: 1234"),
        "the log names the seed\n{first}"
    );
    assert!(
        first.stdout.contains("--shuffle=1234"),
        "the recap says how to repeat the order\n{first}"
    );
    assert_eq!(
        first_order, repeated_order,
        "one seed gives one start order"
    );

    let (random, random_order) = shuffled_run(&["--shuffle"]);
    let seed = random
        .stderr
        .lines()
        .find_map(|line| line.split("shuffle seed: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("a run with --shuffle prints its seed\n{random}"));
    let (_, replayed_order) = shuffled_run(&[&format!("--shuffle={seed}")]);
    assert_eq!(
        random_order, replayed_order,
        "the printed seed repeats the random run's order"
    );
}
