//! Builds the host and every test plugin once per test run and finds the files the build made.
//!
//! The build runs `cargo build` for the workspace from inside the test process, with the same
//! cargo and environment that run the tests, so `CARGO_TARGET_DIR` and cargo's configuration
//! apply to it. The paths of the binary and of the plugin libraries come from cargo's JSON
//! messages, not from a guess at the target directory's layout.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// The package of the host binary.
const HOST_PACKAGE: &str = "configurator";

/// The prefix of every test plugin's package name; the rest is its directory under `plugins/`.
const PLUGIN_PACKAGE_PREFIX: &str = "configurator-test-";

/// The directory under `tests/plugins/` that contains the shared rlib rather than a plugin.
const TESTKIT_DIRECTORY: &str = "testkit";

/// The prefix of every bundled module's package name under `plugins/`; the rest is the module
/// name. Packages without it there are libraries the modules share.
const BUNDLED_PACKAGE_PREFIX: &str = "configurator-module-";

/// The package of the plugin built against the frozen plugin-api 1.0.0.
const LEGACY_PACKAGE: &str = "configurator-test-legacy";

/// What the build produced: the host binary and one shared library per test plugin.
#[derive(Debug)]
pub struct Artifacts {
    /// The `configurator` executable.
    pub host: PathBuf,
    /// Plugin libraries keyed by their directory name under `tests/plugins/`.
    plugins: BTreeMap<String, PathBuf>,
    /// The bundled modules' libraries from `plugins/`, keyed by module name.
    pub bundled: BTreeMap<String, PathBuf>,
    /// The plugin built against the frozen plugin-api 1.0.0 in `tests/fixtures/legacy`.
    pub legacy: PathBuf,
}

impl Artifacts {
    /// Returns the shared library built from `tests/plugins/<name>`.
    ///
    /// # Panics
    ///
    /// Panics when no test plugin has that name.
    pub fn plugin(&self, name: &str) -> &Path {
        match self.plugins.get(name) {
            Some(path) => path,
            None => panic!(
                "no test plugin `{name}` under tests/plugins; the test plugins are {:?}",
                self.plugins.keys().collect::<Vec<_>>()
            ),
        }
    }
}

/// Returns the built host and plugins, building them on the first call of the test run.
///
/// Concurrent callers wait for that one build. A failed build fails every test that needs it,
/// each with cargo's output.
pub fn artifacts() -> &'static Artifacts {
    static ARTIFACTS: OnceLock<Result<Artifacts, String>> = OnceLock::new();
    match ARTIFACTS.get_or_init(build) {
        Ok(artifacts) => artifacts,
        Err(message) => panic!("{message}"),
    }
}

fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("the e2e package lives one level below the workspace root")
        .to_owned()
}

/// Lists the directory names of the test plugins under `tests/plugins/`.
fn plugin_directories() -> Result<Vec<String>, String> {
    let plugins_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
    let entries = fs::read_dir(&plugins_dir)
        .map_err(|err| format!("failed to list {}: {err}", plugins_dir.display()))?;

    let mut names = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|err| format!("failed to list {}: {err}", plugins_dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != TESTKIT_DIRECTORY && entry.path().join("Cargo.toml").is_file() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Lists the bundled module names: the package names under `plugins/` that carry
/// [`BUNDLED_PACKAGE_PREFIX`], without it.
fn bundled_modules() -> Result<Vec<String>, String> {
    let plugins_dir = workspace_root().join("plugins");
    let entries = fs::read_dir(&plugins_dir)
        .map_err(|err| format!("failed to list {}: {err}", plugins_dir.display()))?;

    let mut names = Vec::new();
    for entry in entries {
        let manifest = entry
            .map_err(|err| format!("failed to list {}: {err}", plugins_dir.display()))?
            .path()
            .join("Cargo.toml");
        let Ok(text) = fs::read_to_string(&manifest) else {
            continue;
        };
        let package = text
            .lines()
            .find_map(|line| line.strip_prefix("name = \""))
            .and_then(|rest| rest.strip_suffix('"'));
        if let Some(module) = package.and_then(|name| name.strip_prefix(BUNDLED_PACKAGE_PREFIX)) {
            names.push(module.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn build() -> Result<Artifacts, String> {
    let plugin_names = plugin_directories()?;
    let bundled_names = bundled_modules()?;

    // NOTE: this is always a debug build, also under `cargo test --release`. A relative
    // CARGO_TARGET_DIR resolves against the workspace root here, which differs from the outer
    // cargo's directory when the tests are started from a package directory.
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(workspace_root())
        .args(["build", "--message-format=json-render-diagnostics"])
        .args(["--package", HOST_PACKAGE]);
    for name in &plugin_names {
        command.args(["--package", &format!("{PLUGIN_PACKAGE_PREFIX}{name}")]);
    }
    for name in &bundled_names {
        command.args(["--package", &format!("{BUNDLED_PACKAGE_PREFIX}{name}")]);
    }

    let messages = run_build(&mut command)?;
    let host = find_host(&messages)?;
    let legacy = build_legacy(&host)?;
    let mut plugins = BTreeMap::new();
    for name in plugin_names {
        let package = format!("{PLUGIN_PACKAGE_PREFIX}{name}");
        plugins.insert(name, find_library(&messages, &package)?);
    }
    let mut bundled = BTreeMap::new();
    for name in bundled_names {
        let package = format!("{BUNDLED_PACKAGE_PREFIX}{name}");
        bundled.insert(name, find_library(&messages, &package)?);
    }
    Ok(Artifacts {
        host,
        plugins,
        bundled,
        legacy,
    })
}

/// Builds the plugin of the legacy fixture, a workspace of its own, into the main workspace's
/// target directory so that it shares the compiled dependencies.
fn build_legacy(host: &Path) -> Result<PathBuf, String> {
    // The host executable lives in `<target>/debug/`.
    let target_dir = host
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("cannot find the target directory of {}", host.display()))?;
    let manifest = workspace_root().join("tests/fixtures/legacy/Cargo.toml");
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(workspace_root())
        .env("CARGO_TARGET_DIR", target_dir)
        .args([
            "build",
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        .args(["--package", LEGACY_PACKAGE]);
    let messages = run_build(&mut command)?;
    find_library(&messages, LEGACY_PACKAGE)
}

/// Runs a cargo build with JSON messages and returns its `compiler-artifact` messages.
fn run_build(command: &mut Command) -> Result<Vec<Value>, String> {
    let output = command
        .output()
        .map_err(|err| format!("failed to start {command:?}: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed with {}\n--- stderr ---\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse_messages(&String::from_utf8_lossy(&output.stdout))
}

/// Parses cargo's `compiler-artifact` messages, ignoring every other kind.
fn parse_messages(stdout: &str) -> Result<Vec<Value>, String> {
    let mut artifacts = Vec::new();
    for line in stdout.lines().filter(|line| line.starts_with('{')) {
        let message: Value = serde_json::from_str(line)
            .map_err(|err| format!("invalid JSON message from cargo: {err}: {line}"))?;
        if message["reason"] == "compiler-artifact" {
            artifacts.push(message);
        }
    }
    Ok(artifacts)
}

fn has_kind(message: &Value, kind: &str) -> bool {
    message["target"]["kind"]
        .as_array()
        .is_some_and(|kinds| kinds.iter().any(|found| found == kind))
}

fn find_host(messages: &[Value]) -> Result<PathBuf, String> {
    messages
        .iter()
        .filter(|message| message["target"]["name"] == HOST_PACKAGE && has_kind(message, "bin"))
        .find_map(|message| message["executable"].as_str())
        .map(PathBuf::from)
        .ok_or_else(|| format!("cargo reported no `{HOST_PACKAGE}` executable"))
}

fn find_library(messages: &[Value], package: &str) -> Result<PathBuf, String> {
    // Cargo names a library target after its package, with `-` replaced by `_`.
    let target = package.replace('-', "_");
    messages
        .iter()
        .filter(|message| message["target"]["name"] == target.as_str())
        .filter(|message| has_kind(message, "cdylib"))
        .filter_map(|message| message["filenames"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .find(|file| file.ends_with(".so"))
        .map(PathBuf::from)
        .ok_or_else(|| format!("cargo reported no shared library for package `{package}`"))
}
