//! The author's kit: `scripts/new-module.sh` creates a module crate that passes its own tests as
//! created, builds into a plugin the real host loads and runs, and rejects invalid requests.
//!
//! The new crate lives in a temporary directory outside the workspace, so the script writes a
//! stand-alone crate. It builds into the workspace's target directory, where the host build
//! already compiled its dependencies, which keeps the test to a few seconds of compiling.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use configurator_e2e::{Sandbox, Status, artifacts};
use serde_json::Value;
use tempfile::TempDir;

/// The module name the tests create.
const MODULE: &str = "greeting";

/// Cargo's name for the library target of the package `configurator-module-greeting`.
const LIBRARY_TARGET: &str = "configurator_module_greeting";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e package lives one level below the workspace root")
        .to_owned()
}

/// Returns the target directory of the host build, `<target>` in `<target>/debug/configurator`.
fn target_dir() -> PathBuf {
    let host = &artifacts().host;
    host.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("cannot find the target directory of {}", host.display()))
        .to_owned()
}

fn temporary_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("configurator-new-module-")
        .tempdir()
        .expect("failed to create a temporary directory")
}

/// Runs `scripts/new-module.sh` with `arguments`.
fn new_module<S: AsRef<std::ffi::OsStr>>(arguments: &[S]) -> Output {
    let script = workspace_root().join("scripts/new-module.sh");
    Command::new(&script)
        .args(arguments)
        .output()
        .unwrap_or_else(|err| panic!("failed to start {}: {err}", script.display()))
}

/// Runs cargo `arguments` on the crate in `crate_dir` with the workspace's target directory.
fn cargo(crate_dir: &Path, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO"))
        .args(arguments)
        .arg("--manifest-path")
        .arg(crate_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .unwrap_or_else(|err| panic!("failed to start cargo {arguments:?}: {err}"))
}

fn describe(output: &Output) -> String {
    format!(
        "status {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Builds the crate in `crate_dir` and returns the module's shared library.
fn build_library(crate_dir: &Path) -> PathBuf {
    let output = cargo(
        crate_dir,
        &["build", "--message-format=json-render-diagnostics"],
    );
    assert!(
        output.status.success(),
        "cargo build failed\n{}",
        describe(&output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        // Proc-macro dependencies are shared libraries too.
        .filter(|message| message["target"]["name"] == LIBRARY_TARGET)
        .filter_map(|message| message["filenames"].as_array().cloned())
        .flatten()
        .filter_map(|file| file.as_str().map(PathBuf::from))
        .find(|file| file.extension().is_some_and(|extension| extension == "so"))
        .unwrap_or_else(|| {
            panic!(
                "cargo build reported no shared library\n{}",
                describe(&output)
            )
        })
}

#[test]
fn new_module_passes_tests_loads_and_runs() {
    let directory = temporary_dir();
    let crate_dir = directory.path().join(MODULE);

    let created = new_module(&[MODULE.as_ref(), crate_dir.as_os_str()]);
    assert!(
        created.status.success(),
        "new-module.sh failed\n{}",
        describe(&created)
    );
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("name = \"configurator-module-greeting\""),
        "{manifest}"
    );
    assert!(
        manifest.contains("\n[workspace]\n"),
        "a crate outside the workspace has a workspace table of its own\n{manifest}"
    );

    let tested = cargo(&crate_dir, &["test"]);
    assert!(
        tested.status.success(),
        "cargo test failed\n{}",
        describe(&tested)
    );
    assert!(
        String::from_utf8_lossy(&tested.stdout).contains("test result: ok. 5 passed"),
        "the template's five unit tests run and pass\n{}",
        describe(&tested)
    );

    let library = build_library(&crate_dir);
    let sandbox = Sandbox::empty();
    sandbox.add_plugin_file(&format!("{MODULE}.so"), &library);
    sandbox.write_config("[modules.greeting]\ncontent = \"hello\\n\"\n");

    let checked = sandbox.run(&["--check"]);
    assert_eq!(
        checked.code(),
        Some(0),
        "the new module supports --check\n{checked}"
    );
    assert!(
        !sandbox.root().join("etc/greeting.conf").exists(),
        "a check run writes nothing\n{checked}"
    );

    let first = sandbox.run(&[]);
    let second = sandbox.run(&[]);

    assert_eq!(first.code(), Some(0), "the new module runs\n{first}");
    assert_eq!(
        first.recap_status(MODULE),
        Some(Status::Changed),
        "the first run writes the file\n{first}"
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.root().join("etc/greeting.conf")).unwrap(),
        "hello\n"
    );
    assert_eq!(second.code(), Some(0), "the second run succeeds\n{second}");
    assert_eq!(
        second.recap_status(MODULE),
        Some(Status::Unchanged),
        "the second run finds the file current\n{second}"
    );
}

#[test]
fn new_module_rejects_invalid_name() {
    let directory = temporary_dir();

    for name in ["Greeting", "1st", "greeting-", "a--b", "a_b", ""] {
        let output = new_module(&[name.as_ref(), directory.path().join("x").as_os_str()]);

        assert_eq!(
            output.status.code(),
            Some(2),
            "name {name:?}\n{}",
            describe(&output)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("Usage:"),
            "name {name:?} prints the usage\n{}",
            describe(&output)
        );
    }
    assert!(!directory.path().join("x").exists());
}

#[test]
fn new_module_never_overwrites() {
    let directory = temporary_dir();
    let existing = directory.path().join(MODULE);
    std::fs::create_dir(&existing).unwrap();
    std::fs::write(existing.join("keep"), "mine").unwrap();

    let output = new_module(&[MODULE.as_ref(), existing.as_os_str()]);

    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("already exists"),
        "{}",
        describe(&output)
    );
    assert_eq!(
        std::fs::read_to_string(existing.join("keep")).unwrap(),
        "mine"
    );
    assert!(!existing.join("Cargo.toml").exists());
}

#[test]
fn new_module_rejects_workspace_non_member() {
    // Inside the workspace but not directly under plugins/, cargo would reject the crate.
    let inside = workspace_root().join("docs/new-module-test-crate");

    let output = new_module(&[MODULE.as_ref(), inside.as_os_str()]);

    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not directly under"),
        "{}",
        describe(&output)
    );
    assert!(
        !inside.exists(),
        "nothing was created at {}",
        inside.display()
    );
}

#[test]
fn new_module_without_name_prints_usage() {
    let output = new_module::<&str>(&[]);

    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("Usage: scripts/new-module.sh NAME [DIR]"),
        "{}",
        describe(&output)
    );
}
