//! Settings checked before anything runs: every module's table is deserialized into the
//! settings type its plugin declared, and every mistake is listed with its line in the
//! configuration file. The run exits with status 2 and changes nothing under the root.
//!
//! The test plugins declare `TestSettings`, whose keys are all optional. The bundled `users`
//! module declares an array of `[[modules.users.user]]` tables with a required `name`, which
//! covers mistakes inside an array of tables and missing keys.

use std::fs;
use std::path::Path;

use configurator_e2e::{Output, Sandbox};

use crate::path_text;

/// Lists every entry under `dir`, as paths below it.
fn entries_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).expect("failed to list the root") {
            let path = entry.expect("failed to list the root").path();
            found.push(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                pending.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Asserts status 2, no module started and nothing created under the root.
fn assert_rejected_before_running(output: &Output, sandbox: &Sandbox) {
    assert_eq!(
        output.code(),
        Some(2),
        "invalid settings are rejected with status 2\n{output}"
    );
    assert_eq!(
        sandbox.modules_that_ran(),
        Vec::<String>::new(),
        "no module runs, so none leaves a trace\n{output}"
    );
    assert_eq!(
        entries_under(sandbox.root()),
        Vec::<String>::new(),
        "nothing is created under the root\n{output}"
    );
}

/// Returns the stderr line that reports a mistake at `line` of the sandbox's configuration
/// file, failing when there is none.
fn problem_line<'a>(output: &'a Output, sandbox: &Sandbox, line: usize) -> &'a str {
    let prefix = format!("{}:{line}: ", path_text(sandbox.config()));
    output
        .stderr
        .lines()
        .find(|text| text.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no problem reported at `{prefix}`\n{output}"))
}

#[test]
fn wrong_type_reported_with_line() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    sandbox.write_config("jobs = 2\n\n[modules.alpha]\nsleep_ms = \"long\"\n");

    let output = sandbox.run(&[]);

    assert_rejected_before_running(&output, &sandbox);
    let problem = problem_line(&output, &sandbox, 4);
    assert!(
        problem.contains("[modules.alpha] sleep_ms: invalid type: string \"long\""),
        "the problem names the module, the key and what was found\n{output}"
    );
    assert!(
        problem.contains("expected u64"),
        "the problem names the expected type\n{output}"
    );
}

#[test]
fn unknown_key_reported_with_line() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "gamma"]);
    sandbox.write_config("[modules.alpha]\nsleep_ms = 1\nno_such_setting = 1\n");

    let output = sandbox.run(&[]);

    assert_rejected_before_running(&output, &sandbox);
    let problem = problem_line(&output, &sandbox, 3);
    assert!(
        problem.contains("[modules.alpha] no_such_setting: unknown field `no_such_setting`"),
        "the problem names the unknown key\n{output}"
    );
}

#[test]
fn missing_required_key_reported_with_line() {
    let sandbox = Sandbox::with_bundled_modules();
    sandbox.write_config(
        "[[modules.users.user]]\nname = \"alice\"\n\n[[modules.users.user]]\nuid = 1001\n",
    );

    let output = sandbox.run(&[]);

    assert_rejected_before_running(&output, &sandbox);
    let problem = problem_line(&output, &sandbox, 4);
    assert!(
        problem.contains("[modules.users] user[1]: missing field `name`"),
        "the problem names the table that lacks the key, at its header\n{output}"
    );
}

#[test]
fn wrong_type_in_array_of_tables() {
    let sandbox = Sandbox::with_bundled_modules();
    sandbox.write_config(
        "[[modules.users.user]]\nname = \"alice\"\n\n\
         [[modules.users.user]]\nname = \"bob\"\n\n\
         [[modules.users.user]]\nname = \"carol\"\nuid = \"many\"\n",
    );

    let output = sandbox.run(&[]);

    assert_rejected_before_running(&output, &sandbox);
    let problem = problem_line(&output, &sandbox, 9);
    assert!(
        problem.contains("[modules.users] user[2].uid: invalid type: string \"many\""),
        "the problem names the element and the key\n{output}"
    );
    assert!(
        problem.contains("expected u32"),
        "the problem names the expected type\n{output}"
    );
}

#[test]
fn problems_of_two_modules_listed_together() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "gamma"]);
    sandbox
        .write_config("[modules.alpha]\nchanged = \"yes\"\n\n[modules.beta]\nappend_lines = -1\n");

    let output = sandbox.run(&[]);

    assert_rejected_before_running(&output, &sandbox);
    let alpha = problem_line(&output, &sandbox, 2);
    assert!(
        alpha.contains("[modules.alpha] changed: invalid type"),
        "alpha's mistake is listed\n{output}"
    );
    let beta = problem_line(&output, &sandbox, 5);
    assert!(
        beta.contains("[modules.beta] append_lines: invalid value"),
        "beta's mistake is listed with alpha's\n{output}"
    );
    assert!(
        output.stderr.contains("2 invalid module setting(s)"),
        "the error counts both mistakes\n{output}"
    );
}

#[test]
fn plan_reports_settings_problems() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    sandbox.write_config("[modules.alpha]\nsleep_ms = true\n");

    let output = sandbox.plan(&[]);

    assert_rejected_before_running(&output, &sandbox);
    let problem = problem_line(&output, &sandbox, 2);
    assert!(
        problem.contains("[modules.alpha] sleep_ms: invalid type: boolean `true`"),
        "plan reports the mistake like run\n{output}"
    );
}

#[test]
fn settings_of_disabled_module_not_checked() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    sandbox.write_config("[modules.alpha]\nenabled = false\nsleep_ms = \"long\"\n");

    let output = sandbox.run(&[]);

    assert_eq!(
        output.code(),
        Some(0),
        "a module that does not run is not held to its settings type\n{output}"
    );
    assert_eq!(sandbox.modules_that_ran(), ["beta"], "beta runs\n{output}");
}

#[test]
fn valid_settings_run() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    sandbox.write_config("[modules.alpha]\nsleep_ms = 1\nchanged = false\n");

    let output = sandbox.run(&[]);

    assert_eq!(
        output.code(),
        Some(0),
        "valid settings pass the check\n{output}"
    );
    assert_eq!(
        sandbox.modules_that_ran(),
        ["alpha", "beta"],
        "every module runs\n{output}"
    );
}
