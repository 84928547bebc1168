//! What operators install around the binary: shell completions, man pages, `config show`, and
//! the example systemd units in `dist/systemd/`, whose command line must be one the binary
//! accepts.

use std::fs;
use std::path::Path;

use configurator_e2e::Sandbox;

use crate::path_text;

#[test]
fn bash_completion_names_run_and_plugins() {
    let sandbox = Sandbox::empty();

    let output = sandbox.invoke(&["completions", "bash"]);

    assert_eq!(output.code(), Some(0), "{output}");
    assert!(output.stdout.contains("run"), "{output}");
    assert!(output.stdout.contains("--plugins"), "{output}");
    assert!(
        !output.stdout.contains("__scan"),
        "the hidden scanner command is not offered\n{output}"
    );
}

#[test]
fn completions_for_unknown_shell_is_invalid() {
    let sandbox = Sandbox::empty();

    let output = sandbox.invoke(&["completions", "tcsh"]);

    assert_eq!(output.code(), Some(2), "{output}");
    assert!(output.stderr.contains("tcsh"), "{output}");
}

#[test]
fn man_page_is_roff_with_exit_statuses() {
    let sandbox = Sandbox::empty();

    let main = sandbox.invoke(&["man"]);
    let run = sandbox.invoke(&["man", "run"]);

    assert_eq!(main.code(), Some(0), "{main}");
    assert!(main.stdout.contains(".TH configurator 1"), "{main}");
    assert!(main.stdout.contains(".SH \"EXIT STATUS\""), "{main}");
    assert_eq!(run.code(), Some(0), "{run}");
    assert!(run.stdout.contains(".TH configurator-run 1"), "{run}");
}

#[test]
fn config_show_prints_effective_configuration() {
    let sandbox = Sandbox::empty();
    sandbox.write_config("lock_timeout = 5\n\n[modules.alpha]\ntimeout = 2.5\ncolor = \"red\"\n");
    let config = path_text(sandbox.config());
    let plugins = path_text(sandbox.plugins());

    let output = sandbox.invoke(&["config", "show", "--config", config, "--plugins", plugins]);

    assert_eq!(output.code(), Some(0), "{output}");
    let shown: toml::Table = toml::from_str(&output.stdout)
        .unwrap_or_else(|err| panic!("config show printed invalid TOML: {err}\n{output}"));
    let alpha = &shown["modules"]["alpha"];
    assert!(
        output.stdout.starts_with("# The effective configuration: "),
        "{output}"
    );
    assert_eq!(shown["plugin_dir"].as_str(), Some(plugins), "{output}");
    assert_eq!(
        shown["lock_dir"].as_str(),
        Some("/run/configurator/locks"),
        "{output}"
    );
    assert!(
        shown["jobs"].as_integer().is_some_and(|jobs| jobs > 0),
        "the default worker count is shown\n{output}"
    );
    assert_eq!(shown["lock_timeout"].as_integer(), Some(5), "{output}");
    assert_eq!(alpha["enabled"].as_bool(), Some(true), "{output}");
    assert_eq!(alpha["timeout"].as_float(), Some(2.5), "{output}");
    assert_eq!(alpha["color"].as_str(), Some("red"), "{output}");
}

#[test]
fn config_show_rejects_invalid_file() {
    let sandbox = Sandbox::empty();
    sandbox.write_config("jobs = \"many\"\n");

    let output = sandbox.invoke(&["config", "show", "--config", path_text(sandbox.config())]);

    assert_eq!(output.code(), Some(2), "{output}");
    assert!(
        output.stderr.contains(path_text(sandbox.config())),
        "{output}"
    );
}

#[test]
fn systemd_service_uses_accepted_options() {
    let sandbox = Sandbox::empty();
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/systemd");
    let service = fs::read_to_string(units.join("configurator.service")).unwrap();
    let timer = fs::read_to_string(units.join("configurator.timer")).unwrap();
    let exec_start = service
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .expect("the service has an ExecStart line");

    let help = sandbox.invoke(&["run", "--help"]);

    assert!(service.contains("\nType=oneshot\n"), "{service}");
    assert!(timer.contains("\nUnit=configurator.service\n"), "{timer}");
    let mut words = exec_start.split_whitespace();
    assert_eq!(words.next(), Some("/usr/bin/configurator"), "{exec_start}");
    assert_eq!(words.next(), Some("run"), "{exec_start}");
    for option in words.filter(|word| word.starts_with("--")) {
        let name = option.split('=').next().unwrap_or(option);
        assert!(
            help.stdout.contains(name),
            "`configurator run` has no option {name}, which the service uses\n{help}"
        );
    }
}

#[test]
fn man_page_of_quoted_command() {
    let sandbox = Sandbox::empty();

    let quoted = sandbox.invoke(&["man", "config show"]);
    let words = sandbox.invoke(&["man", "config", "show"]);

    assert_eq!(quoted.code(), Some(0), "{quoted}");
    assert!(
        quoted.stdout.contains(".TH configurator-config-show 1"),
        "{quoted}"
    );
    assert_eq!(quoted.stdout, words.stdout, "both spellings print one page");
}

#[test]
fn man_page_of_unknown_command_lists_commands() {
    let sandbox = Sandbox::empty();

    let output = sandbox.invoke(&["man", "runn"]);

    assert_eq!(output.code(), Some(2), "{output}");
    assert!(
        output
            .stderr
            .contains("no man page for `runn`: the commands of `configurator` are run,"),
        "{output}"
    );
}

#[test]
fn config_show_gives_default_lock_timeout() {
    let sandbox = Sandbox::empty();
    sandbox.write_config("jobs = 2\n");

    let output = sandbox.invoke(&["config", "show", "--config", path_text(sandbox.config())]);

    assert_eq!(output.code(), Some(0), "{output}");
    let shown: toml::Table = toml::from_str(&output.stdout)
        .unwrap_or_else(|err| panic!("config show printed invalid TOML: {err}\n{output}"));
    assert_eq!(
        shown["lock_timeout"].as_integer(),
        Some(600),
        "the lock timeout a run uses without one set\n{output}"
    );
    assert!(!output.stdout.contains("waits without a limit"), "{output}");
}
