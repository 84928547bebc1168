//! Dry runs and diffs. `run --check` on the bundled modules changes nothing under the root yet
//! reports what a real run then does, and `--diff` shows the changes a real run makes. Modules
//! without check mode support, including plugins built against plugin-api 1.0, are skipped.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use configurator_e2e::{Output, Sandbox, Status, artifacts};

const SEED_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
const SEED_GROUP: &str = "root:x:0:\nadm:x:4:syslog\nusers:x:100:\nnogroup:x:65534:\n";
const SEED_PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
                           nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";

/// One entry of a [`snapshot`]: a directory with its mode, or a file with its mode and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Directory(u32),
    File(u32, Vec<u8>),
}

/// Creates a sandbox with every bundled module, the example configuration, and a root holding
/// a seed `/etc/hosts`, `/etc/group` and `/etc/passwd`.
fn seeded_sandbox() -> Sandbox {
    let sandbox = Sandbox::with_bundled_modules();
    let etc = sandbox.root().join("etc");
    fs::create_dir_all(&etc).expect("failed to create the seed /etc");
    for (name, text) in [
        ("hosts", SEED_HOSTS),
        ("group", SEED_GROUP),
        ("passwd", SEED_PASSWD),
    ] {
        fs::write(etc.join(name), text).expect("failed to write a seed file");
    }
    sandbox
}

/// Returns every directory and file under `dir`, the host's own state in `run/` included,
/// keyed by its path below `dir`.
fn snapshot(dir: &Path) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).expect("failed to list the root") {
            let path = entry.expect("failed to list the root").path();
            let relative = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let metadata = fs::symlink_metadata(&path).expect("failed to inspect a root entry");
            let mode = metadata.permissions().mode();
            if metadata.is_dir() {
                entries.insert(relative, Entry::Directory(mode));
                pending.push(path);
            } else {
                let bytes = fs::read(&path).expect("failed to read a root file");
                entries.insert(relative, Entry::File(mode, bytes));
            }
        }
    }
    entries
}

/// Returns the files of a snapshot as text, leaving out directories and the host's own state:
/// the lock directory's sidecar files and the durations file.
fn configured_files(snapshot: &BTreeMap<String, Entry>) -> BTreeMap<String, String> {
    snapshot
        .iter()
        .filter(|(path, _)| !path.starts_with("run/configurator/"))
        .filter_map(|(path, entry)| match entry {
            Entry::File(_, bytes) => Some((path.clone(), String::from_utf8_lossy(bytes).into())),
            Entry::Directory(_) => None,
        })
        .collect()
}

/// Returns each module's recap line without its duration: name, status and detail.
fn recap_without_times(output: &Output) -> BTreeMap<String, String> {
    artifacts()
        .bundled
        .keys()
        .map(|module| {
            let line = output
                .recap_line(module)
                .unwrap_or_else(|| panic!("no recap line for `{module}`\n{output}"));
            let words: Vec<&str> = line.split_whitespace().collect();
            let without_time = [&words[..2], &words[3..]].concat().join(" ");
            (module.clone(), without_time)
        })
        .collect()
}

/// One file's part of the `DIFF` section: the module, the system path and the diff lines
/// after the `---`/`+++` headers.
#[derive(Debug)]
struct FileDiff {
    module: String,
    path: String,
    lines: Vec<String>,
}

/// Splits the `DIFF` section of stdout into one [`FileDiff`] per `module NAME: PATH` label.
fn file_diffs(output: &Output) -> Vec<FileDiff> {
    let section = output
        .stdout
        .split_once("\nDIFF\n")
        .unwrap_or_else(|| panic!("stdout has no DIFF section\n{output}"))
        .1;
    let mut diffs: Vec<FileDiff> = Vec::new();
    for line in section.lines() {
        if let Some(label) = line.strip_prefix("module ") {
            let (module, path) = label
                .split_once(": ")
                .expect("a label names module and path");
            diffs.push(FileDiff {
                module: module.to_owned(),
                path: path.trim_end_matches(" (new file)").to_owned(),
                lines: Vec::new(),
            });
        } else if line.starts_with("--- ") || line.starts_with("+++ ") {
            continue;
        } else if let Some(diff) = diffs.last_mut() {
            diff.lines.push(line.to_owned());
        }
    }
    diffs
}

/// Applies the hunks of `diff` to `old`, checking every context and removed line against it,
/// and returns the new text.
fn apply(old: &str, diff: &FileDiff) -> String {
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let mut new = String::new();
    let mut next_old = 0;
    for line in &diff.lines {
        if let Some(header) = line.strip_prefix("@@ -") {
            let start: usize = header
                .split([',', ' '])
                .next()
                .and_then(|number| number.parse().ok())
                .expect("a hunk header starts with the old line number");
            // An empty old range starts after line `start`; others start at line `start`.
            let first = if header.starts_with(&format!("{start},0 ")) {
                start
            } else {
                start.saturating_sub(1)
            };
            new.extend(old_lines[next_old..first].iter().copied());
            next_old = first;
        } else if let Some(text) = line.strip_prefix('+') {
            new.push_str(text);
            new.push('\n');
        } else if let Some(text) = line.strip_prefix('-').or_else(|| line.strip_prefix(' ')) {
            assert_eq!(
                old_lines[next_old].trim_end_matches('\n'),
                text,
                "diff line {line:?} of {} does not match the file",
                diff.path
            );
            if line.starts_with(' ') {
                new.push_str(old_lines[next_old]);
            }
            next_old += 1;
        } else {
            assert!(
                !line.starts_with('\\'),
                "no bundled file lacks its final newline: {line}"
            );
        }
    }
    new.extend(old_lines[next_old..].iter().copied());
    new
}

#[test]
fn check_changes_nothing_and_predicts_real_run() {
    let sandbox = seeded_sandbox();
    let before = snapshot(sandbox.root());

    let check = sandbox.run(&["--check"]);

    assert_eq!(check.code(), Some(0), "the check run succeeds\n{check}");
    assert_eq!(
        snapshot(sandbox.root()),
        before,
        "the check run leaves every file and directory under the root as it was, run/ included"
    );
    assert!(
        check.stdout.contains("check mode: nothing was changed"),
        "the recap says that nothing changed\n{check}"
    );

    let real = sandbox.run(&[]);

    assert_eq!(real.code(), Some(0), "the real run succeeds\n{real}");
    for module in artifacts().bundled.keys() {
        assert_eq!(
            real.recap_status(module),
            Some(Status::Changed),
            "`{module}` changes the seeded root\n{real}"
        );
    }
    assert_eq!(
        recap_without_times(&check),
        recap_without_times(&real),
        "the check run reports the statuses and messages of the real run\n{check}\n{real}"
    );
}

#[test]
fn check_after_real_run_finds_nothing_to_change() {
    let sandbox = seeded_sandbox();
    let first = sandbox.run(&[]);
    assert_eq!(first.code(), Some(0), "the real run succeeds\n{first}");
    let before = snapshot(sandbox.root());

    let check = sandbox.run(&["--check", "--diff"]);

    assert_eq!(check.code(), Some(0), "the check run succeeds\n{check}");
    for module in artifacts().bundled.keys() {
        assert_eq!(
            check.recap_status(module),
            Some(Status::Unchanged),
            "`{module}` has nothing left to change\n{check}"
        );
    }
    assert!(
        check.stdout.contains("\nDIFF\n  no file changes\n"),
        "the diff is empty\n{check}"
    );
    assert_eq!(
        snapshot(sandbox.root()),
        before,
        "the check run changes nothing"
    );
}

#[test]
fn check_diff_matches_real_change() {
    let sandbox = seeded_sandbox();
    let before = configured_files(&snapshot(sandbox.root()));

    let check = sandbox.run(&["--check", "--diff"]);
    let real = sandbox.run(&["--diff"]);

    assert_eq!(check.code(), Some(0), "the check run succeeds\n{check}");
    assert_eq!(real.code(), Some(0), "the real run succeeds\n{real}");
    let after = configured_files(&snapshot(sandbox.root()));
    let mut predicted = before.clone();
    for diff in file_diffs(&check) {
        let relative = diff.path.trim_start_matches('/').to_owned();
        let old = predicted.get(&relative).cloned().unwrap_or_default();
        predicted.insert(relative, apply(&old, &diff));
    }
    assert_eq!(
        predicted, after,
        "applying the check run's diff to the root gives the files of the real run\n{check}"
    );

    let check_diff = check.stdout.split_once("\nDIFF\n").unwrap().1;
    let real_diff = real.stdout.split_once("\nDIFF\n").unwrap().1;
    assert_eq!(
        check_diff, real_diff,
        "the real run's diff is the check run's diff"
    );
    let labelled: Vec<(String, String)> = file_diffs(&real)
        .into_iter()
        .map(|diff| (diff.module, diff.path))
        .collect();
    assert!(
        labelled.contains(&("hosts".to_owned(), "/etc/hosts".to_owned())),
        "each diff names its module: {labelled:?}"
    );
    assert!(
        labelled.contains(&("users".to_owned(), "/etc/group".to_owned()))
            && labelled.contains(&("groups".to_owned(), "/etc/group".to_owned())),
        "a file two modules change has a diff from each: {labelled:?}"
    );
    assert!(
        !real.stdout.contains('\u{1b}'),
        "no colour when stdout is not a terminal\n{real}"
    );
}

#[test]
fn check_records_writes_and_creates_nothing() {
    let sandbox = Sandbox::with_plugins(&["checker"]);
    sandbox.write_config("[modules.checker]\nwrite_files = [\"/etc/checked\"]\n");

    let output = sandbox.run(&["--check", "--diff"]);

    assert_eq!(output.code(), Some(0), "the check run succeeds\n{output}");
    assert_eq!(
        output.recap_status("checker"),
        Some(Status::Changed),
        "{output}"
    );
    assert!(
        output.stdout.contains(
            "module checker: /etc/checked (new file)\n--- /dev/null\n+++ b/etc/checked\n"
        ),
        "the diff shows the file the module would create\n{output}"
    );
    assert!(
        output.stdout.contains("\n+written by checker\n"),
        "the diff shows the content it would have\n{output}"
    );
    assert!(
        !sandbox.root().join("etc").exists(),
        "the module's write was recorded, not made"
    );
    assert!(
        !sandbox.root().join("run").exists(),
        "no lock sidecar and no durations file under the root"
    );
}

#[test]
fn check_skips_modules_without_support_and_dependents() {
    let sandbox = Sandbox::with_plugins(&["alpha", "checker", "check-dependent"]);

    let output = sandbox.run(&["--check"]);

    assert_eq!(
        output.code(),
        Some(0),
        "skipping for lack of check support is no failure\n{output}"
    );
    assert_eq!(
        output.recap_status("alpha"),
        Some(Status::Skipped),
        "{output}"
    );
    let alpha = output.recap_line("alpha").unwrap();
    assert!(
        alpha.ends_with("does not support check mode"),
        "alpha's line gives the reason: {alpha}"
    );
    assert_eq!(
        output.recap_status("check-dependent"),
        Some(Status::Skipped),
        "{output}"
    );
    let dependent = output.recap_line("check-dependent").unwrap();
    assert!(
        dependent.ends_with("dependency alpha does not support check mode"),
        "the dependent's line names the dependency: {dependent}"
    );
    assert_eq!(
        output.recap_status("checker"),
        Some(Status::Changed),
        "{output}"
    );
    assert_eq!(
        sandbox.modules_that_ran(),
        ["checker"],
        "only the module with check support ran"
    );
}

#[test]
fn check_skips_legacy_plugin() {
    // The legacy module depends on alpha.
    let sandbox = Sandbox::with_plugins(&["alpha", "checker"]);
    sandbox.add_plugin_file("legacy.so", &artifacts().legacy);

    let output = sandbox.run(&["--check"]);

    assert_eq!(output.code(), Some(0), "the check run succeeds\n{output}");
    assert_eq!(
        output.recap_status("legacy"),
        Some(Status::Skipped),
        "{output}"
    );
    let legacy = output.recap_line("legacy").unwrap();
    assert!(
        legacy.ends_with("does not support check mode"),
        "a plugin-api 1.0 plugin cannot declare check support: {legacy}"
    );
    assert!(
        !sandbox.root().join("legacy.log").exists(),
        "the legacy module did not run"
    );
}

#[test]
fn real_run_runs_unsupported_modules() {
    let sandbox = Sandbox::with_plugins(&["alpha", "check-dependent"]);

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(0), "the run succeeds\n{output}");
    assert_eq!(sandbox.modules_that_ran(), ["alpha", "check-dependent"]);
}
