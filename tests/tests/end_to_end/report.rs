//! `run --report FILE`: the JSON report validates against `docs/report-schema.json` and
//! records what the run did: statuses, changed files, plugin hashes and a lock wait.

use std::fs;
use std::path::Path;
use std::process::Command;

use configurator_e2e::Sandbox;
use serde_json::Value;

use crate::json_output::{add_non_utf8_file, listed_rejections};
use crate::path_text;

/// The file that `alpha` rewrites through its context, so that the run changes it.
const CHANGED_FILE: &str = "/etc/report-test";

/// The file that `writer-a` and `writer-b` both lock.
const CONTENDED_FILE: &str = "/var/lib/e2e/contended.log";

/// How long `writer-a` holds the contended lock, in microseconds.
const HOLD_US: u64 = 600_000;

/// Returns the report schema of the repository.
fn schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/report-schema.json");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("failed to read {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("invalid JSON schema: {err}"))
}

/// Validates `value` against `schema` with a subset of JSON Schema draft 2020-12: `type`,
/// `const`, `enum`, `required`, `properties`, `additionalProperties` as a schema, `items`,
/// `oneOf`, `minimum`, `$ref` into `$defs`, and `pattern` for the two patterns the schema
/// uses. Pushes one line per violation to `errors`, each naming the JSON pointer.
fn validate(root: &Value, schema: &Value, value: &Value, pointer: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = root
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("the schema's $ref {reference} points nowhere"));
        validate(root, target, value, pointer, errors);
    }

    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(name) => vec![name.as_str()],
            Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
            other => panic!("invalid `type` in the schema: {other}"),
        };
        if !allowed.iter().any(|name| has_type(value, name)) {
            errors.push(format!("{pointer}: {value} is not of type {allowed:?}"));
            return;
        }
    }

    if let Some(expected) = schema.get("const")
        && value != expected
    {
        errors.push(format!("{pointer}: {value} is not {expected}"));
    }
    if let Some(Value::Array(choices)) = schema.get("enum")
        && !choices.contains(value)
    {
        errors.push(format!("{pointer}: {value} is not one of {choices:?}"));
    }
    if let (Some(minimum), Some(number)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) && number < minimum
    {
        errors.push(format!("{pointer}: {number} is below {minimum}"));
    }
    if let (Some(pattern), Some(text)) = (
        schema.get("pattern").and_then(Value::as_str),
        value.as_str(),
    ) && !matches_pattern(pattern, text)
    {
        errors.push(format!("{pointer}: {text:?} does not match {pattern}"));
    }

    if let Some(Value::Array(options)) = schema.get("oneOf") {
        let matching = options
            .iter()
            .filter(|option| {
                let mut option_errors = Vec::new();
                validate(root, option, value, pointer, &mut option_errors);
                option_errors.is_empty()
            })
            .count();
        if matching != 1 {
            errors.push(format!(
                "{pointer}: {value} matches {matching} of the oneOf schemas"
            ));
        }
    }

    if let Value::Object(object) = value {
        for key in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(key) {
                errors.push(format!("{pointer}: required key `{key}` is missing"));
            }
        }

        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, item) in object {
            let item_pointer = format!("{pointer}/{key}");
            match properties.and_then(|properties| properties.get(key)) {
                Some(item_schema) => validate(root, item_schema, item, &item_pointer, errors),
                None => {
                    if let Some(extra) = schema.get("additionalProperties") {
                        validate(root, extra, item, &item_pointer, errors);
                    }
                }
            }
        }
    }
    if let (Some(items), Value::Array(array)) = (schema.get("items"), value) {
        for (index, item) in array.iter().enumerate() {
            validate(root, items, item, &format!("{pointer}/{index}"), errors);
        }
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        other => panic!("unknown type `{other}` in the schema"),
    }
}

/// Checks the two patterns the schema uses, which have no regex crate here to evaluate them:
/// lowercase hex SHA-256 digests and RFC 3339 UTC timestamps with microseconds.
fn matches_pattern(pattern: &str, text: &str) -> bool {
    match pattern {
        "^[0-9a-f]{64}$" => {
            text.len() == 64
                && text
                    .bytes()
                    .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
        }
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$" => {
            let shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
            text.len() == shape.len()
                && text
                    .bytes()
                    .zip(shape.bytes())
                    .all(|(byte, expected)| match expected {
                        b'd' => byte.is_ascii_digit(),
                        other => byte == other,
                    })
        }
        other => panic!("the test cannot evaluate the schema pattern {other}"),
    }
}

fn schema_errors(report: &Value) -> Vec<String> {
    let schema = schema();
    let mut errors = Vec::new();
    validate(&schema, &schema, report, "", &mut errors);
    errors
}

/// Returns the report's entry of `module`.
fn module<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["modules"]
        .as_array()
        .expect("modules is an array")
        .iter()
        .find(|entry| entry["name"] == name)
        .unwrap_or_else(|| panic!("the report has no module `{name}`: {report:#}"))
}

/// Runs alpha (changes a file), gamma (fails, depends on alpha), epsilon (skipped, depends on
/// gamma) and writer-a and writer-b, which contend for one lock, and returns the report.
fn run_with_report(sandbox: &Sandbox) -> (configurator_e2e::Output, Value) {
    sandbox.write_config(&format!(
        "[modules.alpha]\n\
         rewrite_file = \"{CHANGED_FILE}\"\n\
         rewrite_versions = 1\n\
         changed = true\n\n\
         [modules.gamma]\n\
         fail = \"gamma breaks on purpose\"\n\n\
         [modules.writer-a]\n\
         append_file = \"{CONTENDED_FILE}\"\n\
         append_lines = 1\n\
         lock_hold_us = {HOLD_US}\n\
         changed = false\n\n\
         [modules.writer-b]\n\
         sleep_ms = 150\n\
         append_file = \"{CONTENDED_FILE}\"\n\
         append_lines = 1\n"
    ));
    let report_path = sandbox.path().join("report.json");
    let report_arg = report_path.to_str().expect("test paths are UTF-8");
    let output = sandbox.run(&["--jobs", "3", "--report", report_arg]);
    let text = fs::read_to_string(&report_path)
        .unwrap_or_else(|err| panic!("no report at {}: {err}\n{output}", report_path.display()));
    let report = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("the report is invalid JSON: {err}\n{text}"));
    (output, report)
}

#[test]
fn report_matches_schema_and_run() {
    let names = ["alpha", "gamma", "epsilon", "writer-a", "writer-b"];
    let sandbox = Sandbox::with_plugins(&names);
    let (output, report) = run_with_report(&sandbox);

    assert_eq!(
        output.code(),
        Some(1),
        "gamma fails, so the run exits 1\n{output}"
    );
    let errors = schema_errors(&report);
    assert!(
        errors.is_empty(),
        "the report violates docs/report-schema.json:\n{}\n{report:#}",
        errors.join("\n")
    );
    assert_eq!(report["schema_version"], 1);

    // Statuses and messages.
    assert_eq!(module(&report, "alpha")["status"], "changed");
    assert_eq!(module(&report, "gamma")["status"], "failed");
    assert!(
        module(&report, "gamma")["message"]
            .as_str()
            .is_some_and(|message| message.contains("gamma breaks on purpose")),
        "gamma's message carries its error: {report:#}"
    );
    assert_eq!(module(&report, "epsilon")["status"], "skipped");
    assert_eq!(module(&report, "epsilon")["started"], Value::Null);
    assert_eq!(module(&report, "writer-a")["status"], "unchanged");
    assert_eq!(report["totals"]["statuses"]["failed"], 1);
    assert_eq!(report["totals"]["statuses"]["skipped"], 1);
    assert_eq!(report["totals"]["modules"], names.len());

    // The plan: alpha and the writers first, then gamma, then epsilon.
    let batches = report["plan"]["batches"].as_array().expect("batches");
    assert_eq!(batches.len(), 3, "three batches: {report:#}");
    assert_eq!(module(&report, "epsilon")["batch"], 2);
    assert!(module(&report, "alpha")["thread"].is_string());

    // Files changed.
    assert_eq!(
        module(&report, "alpha")["files_changed"],
        serde_json::json!([CHANGED_FILE])
    );
    assert_eq!(
        module(&report, "gamma")["files_changed"],
        serde_json::json!([])
    );
}

#[test]
fn report_records_plugin_hashes() {
    let sandbox = Sandbox::with_plugins(&["alpha", "writer-a"]);
    let report_path = sandbox.path().join("nested-report.json");
    let output = sandbox.run(&["--report", report_path.to_str().expect("UTF-8 path")]);
    assert_eq!(output.code(), Some(0), "{output}");
    let report: Value = serde_json::from_str(&fs::read_to_string(&report_path).expect("report"))
        .expect("valid JSON");

    assert!(schema_errors(&report).is_empty(), "{report:#}");
    // The validator must catch a broken report, or the schema test proves nothing.
    let mut broken = report.clone();
    broken["modules"][0]
        .as_object_mut()
        .expect("module entry")
        .remove("status");
    broken["modules"][0]["thread"] = Value::from(5);
    broken["run"]["started"] = Value::from("yesterday");
    assert_eq!(
        schema_errors(&broken).len(),
        3,
        "{:#?}",
        schema_errors(&broken)
    );

    let plugins = report["plugins"].as_array().expect("plugins");
    assert_eq!(plugins.len(), 2, "{report:#}");
    for plugin in plugins {
        let file = plugin["file"].as_str().expect("each plugin names its file");
        let expected = sha256sum(Path::new(file));
        assert_eq!(plugin["sha256"], expected, "SHA-256 of {file}");
    }
    let leftovers: Vec<_> = fs::read_dir(sandbox.path())
        .expect("sandbox directory")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name())
        .filter(|name| name.to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
}

/// Returns the SHA-256 of `path` as coreutils' `sha256sum` computes it.
fn sha256sum(path: &Path) -> String {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap_or_else(|err| panic!("failed to run sha256sum: {err}"));
    assert!(
        output.status.success(),
        "sha256sum {} failed",
        path.display()
    );
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .expect("sha256sum prints the digest first")
        .to_owned()
}

#[test]
fn report_records_lock_wait() {
    let sandbox = Sandbox::with_plugins(&["alpha", "gamma", "epsilon", "writer-a", "writer-b"]);
    let (_, report) = run_with_report(&sandbox);

    let waits = module(&report, "writer-b")["lock_waits"]
        .as_array()
        .expect("lock_waits is an array");
    let contended = waits
        .iter()
        .find(|wait| wait["path"] == CONTENDED_FILE)
        .unwrap_or_else(|| panic!("writer-b recorded no request for {CONTENDED_FILE}: {report:#}"));
    assert_eq!(contended["holder"], "writer-a", "{report:#}");
    assert_eq!(contended["acquired"], true);
    // writer-b requests the lock 150 ms into writer-a's 600 ms hold, so it waits about 450 ms; the margin
    // allows for a slow start of writer-a's thread.
    let waited = contended["waited_seconds"].as_f64().expect("seconds");
    assert!(waited >= 0.1, "writer-b waited only {waited} s: {report:#}");
    let total = report["totals"]["lock_wait_seconds"]
        .as_f64()
        .expect("seconds");
    assert!(
        total >= waited,
        "the total {total} s includes writer-b's {waited} s"
    );
}

#[test]
fn report_lists_rejected_files() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    let junk = sandbox.write_plugin_text("junk.so", "this is not a shared library\n");
    let odd_path = add_non_utf8_file(&sandbox);
    let report_path = sandbox.path().join("report.json");

    let output = sandbox.run(&[
        "--skip-broken",
        "--report",
        report_path.to_str().expect("UTF-8 path"),
    ]);

    assert_eq!(output.code(), Some(0), "{output}");
    let report: Value = serde_json::from_str(&fs::read_to_string(&report_path).expect("report"))
        .expect("valid JSON");
    let errors = schema_errors(&report);
    assert!(
        errors.is_empty(),
        "the report violates docs/report-schema.json:\n{}\n{report:#}",
        errors.join("\n")
    );
    assert_eq!(
        report["schema_version"], 1,
        "adding a field keeps the version"
    );
    let rejected = report["rejected"].as_array().expect("rejected");
    let paths: Vec<&str> = rejected
        .iter()
        .map(|entry| entry["path"].as_str().expect("each entry names its path"))
        .collect();
    assert_eq!(paths, [path_text(&junk), odd_path.as_str()], "{report:#}");
    assert_eq!(
        report["rejected"],
        listed_rejections(&sandbox),
        "the report gives the rejected files as list does"
    );

    // The validator must catch a rejected file without its reason.
    let mut broken = report.clone();
    broken["rejected"][0]
        .as_object_mut()
        .expect("rejected entry")
        .remove("reason");
    assert_eq!(schema_errors(&broken).len(), 1, "{report:#}");
}
