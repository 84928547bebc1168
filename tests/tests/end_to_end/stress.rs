//! Stress tests of shared files: many modules and a second process appending under
//! `file_lock`, and runs killed with SIGKILL in the middle of atomic writes.

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;
use std::thread;
use std::time::Duration;

use configurator_e2e::{Sandbox, artifacts};
use configurator_testkit::REWRITE_LINES;

/// Modules per process in the append stress test.
const MODULES: usize = 32;
/// Lines each module appends.
const LINES: usize = 1000;
/// Rounds of the append stress test; each is a fresh root.
const APPEND_ROUNDS: usize = 3;
/// Runs killed in the middle of atomic writes.
const KILL_ROUNDS: u64 = 10;
/// Runs killed in the middle of atomic writes while counting the temporary files left.
const LEFTOVER_ROUNDS: u64 = 6;

/// Fills `sandbox` with `MODULES` copies of the named-by-file plugin called `<prefix>-NN`, each
/// appending `LINES` lines to `/shared.log` under `utils::file_lock`.
fn add_appending_modules(sandbox: &Sandbox, prefix: &str) -> Vec<String> {
    let mut config = String::new();
    let mut names = Vec::new();
    for index in 0..MODULES {
        let name = format!("{prefix}-{index:02}");
        sandbox.add_plugin_file(&format!("{name}.so"), artifacts().plugin("named-by-file"));
        config.push_str(&format!(
            "[modules.{name}]\nappend_file = \"/shared.log\"\nappend_lines = {LINES}\n\
             append_with = \"utils\"\n"
        ));
        names.push(name);
    }
    sandbox.write_config(&config);
    names
}

#[test]
fn concurrent_appends_from_two_processes_keep_every_line() {
    for round in 0..APPEND_ROUNDS {
        let first = Sandbox::empty();
        let second = Sandbox::empty();
        let mut names = add_appending_modules(&first, "stress");
        names.extend(add_appending_modules(&second, "other"));

        let first_run = first.spawn_run(&["--jobs", "8"]);
        let second_run = second.spawn_run_on(first.root(), &["--jobs", "8"]);
        let first_output = first_run.wait();
        let second_output = second_run.wait();

        assert_eq!(
            first_output.code(),
            Some(0),
            "round {round}\n{first_output}"
        );
        assert_eq!(
            second_output.code(),
            Some(0),
            "round {round}\n{second_output}"
        );
        let text = fs::read_to_string(first.root().join("shared.log")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let distinct: BTreeSet<&str> = lines.iter().copied().collect();
        let expected: BTreeSet<String> = names
            .iter()
            .flat_map(|name| (0..LINES).map(move |index| format!("{name} {index}")))
            .collect();
        assert_eq!(
            lines.len(),
            expected.len(),
            "round {round}: no line lost or doubled"
        );
        assert_eq!(
            distinct.len(),
            lines.len(),
            "round {round}: every line is there once"
        );
        let expected: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
        assert_eq!(distinct, expected, "round {round}: no line is torn");
    }
}

#[test]
fn killed_run_leaves_one_complete_version() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    sandbox.write_config(
        "[modules.alpha]\nrewrite_file = \"/etc/versioned\"\nrewrite_versions = 100000\n",
    );
    let target = sandbox.root().join("etc/versioned");

    for round in 0..KILL_ROUNDS {
        let running = sandbox.spawn_run(&[]);
        // Kill at a different moment each round, once some versions were written.
        thread::sleep(Duration::from_millis(150 + round * 37));
        let status = Command::new("kill")
            .args(["-KILL", &running.id().to_string()])
            .status()
            .expect("failed to run kill");
        assert!(status.success(), "round {round}: kill -KILL failed");
        let _ = running.wait();

        let Ok(text) = fs::read_to_string(&target) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            REWRITE_LINES,
            "round {round}: the file is complete"
        );
        assert!(
            lines.iter().all(|line| *line == lines[0]),
            "round {round}: the file holds one version, not a mix"
        );
    }
    assert!(
        target.exists(),
        "some round wrote a version before the kill"
    );
}

#[test]
fn killed_writes_leave_at_most_one_temporary_file() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    sandbox.write_config(
        "[modules.alpha]\nrewrite_file = \"/etc/versioned\"\nrewrite_versions = 100000\n",
    );
    let etc = sandbox.root().join("etc");
    let leftovers = || -> Vec<String> {
        let Ok(entries) = fs::read_dir(&etc) else {
            return Vec::new();
        };
        entries
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".versioned.") && name.ends_with(".tmp"))
            .collect()
    };

    for round in 0..LEFTOVER_ROUNDS {
        let running = sandbox.spawn_run(&[]);
        thread::sleep(Duration::from_millis(150 + round * 37));
        let status = Command::new("kill")
            .args(["-KILL", &running.id().to_string()])
            .status()
            .expect("failed to run kill");
        assert!(status.success(), "round {round}: kill -KILL failed");
        let _ = running.wait();

        let left = leftovers();
        assert!(
            left.len() <= 1,
            "round {round}: each run's first write removed the temporary files of killed runs, \
             so only the last kill's remains: {left:?}"
        );
    }

    sandbox
        .write_config("[modules.alpha]\nrewrite_file = \"/etc/versioned\"\nrewrite_versions = 1\n");
    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(
        leftovers(),
        Vec::<String>::new(),
        "a complete write removed every leftover"
    );
}
