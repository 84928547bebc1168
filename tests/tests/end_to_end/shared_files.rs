//! Shared files under host-mediated locks, through the real binary: lock-order deadlocks end
//! at once with every module and file named, lock waits can be bounded, and `--audit` reports
//! undeclared dependencies and unlocked concurrent writes.

use std::time::{Duration, Instant};

use configurator_e2e::{Sandbox, Status};
use serde_json::Value;

/// A generous bound on a run that must not hang; a hang fails the test instead of passing late.
const NO_HANG: Duration = Duration::from_secs(60);

#[test]
fn two_module_lock_inversion_reports_deadlock() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    sandbox.write_config(
        "[modules.alpha]\nlock_sequence = [\"/etc/x\", \"/etc/y\"]\nlock_step_ms = 300\n\
         [modules.beta]\nlock_sequence = [\"/etc/y\", \"/etc/x\"]\nlock_step_ms = 300\n",
    );
    let started = Instant::now();

    let output = sandbox.run(&["--jobs", "2"]);

    assert!(started.elapsed() < NO_HANG, "the run ended\n{output}");
    assert_eq!(
        output.code(),
        Some(1),
        "one module fails with the deadlock\n{output}"
    );
    let failed: Vec<&str> = ["alpha", "beta"]
        .into_iter()
        .filter(|module| output.recap_status(module) == Some(Status::Failed))
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "exactly the module closing the cycle fails\n{output}"
    );
    let text = output.all_text();
    assert!(
        text.contains("deadlock"),
        "the error says deadlock\n{output}"
    );
    for name in ["`alpha`", "`beta`", "/etc/x", "/etc/y"] {
        assert!(text.contains(name), "the error names {name}\n{output}");
    }
}

#[test]
fn three_module_lock_cycle_reports_deadlock() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "writer-a"]);
    sandbox.write_config(
        "[modules.alpha]\nlock_sequence = [\"/p0\", \"/p1\"]\nlock_step_ms = 400\n\
         [modules.beta]\nlock_sequence = [\"/p1\", \"/p2\"]\nlock_step_ms = 400\n\
         [modules.writer-a]\nlock_sequence = [\"/p2\", \"/p0\"]\nlock_step_ms = 400\n",
    );

    let output = sandbox.run(&["--jobs", "3"]);

    assert_eq!(
        output.code(),
        Some(1),
        "one module fails with the deadlock\n{output}"
    );
    let text = output.all_text();
    for name in ["`alpha`", "`beta`", "`writer-a`", "/p0", "/p1", "/p2"] {
        assert!(
            text.contains(name),
            "the deadlock error names {name}\n{output}"
        );
    }
}

#[test]
fn lock_timeout_names_the_holder() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    sandbox.write_config(
        "lock_timeout = 0.2\n\
         [modules.alpha]\nlock_sequence = [\"/etc/x\", \"/etc/hold\"]\nlock_step_ms = 2000\n\
         [modules.beta]\nsleep_ms = 300\nlock_sequence = [\"/etc/x\"]\n",
    );

    let output = sandbox.run(&["--jobs", "2"]);

    assert_eq!(output.code(), Some(1), "{output}");
    assert_eq!(
        output.recap_status("beta"),
        Some(Status::Failed),
        "{output}"
    );
    let text = output.all_text();
    assert!(text.contains("timed out"), "{output}");
    assert!(
        text.contains("held by module `alpha`"),
        "the error names the holder\n{output}"
    );
}

/// Runs the sandbox with `--audit --format json` and returns the findings.
fn audit_findings(sandbox: &Sandbox) -> Vec<Value> {
    let output = sandbox.run(&["--audit", "--format", "json"]);
    let document: Value = serde_json::from_str(&output.stdout)
        .unwrap_or_else(|err| panic!("run --format json prints JSON: {err}\n{output}"));
    document["audit"]["findings"]
        .as_array()
        .unwrap_or_else(|| panic!("the document has audit findings\n{output}"))
        .clone()
}

#[test]
fn audit_finds_undeclared_dependency() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    sandbox.write_config(
        "[modules.alpha]\nwrite_files = [\"/etc/system_config\"]\n\
         [modules.beta]\nsleep_ms = 200\nread_files = [\"/etc/system_config\"]\n",
    );

    let findings = audit_findings(&sandbox);

    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["kind"], "undeclared_dependency");
    assert_eq!(findings[0]["reader"], "beta");
    assert_eq!(findings[0]["writer"], "alpha");
    assert_eq!(findings[0]["path"], "/etc/system_config");
    assert_eq!(
        findings[0]["suggestion"],
        "add \"alpha\" to the depends_on of `beta`"
    );

    let text = sandbox.run(&["--audit"]);
    assert!(
        text.stdout
            .contains("add \"alpha\" to the depends_on of `beta`"),
        "the text report gives the fix\n{text}"
    );
}

#[test]
fn audit_accepts_declared_dependency() {
    // gamma depends on alpha, so its read of alpha's file is ordered.
    let sandbox = Sandbox::with_plugins(&["alpha", "gamma"]);
    sandbox.write_config(
        "[modules.alpha]\nwrite_files = [\"/etc/system_config\"]\n\
         [modules.gamma]\nread_files = [\"/etc/system_config\"]\n",
    );

    assert_eq!(audit_findings(&sandbox), Vec::<Value>::new());
}

#[test]
fn audit_finds_unlocked_concurrent_write() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    sandbox.write_config(
        "[modules.alpha]\nwrite_files = [\"/etc/group\"]\n\
         [modules.beta]\nwrite_unlocked = [\"/etc/group\"]\n",
    );

    let findings = audit_findings(&sandbox);

    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["kind"], "unlocked_concurrent_write");
    assert_eq!(findings[0]["unlocked"], serde_json::json!(["beta"]));
    assert_eq!(findings[0]["path"], "/etc/group");
    let suggestion = findings[0]["suggestion"].as_str().unwrap();
    assert!(
        suggestion.contains("file_lock(\"/etc/group\")"),
        "{suggestion}"
    );
}

#[test]
fn audit_of_bundled_modules_finds_nothing() {
    let sandbox = Sandbox::with_bundled_modules();
    let etc = sandbox.root().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("hosts"), "127.0.0.1\tlocalhost\n").unwrap();
    std::fs::write(etc.join("group"), "root:x:0:\nusers:x:100:\n").unwrap();
    std::fs::write(etc.join("passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();

    for schedule in ["batches", "eager"] {
        let output = sandbox.run(&["--audit", "--format", "json", "--schedule", schedule]);
        let document: Value = serde_json::from_str(&output.stdout)
            .unwrap_or_else(|err| panic!("JSON expected: {err}\n{output}"));
        assert_eq!(
            document["audit"]["findings"],
            serde_json::json!([]),
            "the bundled modules follow the rules ({schedule})\n{output}"
        );
        assert!(
            document["audit"]["accesses"].as_u64().unwrap() > 0,
            "the bundled modules' accesses were recorded ({schedule})\n{output}"
        );
    }
}
