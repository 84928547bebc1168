//! Batch planning and execution order: `plan`, `list`, dependencies, `force_sequential` and
//! `--jobs`, checked both in what `plan` prints and in the traces of what really ran.

use configurator_e2e::{DESCRIPTION, Sandbox, Status, Totals};
use serde_json::Value;

use crate::{assert_finished_before, assert_overlap, traces};

/// Modules on three dependency levels plus one sequential module: alpha, beta and solo on level
/// 0, gamma (alpha) and delta (alpha, beta) on level 1, epsilon (gamma) on level 2.
const LAYERED: [&str; 6] = ["alpha", "beta", "gamma", "delta", "epsilon", "solo"];

/// Reads `plan["batches"]` as (module names, sequential flag) pairs.
fn batches_of(plan: &Value) -> Vec<(Vec<String>, bool)> {
    let batches = plan["batches"]
        .as_array()
        .unwrap_or_else(|| panic!("plan JSON has no `batches` array: {plan}"));
    batches
        .iter()
        .map(|batch| {
            let modules = batch["modules"]
                .as_array()
                .unwrap_or_else(|| panic!("batch without a `modules` array: {batch}"))
                .iter()
                .map(|name| {
                    name.as_str()
                        .unwrap_or_else(|| panic!("module name is not a string: {batch}"))
                        .to_owned()
                })
                .collect();
            let sequential = batch["sequential"]
                .as_bool()
                .unwrap_or_else(|| panic!("batch without a boolean `sequential`: {batch}"));
            (modules, sequential)
        })
        .collect()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| name.to_string()).collect()
}

#[test]
fn plan_json_lists_batches_by_level() {
    let sandbox = Sandbox::with_plugins(&LAYERED);

    let plan = sandbox.plan_json();

    let expected = vec![
        (names(&["alpha", "beta"]), false),
        (names(&["solo"]), true),
        (names(&["delta", "gamma"]), false),
        (names(&["epsilon"]), false),
    ];
    assert_eq!(
        batches_of(&plan),
        expected,
        "each level's parallel batch, sorted by name, then one batch per sequential module\n\
         plan: {plan:#}"
    );
}

#[test]
fn plan_json_describes_each_module() {
    let sandbox = Sandbox::with_plugins(&LAYERED);

    let plan = sandbox.plan_json();

    let modules = plan["modules"]
        .as_array()
        .unwrap_or_else(|| panic!("plan JSON has no `modules` array: {plan:#}"));
    assert_eq!(
        modules.len(),
        LAYERED.len(),
        "one entry per loaded module: {plan:#}"
    );
    let expected: [(&str, &str, &[&str], bool); 6] = [
        ("alpha", "1.0.0", &[], false),
        ("beta", "1.1.0", &[], false),
        ("gamma", "0.3.0", &["alpha"], false),
        ("delta", "0.4.0", &["alpha", "beta"], false),
        ("epsilon", "0.5.0", &["gamma"], false),
        ("solo", "0.6.0", &[], true),
    ];
    for (name, version, depends_on, force_sequential) in expected {
        let entry = modules
            .iter()
            .find(|entry| entry["name"] == name)
            .unwrap_or_else(|| panic!("no entry for `{name}` in the plan's modules: {plan:#}"));

        assert_eq!(
            entry["version"], version,
            "`{name}` reports its plugin crate's version"
        );
        assert_eq!(
            entry["description"], DESCRIPTION,
            "`{name}` reports the test modules' description"
        );
        assert_eq!(
            entry["depends_on"],
            Value::from(depends_on.to_vec()),
            "`{name}` reports its dependencies in declaration order"
        );
        assert_eq!(
            entry["force_sequential"], force_sequential,
            "`{name}` reports its force_sequential flag"
        );
        let path = entry["path"]
            .as_str()
            .unwrap_or_else(|| panic!("`{name}` has no string `path`: {entry}"));
        let expected_path = sandbox.plugins().join(format!("{name}.so"));
        assert_eq!(
            std::fs::canonicalize(path).ok(),
            std::fs::canonicalize(&expected_path).ok(),
            "`{name}` reports the file it was loaded from, {}",
            expected_path.display()
        );
    }
}

#[test]
fn plan_text_names_every_module() {
    let sandbox = Sandbox::with_plugins(&LAYERED);

    let output = sandbox.plan(&[]);

    assert_eq!(output.code(), Some(0), "plan succeeds\n{output}");
    for module in LAYERED {
        assert!(
            !output.lines_naming(module).is_empty(),
            "the text plan names `{module}`\n{output}"
        );
    }
}

#[test]
fn list_shows_names_and_versions() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "solo"]);

    let output = sandbox.list(&[]);

    assert_eq!(output.code(), Some(0), "list succeeds\n{output}");
    for (module, version) in [("alpha", "1.0.0"), ("beta", "1.1.0"), ("solo", "0.6.0")] {
        let lines = output.lines_naming(module);
        assert!(
            lines.iter().any(|line| line.contains(version)),
            "list shows `{module}` with version {version} on one line\n{output}"
        );
    }
}

#[test]
fn run_follows_planned_batches() {
    let sandbox = Sandbox::with_plugins(&LAYERED);
    // beta is the slowest of the first batch, so gamma, which depends only on alpha, shows
    // whether the second level waits for the whole first batch.
    sandbox.write_config(
        r#"
[modules.alpha]
sleep_ms = 200

[modules.beta]
sleep_ms = 400

[modules.gamma]
sleep_ms = 200

[modules.delta]
sleep_ms = 200

[modules.epsilon]
sleep_ms = 50

[modules.solo]
sleep_ms = 50
"#,
    );

    let output = sandbox.run(&["--jobs", "4"]);

    assert_eq!(output.code(), Some(0), "every module succeeds\n{output}");
    let traces = traces(&sandbox, &LAYERED);
    assert_overlap(&traces, "alpha", "beta", "they form one parallel batch");
    assert_finished_before(&traces, "alpha", "solo", "solo's batch follows alpha's");
    assert_finished_before(&traces, "beta", "solo", "solo's batch follows beta's");
    assert_finished_before(&traces, "solo", "gamma", "level 1 follows solo's batch");
    assert_finished_before(&traces, "solo", "delta", "level 1 follows solo's batch");
    assert_finished_before(
        &traces,
        "beta",
        "gamma",
        "a batch starts after the whole previous batch finished",
    );
    assert_overlap(&traces, "delta", "gamma", "they form one parallel batch");
    assert_finished_before(
        &traces,
        "delta",
        "epsilon",
        "a batch starts after the whole previous batch finished",
    );
    assert_finished_before(&traces, "gamma", "epsilon", "epsilon depends on gamma");
}

#[test]
fn dependencies_finish_before_dependents_start() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "gamma", "delta", "epsilon"]);
    sandbox.write_config(
        r#"
[modules.alpha]
sleep_ms = 300

[modules.beta]
sleep_ms = 100

[modules.gamma]
sleep_ms = 200
"#,
    );

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(0), "every module succeeds\n{output}");
    let traces = traces(&sandbox, &["alpha", "beta", "gamma", "delta", "epsilon"]);
    for (dependent, dependencies) in [
        ("gamma", &["alpha"][..]),
        ("delta", &["alpha", "beta"][..]),
        ("epsilon", &["gamma", "alpha"][..]),
    ] {
        for dependency in dependencies {
            assert_finished_before(&traces, dependency, dependent, "a dependency runs first");
        }
    }
}

#[test]
fn sequential_module_overlaps_nothing() {
    let modules = ["alpha", "beta", "gamma", "delta", "solo"];
    let sandbox = Sandbox::with_plugins(&modules);
    let settings: String = modules
        .iter()
        .map(|module| format!("[modules.{module}]\nsleep_ms = 200\n\n"))
        .collect();
    sandbox.write_config(&settings);

    let output = sandbox.run(&["--jobs", "4"]);

    assert_eq!(output.code(), Some(0), "every module succeeds\n{output}");
    let traces = traces(&sandbox, &modules);
    assert_overlap(
        &traces,
        "alpha",
        "beta",
        "without parallel runs, solo's isolation would prove nothing",
    );
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
}

#[test]
fn independent_slow_modules_overlap() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    sandbox.write_config(
        r#"
[modules.alpha]
sleep_ms = 400

[modules.beta]
sleep_ms = 400
"#,
    );

    let output = sandbox.run(&["--jobs", "2"]);

    assert_eq!(output.code(), Some(0), "both modules succeed\n{output}");
    let traces = traces(&sandbox, &["alpha", "beta"]);
    assert_overlap(
        &traces,
        "alpha",
        "beta",
        "--jobs 2 runs a batch of two in parallel",
    );
    assert_ne!(
        traces["alpha"].tid, traces["beta"].tid,
        "parallel modules run on different threads: {traces:?}"
    );
}

#[test]
fn jobs_one_runs_modules_one_at_a_time() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "writer-a"]);
    sandbox.write_config(
        r#"
[modules.alpha]
sleep_ms = 150

[modules.beta]
sleep_ms = 150

[modules.writer-a]
sleep_ms = 150
"#,
    );

    let output = sandbox.run(&["--jobs", "1"]);

    assert_eq!(output.code(), Some(0), "every module succeeds\n{output}");
    let traces = traces(&sandbox, &["alpha", "beta", "writer-a"]);
    for (first, second) in [
        ("alpha", "beta"),
        ("alpha", "writer-a"),
        ("beta", "writer-a"),
    ] {
        assert!(
            !traces[first].overlaps(&traces[second]),
            "with --jobs 1, `{first}` and `{second}` must not overlap: {traces:?}"
        );
    }
}

#[test]
fn jobs_setting_limits_parallelism() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    sandbox.write_config(
        r#"
jobs = 1

[modules.alpha]
sleep_ms = 200

[modules.beta]
sleep_ms = 200
"#,
    );

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(0), "both modules succeed\n{output}");
    let traces = traces(&sandbox, &["alpha", "beta"]);
    assert!(
        !traces["alpha"].overlaps(&traces["beta"]),
        "`jobs = 1` in the configuration file must keep alpha and beta apart: {traces:?}"
    );
}

#[test]
fn recap_reports_each_status_and_totals() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    sandbox.write_config(
        r#"
[modules.beta]
changed = false
"#,
    );

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(0), "both modules succeed\n{output}");
    assert_eq!(
        output.recap_status("alpha"),
        Some(Status::Changed),
        "alpha reports a change\n{output}"
    );
    assert_eq!(
        output.recap_status("beta"),
        Some(Status::Unchanged),
        "beta reports no change\n{output}"
    );
    let expected = Totals {
        changed: 1,
        unchanged: 1,
        failed: 0,
        skipped: 0,
    };
    assert_eq!(
        output.totals(),
        Some(expected),
        "totals count one change and one no-change\n{output}"
    );
}
