//! The configuration file and the command line: `enabled = false`, invalid TOML, missing
//! directories and files, and invalid invocations.

use configurator_e2e::{Output, Sandbox, Status, Totals};

use crate::path_text;

/// Asserts status 2, the invalid-invocation status, with no module started.
fn assert_invalid_before_running(output: &Output, sandbox: &Sandbox) {
    assert_eq!(
        output.code(),
        Some(2),
        "an invalid invocation or configuration is rejected with status 2\n{output}"
    );
    assert_eq!(
        sandbox.modules_that_ran(),
        Vec::<String>::new(),
        "no module runs after a status-2 rejection\n{output}"
    );
}

#[test]
fn disabled_module_is_left_out() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta", "gamma"]);
    // `enabled = true` on alpha also checks that the host keeps its own key out of the settings
    // it hands the module, whose settings type rejects unknown keys.
    sandbox.write_config(
        r#"
[modules.alpha]
enabled = true

[modules.beta]
enabled = false
"#,
    );

    let output = sandbox.run(&[]);

    assert_eq!(
        output.code(),
        Some(0),
        "the enabled modules succeed, and `enabled` is not passed on as a module setting\n{output}"
    );
    assert_eq!(
        sandbox.modules_that_ran(),
        ["alpha", "gamma"],
        "the disabled module does not run\n{output}"
    );
    assert_eq!(
        output.recap_line("beta"),
        None,
        "the recap leaves out the disabled module\n{output}"
    );
    for module in ["alpha", "gamma"] {
        assert_eq!(
            output.recap_status(module),
            Some(Status::Changed),
            "enabled module `{module}` runs\n{output}"
        );
    }
    let expected = Totals {
        changed: 2,
        unchanged: 0,
        failed: 0,
        skipped: 0,
    };
    assert_eq!(output.totals(), Some(expected), "totals\n{output}");

    let plan = sandbox.plan_json();
    let planned: Vec<&str> = plan["batches"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|batch| batch["modules"].as_array())
        .flatten()
        .filter_map(|name| name.as_str())
        .collect();
    assert!(
        !planned.contains(&"beta"),
        "the plan's batches leave out the disabled module: {plan:#}"
    );
    assert!(
        planned.contains(&"alpha") && planned.contains(&"gamma"),
        "the plan's batches keep the enabled modules: {plan:#}"
    );
}

#[test]
fn invalid_toml_is_rejected_with_line() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    sandbox.write_config("jobs = 2\n\n[modules.alpha]\nsleep_ms = = 5\n");

    let output = sandbox.run(&[]);

    assert_invalid_before_running(&output, &sandbox);
    assert!(
        output.stderr_names(path_text(sandbox.config())),
        "the error names the configuration file {}\n{output}",
        sandbox.config().display()
    );
    assert!(
        output.stderr.contains("line 4") || output.stderr.contains(":4:"),
        "the error gives line 4, where the syntax error is\n{output}"
    );
}

#[test]
fn missing_plugin_directory_is_rejected() {
    let sandbox = Sandbox::empty();
    let missing = sandbox.path().join("no-such-plugins");

    let output = sandbox.invoke(&[
        "run".as_ref(),
        "--plugins".as_ref(),
        missing.as_os_str(),
        "--config".as_ref(),
        sandbox.config().as_os_str(),
        "--root".as_ref(),
        sandbox.root().as_os_str(),
    ]);

    assert_invalid_before_running(&output, &sandbox);
    assert!(
        output.stderr_names(path_text(&missing)),
        "the error names the missing plugin directory {}\n{output}",
        missing.display()
    );
}

#[test]
fn missing_root_is_rejected() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    let missing = sandbox.path().join("no-such-root");

    let output = sandbox.invoke(&[
        "run".as_ref(),
        "--plugins".as_ref(),
        sandbox.plugins().as_os_str(),
        "--config".as_ref(),
        sandbox.config().as_os_str(),
        "--root".as_ref(),
        missing.as_os_str(),
    ]);

    assert_eq!(
        output.code(),
        Some(2),
        "a missing root is rejected with status 2\n{output}"
    );
    assert!(
        output.stderr_names(path_text(&missing)),
        "the error names the missing root {}\n{output}",
        missing.display()
    );
    assert!(
        !missing.exists(),
        "the rejected root {} is not created",
        missing.display()
    );
}

#[test]
fn missing_config_file_is_rejected() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    let missing = sandbox.path().join("no-such-config.toml");

    let output = sandbox.invoke(&[
        "run".as_ref(),
        "--plugins".as_ref(),
        sandbox.plugins().as_os_str(),
        "--config".as_ref(),
        missing.as_os_str(),
        "--root".as_ref(),
        sandbox.root().as_os_str(),
    ]);

    assert_invalid_before_running(&output, &sandbox);
    assert!(
        output.stderr_names(path_text(&missing)),
        "the error names the missing configuration file {}\n{output}",
        missing.display()
    );
}

#[test]
fn unknown_option_is_rejected() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);

    let output = sandbox.run(&["--no-such-option"]);

    assert_invalid_before_running(&output, &sandbox);
    assert!(
        output.stderr_names("--no-such-option"),
        "the error names the unknown option\n{output}"
    );
}

#[test]
fn table_for_unknown_module_is_rejected_with_suggestion() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    sandbox.write_config("[modules.alpah]\nsleep_ms = 1\n");

    let output = sandbox.run(&[]);

    assert_eq!(
        output.code(),
        Some(2),
        "a table for a missing module is an error\n{output}"
    );
    assert!(
        output.stderr.contains("[modules.alpah]"),
        "the error names the table\n{output}"
    );
    assert!(
        output.stderr.contains("did you mean `alpha`"),
        "the error suggests alpha\n{output}"
    );
    assert_eq!(
        sandbox.modules_that_ran(),
        Vec::<String>::new(),
        "nothing ran\n{output}"
    );
}

#[test]
fn lock_dir_setting_lives_under_root() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    sandbox.write_config(
        "lock_dir = \"/var/lock/configurator\"\n\
         [modules.alpha]\nwrite_files = [\"/etc/motd\"]\n",
    );

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(0), "{output}");
    assert!(
        sandbox
            .root()
            .join("var/lock/configurator/etc%2Fmotd.lock")
            .exists(),
        "the sidecar file is under the root's /var/lock/configurator\n{output}"
    );
}

#[test]
fn excessive_jobs_are_rejected() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);

    let output = sandbox.run(&["--jobs", "100000"]);

    assert_eq!(output.code(), Some(2), "{output}");
    assert!(output.stderr.contains("maximum is 1024"), "{output}");
}

#[test]
fn unwritable_report_path_is_rejected_before_running() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    let report = sandbox.path().join("missing-dir/report.json");

    let output = sandbox.run(&["--report", report.to_str().unwrap()]);

    assert_eq!(output.code(), Some(2), "{output}");
    assert!(output.stderr.contains("does not exist"), "{output}");
    assert_eq!(
        sandbox.modules_that_ran(),
        Vec::<String>::new(),
        "nothing ran\n{output}"
    );
}

#[test]
fn misspelled_trust_pin_is_rejected() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    sandbox.write_config(&format!(
        "[trust]\nsha256 = {{ alpah = \"{}\" }}\n",
        "0".repeat(64)
    ));

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(2), "{output}");
    assert!(output.stderr.contains("sha256 pin `alpah`"), "{output}");
    assert!(output.stderr.contains("did you mean `alpha`"), "{output}");
}

#[test]
fn lock_dir_leaving_root_is_rejected() {
    let outside = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    std::fs::create_dir_all(sandbox.root().join("run")).unwrap();
    std::os::unix::fs::symlink(outside.path(), sandbox.root().join("run/configurator")).unwrap();
    sandbox.write_config("[modules.alpha]\nwrite_files = [\"/etc/motd\"]\n");

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(2), "{output}");
    assert!(output.stderr.contains("invalid lock directory"), "{output}");
    let leaked: Vec<_> = std::fs::read_dir(outside.path()).unwrap().collect();
    assert!(
        leaked.is_empty(),
        "nothing was written outside the root: {leaked:?}"
    );
}

#[test]
fn lock_dir_naming_root_is_rejected() {
    for value in ["", "/", "/run/.."] {
        let sandbox = Sandbox::with_plugins(&["alpha"]);
        sandbox.write_config(&format!(
            "lock_dir = {value:?}\n[modules.alpha]\nwrite_files = [\"/etc/motd\"]\n"
        ));

        let output = sandbox.run(&[]);

        assert_invalid_before_running(&output, &sandbox);
        assert!(
            output.stderr.contains(&format!("`lock_dir = {value:?}`")),
            "the error names the setting and its value\n{output}"
        );
        assert!(
            output
                .stderr
                .contains("expected a directory below the root"),
            "{output}"
        );
        assert!(
            !sandbox.path().join("durations.json").exists(),
            "nothing was written beside the root\n{output}"
        );
        let in_root: Vec<_> = std::fs::read_dir(sandbox.root()).unwrap().collect();
        assert!(
            in_root.is_empty(),
            "nothing was written in the root: {in_root:?}"
        );
    }
}

#[test]
fn lock_dir_symlinked_to_root_is_rejected() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    std::os::unix::fs::symlink(".", sandbox.root().join("locks")).unwrap();
    sandbox.write_config("lock_dir = \"/locks\"\n[modules.alpha]\nwrite_files = [\"/etc/motd\"]\n");

    let output = sandbox.run(&[]);

    assert_invalid_before_running(&output, &sandbox);
    assert!(
        output.stderr.contains("resolves to the root"),
        "the error says where the lock directory leads\n{output}"
    );
    assert!(
        !sandbox.path().join("durations.json").exists(),
        "nothing was written beside the root\n{output}"
    );
}

#[test]
fn huge_timeouts_mean_no_limit() {
    let sandbox = Sandbox::with_plugins(&["writer-a", "writer-b"]);
    sandbox.write_config(
        "[modules.writer-a]\ntimeout = 1.8e19\nwrite_files = [\"/etc/shared\"]\n\
         [modules.writer-b]\nwrite_files = [\"/etc/shared\"]\n",
    );

    for arguments in [
        ["--timeout", "9.3e18", "--lock-timeout", "1.8e19"],
        ["--timeout", "1e20", "--lock-timeout", "1e20"],
    ] {
        let output = sandbox.run(&arguments);

        assert_eq!(output.code(), Some(0), "{arguments:?}\n{output}");
        for module in ["writer-a", "writer-b"] {
            assert_eq!(
                output.recap_status(module),
                Some(Status::Changed),
                "{arguments:?}: {module} ran to its end\n{output}"
            );
        }
        assert!(!output.all_text().contains("panicked"), "{output}");
    }
}

#[test]
fn tiny_lock_timeout_is_accepted() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    sandbox.write_config("[modules.alpha]\nwrite_files = [\"/etc/motd\"]\n");

    let output = sandbox.run(&["--lock-timeout", "0.0000000001"]);

    assert_eq!(
        output.code(),
        Some(0),
        "a timeout below one nanosecond rounds up to one, and a free lock needs no wait\n{output}"
    );
}

#[test]
fn invalid_timeout_options_name_option_and_value() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    let cases = [
        ("0", "`0` is zero"),
        ("-1", "`-1` is negative"),
        ("nan", "`nan` is NaN"),
        ("inf", "`inf` is infinite"),
        ("soon", "`soon` is not a number"),
    ];
    for option in ["--timeout", "--lock-timeout"] {
        for (value, reason) in cases {
            // The `=` form keeps `-1` from being read as an option.
            let output = sandbox.run(&[&format!("{option}={value}")]);

            assert_invalid_before_running(&output, &sandbox);
            assert!(
                output.stderr.contains(option),
                "{option} {value}: the error names the option\n{output}"
            );
            assert!(
                output.stderr.contains(&format!("'{value}'")),
                "{option} {value}: the error names the value\n{output}"
            );
            assert!(output.stderr.contains(reason), "{option} {value}\n{output}");
        }
    }
}

#[test]
fn invalid_config_timeout_names_setting_and_value() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    for (text, shown) in [
        (
            "lock_timeout = -1\n",
            "`lock_timeout` is invalid: `-1` is negative",
        ),
        (
            "scan_timeout = 0\n",
            "`scan_timeout` is invalid: `0` is zero",
        ),
        (
            "[modules.alpha]\ntimeout = inf\n",
            "`timeout` in [modules.alpha] is invalid: `inf` is infinite",
        ),
    ] {
        sandbox.write_config(text);

        let output = sandbox.run(&[]);

        assert_invalid_before_running(&output, &sandbox);
        assert!(output.stderr.contains(shown), "{text}\n{output}");
    }
}
