//! Module failures during a run: a failed or panicking module fails alone, its dependents are
//! skipped naming it, independent modules still run, and the run exits with status 1.

use configurator_e2e::{Output, Sandbox, Status, Totals, contains_word};

/// Asserts that `module` is skipped in the recap and that an output line names both it and the
/// failed module it waited for.
fn assert_skipped_naming(output: &Output, module: &str, failed: &str) {
    assert_eq!(
        output.recap_status(module),
        Some(Status::Skipped),
        "`{module}` depends on failed `{failed}` and is skipped\n{output}"
    );
    let naming_failed: Vec<&str> = output
        .lines_naming(module)
        .into_iter()
        .filter(|line| contains_word(line, failed))
        .collect();
    assert!(
        !naming_failed.is_empty(),
        "a line about skipped `{module}` names the failed dependency `{failed}`\n{output}"
    );
}

#[test]
fn panicking_module_fails_alone() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "gamma", "delta", "epsilon", "solo"]);
    sandbox.write_config(
        r#"
[modules.alpha]
panic = "alpha exploded on purpose"
"#,
    );

    let output = sandbox.run(&["--jobs", "2"]);

    assert_eq!(
        output.code(),
        Some(1),
        "a panicking module fails the run with status 1, and the host survives it\n{output}"
    );
    assert!(
        output.all_text().contains("alpha exploded on purpose"),
        "the output carries the panic message\n{output}"
    );
    assert_eq!(
        output.recap_status("alpha"),
        Some(Status::Failed),
        "the panicking module is failed\n{output}"
    );
    assert_skipped_naming(&output, "gamma", "alpha");
    assert_skipped_naming(&output, "delta", "alpha");
    // epsilon depends on alpha only through gamma, which was skipped rather than failed.
    assert_skipped_naming(&output, "epsilon", "alpha");
    for module in ["beta", "solo"] {
        assert_eq!(
            output.recap_status(module),
            Some(Status::Changed),
            "`{module}` does not depend on alpha and still runs\n{output}"
        );
    }
    let expected = Totals {
        changed: 2,
        unchanged: 0,
        failed: 1,
        skipped: 3,
    };
    assert_eq!(output.totals(), Some(expected), "totals\n{output}");
    assert_eq!(
        sandbox.modules_that_ran(),
        ["alpha", "beta", "solo"],
        "skipped modules never start\n{output}"
    );
}

#[test]
fn failing_module_reports_its_error() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "gamma", "delta"]);
    sandbox.write_config(
        r#"
[modules.beta]
fail = "beta could not write its file"
"#,
    );

    let output = sandbox.run(&[]);

    assert_eq!(
        output.code(),
        Some(1),
        "a failed module fails the run with status 1\n{output}"
    );
    assert!(
        output.stderr.contains("beta could not write its file"),
        "the module's error message goes to stderr\n{output}"
    );
    assert_eq!(
        output.recap_status("beta"),
        Some(Status::Failed),
        "the module that returned an error is failed\n{output}"
    );
    assert_skipped_naming(&output, "delta", "beta");
    for module in ["alpha", "gamma"] {
        assert_eq!(
            output.recap_status(module),
            Some(Status::Changed),
            "`{module}` does not depend on beta and still runs\n{output}"
        );
    }
    let expected = Totals {
        changed: 2,
        unchanged: 0,
        failed: 1,
        skipped: 1,
    };
    assert_eq!(output.totals(), Some(expected), "totals\n{output}");
}
