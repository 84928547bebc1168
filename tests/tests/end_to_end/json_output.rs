//! The JSON output of `list`, `plan` and `run`: the plugin files that `--skip-broken` leaves
//! out, in the shape `list --format json` gives them, and file names that are not valid UTF-8,
//! which are written with U+FFFD in place of their invalid bytes.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;

use configurator_e2e::{Output, Sandbox, artifacts};
use serde_json::Value;

use crate::path_text;
use crate::rejection::system_library;

/// The name of the file that [`add_non_utf8_file`] writes: two bytes that are not UTF-8.
const NON_UTF8_NAME: &[u8] = b"\xff\xfe.so";

/// Writes a one-byte file named [`NON_UTF8_NAME`] into the plugin directory and returns its
/// path as JSON output writes it.
pub(crate) fn add_non_utf8_file(sandbox: &Sandbox) -> String {
    let path = sandbox.plugins().join(OsStr::from_bytes(NON_UTF8_NAME));
    fs::write(&path, "x").unwrap_or_else(|err| panic!("failed to write {path:?}: {err}"));
    non_utf8_path_text(sandbox)
}

/// Returns the path of the file named [`NON_UTF8_NAME`] in the plugin directory as JSON
/// output writes it, with U+FFFD for each of the two bytes.
fn non_utf8_path_text(sandbox: &Sandbox) -> String {
    format!("{}/\u{fffd}\u{fffd}.so", path_text(sandbox.plugins()))
}

/// Parses the standard output of a `--format json` invocation.
fn parse_json(output: &Output) -> Value {
    serde_json::from_str(&output.stdout)
        .unwrap_or_else(|err| panic!("the output is invalid JSON: {err}\n{output}"))
}

/// Parses the standard output of a `--format json` invocation that must have exited with 0.
fn parse_successful_json(output: &Output) -> Value {
    assert_eq!(output.code(), Some(0), "{output}");
    parse_json(output)
}

/// Returns the `rejected` array of `list --skip-broken --format json`, which the other JSON
/// outputs repeat.
pub(crate) fn listed_rejections(sandbox: &Sandbox) -> Value {
    let list = sandbox.list(&["--skip-broken", "--format", "json"]);
    parse_successful_json(&list)["rejected"].clone()
}

/// Adds a text file and a shared library that is no plugin next to `alpha` and `beta`, and
/// returns the sandbox with the paths of the two broken files.
fn sandbox_with_broken_files() -> (Sandbox, [PathBuf; 2]) {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    let text_file = sandbox.write_plugin_text("junk.so", "this is not a shared library\n");
    let library = sandbox.add_plugin_file("libz.so", &system_library());
    (sandbox, [text_file, library])
}

/// Asserts that `rejected` names each of `paths` once, with a one-line reason.
fn assert_rejects(rejected: &Value, paths: &[&str], document: &Value) {
    let entries = rejected
        .as_array()
        .unwrap_or_else(|| panic!("`rejected` is an array: {document:#}"));
    assert_eq!(entries.len(), paths.len(), "{document:#}");
    for path in paths {
        let entry = entries
            .iter()
            .find(|entry| entry["path"] == *path)
            .unwrap_or_else(|| panic!("{path} is not among the rejected files: {document:#}"));
        let reason = entry["reason"]
            .as_str()
            .unwrap_or_else(|| panic!("the entry of {path} has no reason: {document:#}"));
        assert!(!reason.is_empty(), "the reason for {path} is empty");
        assert!(!reason.contains('\n'), "the reason for {path} is one line");
    }
}

/// Asserts that `document`, the JSON output of a `--skip-broken` command in a sandbox made by
/// [`sandbox_with_broken_files`], lists `alpha` and `beta` and the rejected files as `list`
/// does.
fn assert_lists_broken_files(sandbox: &Sandbox, broken: &[PathBuf; 2], document: &Value) {
    assert_eq!(
        document["modules"].as_array().map(Vec::len),
        Some(2),
        "{document:#}"
    );
    let paths = broken.each_ref().map(|path| path_text(path));
    assert_rejects(&document["rejected"], &paths, document);
    assert_eq!(
        document["rejected"],
        listed_rejections(sandbox),
        "the rejected files are given as list gives them"
    );
}

#[test]
fn json_run_lists_skipped_broken_files() {
    let (sandbox, broken) = sandbox_with_broken_files();

    // A file that is no plugin is no failed module, so the run still exits with 0.
    let output = sandbox.run(&["--skip-broken", "--format", "json"]);

    assert_lists_broken_files(&sandbox, &broken, &parse_successful_json(&output));
}

#[test]
fn json_plan_lists_skipped_broken_files() {
    let (sandbox, broken) = sandbox_with_broken_files();

    let output = sandbox.plan(&["--skip-broken", "--format", "json"]);

    assert_lists_broken_files(&sandbox, &broken, &parse_successful_json(&output));
}

#[test]
fn json_outputs_without_rejections_list_none() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);

    let run = parse_successful_json(&sandbox.run(&["--format", "json"]));
    assert_eq!(run["rejected"], serde_json::json!([]));
    assert_eq!(sandbox.plan_json()["rejected"], serde_json::json!([]));
}

#[test]
fn json_list_survives_non_utf8_file_name() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    let odd_path = add_non_utf8_file(&sandbox);

    let listing = parse_successful_json(&sandbox.list(&["--skip-broken", "--format", "json"]));
    assert_eq!(listing["modules"][0]["name"], "alpha", "{listing:#}");
    assert_rejects(&listing["rejected"], &[&odd_path], &listing);

    // Without --skip-broken the listing is still printed, and the status reports the broken
    // file, not the encoding.
    let strict = sandbox.list(&["--format", "json"]);
    assert_eq!(strict.code(), Some(2), "{strict}");
    assert_eq!(parse_json(&strict), listing);
    assert!(
        !strict.stderr.contains("cannot encode"),
        "the file name does not break the JSON encoding\n{strict}"
    );
}

#[test]
fn non_utf8_name_in_plan_and_run_json() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    let odd_path = add_non_utf8_file(&sandbox);

    let outputs = [
        sandbox.plan(&["--skip-broken", "--format", "json"]),
        sandbox.run(&["--skip-broken", "--format", "json"]),
    ];

    for output in &outputs {
        let document = parse_successful_json(output);
        assert_eq!(document["modules"][0]["name"], "alpha", "{document:#}");
        assert_rejects(&document["rejected"], &[&odd_path], &document);
    }
}

#[test]
fn json_outputs_survive_non_utf8_plugin_path() {
    let sandbox = Sandbox::empty();
    let plugin = sandbox.add_plugin_file("alpha.so", artifacts().plugin("alpha"));
    let renamed = sandbox.plugins().join(OsStr::from_bytes(NON_UTF8_NAME));
    fs::rename(&plugin, &renamed).expect("failed to rename the plugin file");
    let odd_path = non_utf8_path_text(&sandbox);
    let report_path = sandbox.path().join("report.json");
    let report_arg = report_path.to_str().expect("test paths are UTF-8");

    let listing = parse_successful_json(&sandbox.list(&["--format", "json"]));
    let plan = sandbox.plan_json();
    let run = parse_successful_json(&sandbox.run(&["--format", "json", "--report", report_arg]));
    let report: Value = serde_json::from_str(&fs::read_to_string(&report_path).expect("report"))
        .expect("the report is valid JSON");

    assert_eq!(listing["modules"][0]["path"], *odd_path, "{listing:#}");
    assert_eq!(plan["modules"][0]["path"], *odd_path, "{plan:#}");
    assert_eq!(run["modules"][0]["status"], "changed", "{run:#}");
    assert_eq!(report["plugins"][0]["file"], *odd_path, "{report:#}");
}
