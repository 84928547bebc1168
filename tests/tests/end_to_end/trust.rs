//! The trust policy for plugin files: files and directories that another user could replace
//! are rejected unless the policy is relaxed, and a SHA-256 pin must match.

use std::fs::{self, Permissions};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use configurator_e2e::{Output, Sandbox, Status};
use serde_json::Value;

use crate::discovery::{hashed_count, scan_counts, sha256sum};
use crate::path_text;

/// Returns the one stderr line that names `path`, failing unless there is exactly one.
fn line_naming<'a>(output: &'a Output, path: &Path) -> &'a str {
    let lines: Vec<&str> = output
        .stderr
        .lines()
        .filter(|line| line.contains(path_text(path)))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "one stderr line names {}\n{output}",
        path.display()
    );
    lines[0]
}

#[test]
fn sandbox_under_tmp_is_trusted() {
    // tempfile makes the sandbox private (0700) under the root-owned sticky /tmp, and the
    // sandbox's plugin directory and files are 0755, so strict mode loads them.
    let sandbox = Sandbox::with_plugins(&["alpha"]);

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(
        output.recap_status("alpha"),
        Some(Status::Changed),
        "{output}"
    );
}

#[test]
fn group_writable_plugin_is_rejected() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    let alpha = sandbox.plugins().join("alpha.so");
    fs::set_permissions(&alpha, Permissions::from_mode(0o775)).unwrap();

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(2), "{output}");
    let line = line_naming(&output, &alpha);
    assert!(line.contains("writable by its group"), "{line}");
    assert!(
        line.contains("--insecure-plugins"),
        "the line names the way out: {line}"
    );
}

#[test]
fn world_writable_plugin_directory_is_rejected() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    fs::set_permissions(sandbox.plugins(), Permissions::from_mode(0o777)).unwrap();
    let directory = fs::canonicalize(sandbox.plugins()).unwrap();

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(2), "{output}");
    let line = line_naming(&output, &sandbox.plugins().join("alpha.so"));
    assert!(
        line.contains(&format!(
            "{} is writable by group and others",
            directory.display()
        )),
        "the line names the directory and why: {line}"
    );
}

#[test]
fn plugin_of_another_user_is_rejected() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    let alpha = sandbox.plugins().join("alpha.so");
    let running_as_root = fs::metadata("/proc/self").is_ok_and(|metadata| metadata.uid() == 0);
    if !running_as_root {
        eprintln!("only root can give a file to another user: skipping the owner check");
        return;
    }
    std::os::unix::fs::chown(&alpha, Some(4242), None).unwrap();

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(2), "{output}");
    let line = line_naming(&output, &alpha);
    assert!(line.contains("owned by uid 4242"), "{line}");
}

#[test]
fn insecure_option_and_setting_relax_the_policy() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    fs::set_permissions(
        sandbox.plugins().join("alpha.so"),
        Permissions::from_mode(0o777),
    )
    .unwrap();

    let flagged = sandbox.run(&["--insecure-plugins"]);
    assert_eq!(flagged.code(), Some(0), "{flagged}");
    assert!(
        flagged.stderr.contains("plugin trust checks are off"),
        "the relaxed policy is announced\n{flagged}"
    );

    sandbox.write_config("[trust]\nstrict = false\n");
    let configured = sandbox.run(&[]);
    assert_eq!(configured.code(), Some(0), "{configured}");
    assert_eq!(
        configured.recap_status("alpha"),
        Some(Status::Changed),
        "{configured}"
    );
}

#[test]
fn sha256_pin_mismatch_names_both_hashes() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    let listing = sandbox.list(&["--format", "json"]);
    let listing: Value = serde_json::from_str(&listing.stdout).expect("list prints JSON");
    let found = listing["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .find(|module| module["name"] == "alpha")
        .and_then(|module| module["sha256"].as_str())
        .expect("alpha is listed with its SHA-256")
        .to_owned();
    let expected = "0".repeat(64);

    sandbox.write_config(&format!("[trust]\nsha256 = {{ alpha = \"{expected}\" }}\n"));
    let output = sandbox.run(&[]);
    assert_eq!(output.code(), Some(2), "{output}");
    let line = line_naming(&output, &sandbox.plugins().join("alpha.so"));
    assert!(line.contains(&format!("expected {expected}")), "{line}");
    assert!(line.contains(&format!("found {found}")), "{line}");

    sandbox.write_config(&format!(
        "[trust]\nsha256 = {{ alpha = \"{}\" }}\n",
        found.to_uppercase()
    ));
    let matching = sandbox.run(&[]);
    assert_eq!(
        matching.code(),
        Some(0),
        "a matching pin loads the file\n{matching}"
    );
}

#[test]
fn pin_mismatch_rejected_cold_and_warm() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    let alpha = sandbox.plugins().join("alpha.so");
    let found = sha256sum(&alpha);
    let expected = "0".repeat(64);
    sandbox.write_config(&format!("[trust]\nsha256 = {{ alpha = \"{expected}\" }}\n"));

    let cold = sandbox.run(&["-v"]);
    assert_eq!(cold.code(), Some(2), "{cold}");
    assert_eq!(scan_counts(&cold), (0, 2), "a cold discovery\n{cold}");
    assert_eq!(
        hashed_count(&cold),
        1,
        "only the pinned module's file is hashed\n{cold}"
    );
    let warm = sandbox.run(&["-v"]);
    assert_eq!(warm.code(), Some(2), "{warm}");
    assert_eq!(scan_counts(&warm), (2, 0), "a warm discovery\n{warm}");
    assert_eq!(
        hashed_count(&warm),
        0,
        "the warm discovery takes the stored SHA-256\n{warm}"
    );

    for output in [&cold, &warm] {
        let mismatch = output
            .stderr
            .lines()
            .find(|line| line.contains(path_text(&alpha)) && line.contains("does not match"))
            .unwrap_or_else(|| panic!("a line rejects alpha.so for its pin\n{output}"));
        assert!(
            mismatch.contains(&format!("expected {expected}")),
            "{mismatch}"
        );
        assert!(mismatch.contains(&format!("found {found}")), "{mismatch}");
    }
}
