//! `--log-format json`: every line on stderr is one JSON object, and a module's own messages
//! carry its name in the `module` field.

use configurator_e2e::Sandbox;
use serde_json::Value;

#[test]
fn json_logs_carry_module_field() {
    let sandbox = Sandbox::with_bundled_modules();
    sandbox.write_config("[modules.motd]\nbanner = \"Managed by Configurator\"\n");

    let output = sandbox.run(&["--only", "motd", "--log-format", "json"]);

    assert_eq!(output.code(), Some(0), "{output}");
    let lines: Vec<Value> = output
        .stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("stderr line is not JSON ({err}): {line}\n{output}"))
        })
        .collect();
    assert!(!lines.is_empty(), "the run logs at info level\n{output}");
    for line in &lines {
        assert!(line["level"].is_string(), "each line has a level: {line}");
        assert!(
            line["timestamp"].is_string(),
            "each line has a timestamp: {line}"
        );
    }
    let module_line = lines
        .iter()
        .find(|line| line["fields"]["message"] == "wrote /etc/motd")
        .unwrap_or_else(|| panic!("motd's own message is missing\n{output}"));
    assert_eq!(module_line["fields"]["module"], "motd", "{module_line}");
}

#[test]
fn text_logs_prefix_module_name() {
    let sandbox = Sandbox::with_bundled_modules();
    sandbox.write_config("[modules.motd]\nbanner = \"Managed by Configurator\"\n");

    let output = sandbox.run(&["--only", "motd"]);

    assert_eq!(output.code(), Some(0), "{output}");
    assert!(
        output.stderr.contains("[motd] wrote /etc/motd"),
        "text logs prefix a module's messages with its name\n{output}"
    );
}

#[test]
fn captured_stderr_has_no_progress_bar() {
    let sandbox = Sandbox::with_plugins(&["alpha", "gamma"]);
    sandbox.write_config("[modules.alpha]\nsleep_ms = 300\n");

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(0), "{output}");
    assert!(
        !output.stderr.contains('\u{1b}'),
        "stderr is no terminal, so it carries no escape sequences\n{output}"
    );
    assert!(
        !output.stderr.contains('\r'),
        "stderr is no terminal, so no line is redrawn\n{output}"
    );
    assert!(
        output.stderr.contains("batch 2/2 (parallel): gamma"),
        "the info log lines follow the run instead\n{output}"
    );
}

#[test]
fn quiet_run_logs_nothing() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);

    let output = sandbox.run(&["--quiet"]);

    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(
        output.stderr, "",
        "--quiet shows no progress and no info lines"
    );
}
