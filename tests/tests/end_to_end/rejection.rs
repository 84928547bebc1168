//! Module sets the host rejects before running anything, with exit status 2: dependency cycles,
//! missing dependencies, files that are not plugins, and duplicate module names.

use std::path::{Path, PathBuf};

use configurator_e2e::{Output, Sandbox, Status, contains_word};

use crate::path_text;

/// Returns a real shared library that is not a Configurator plugin: the system's zlib.
pub(crate) fn system_library() -> PathBuf {
    let multiarch = format!("{}-linux-gnu", std::env::consts::ARCH);
    let candidates = [
        Path::new("/usr/lib").join(&multiarch).join("libz.so.1"),
        Path::new("/lib").join(&multiarch).join("libz.so.1"),
        PathBuf::from("/usr/lib64/libz.so.1"),
        PathBuf::from("/usr/lib/libz.so.1"),
    ];
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!("no zlib found at {candidates:?}; install zlib (Debian: zlib1g) for this test")
        })
}

/// Asserts the outcome every rejected module set shares: status 2 and no module started.
fn assert_rejected_before_running(output: &Output, sandbox: &Sandbox) {
    assert_eq!(
        output.code(),
        Some(2),
        "an invalid module set is rejected with status 2\n{output}"
    );
    assert_eq!(
        sandbox.modules_that_ran(),
        Vec::<String>::new(),
        "no module runs when the module set is rejected\n{output}"
    );
}

#[test]
fn dependency_cycle_is_rejected() {
    let sandbox = Sandbox::with_plugins(&["alpha", "cycle-a", "cycle-b"]);

    let output = sandbox.run(&[]);

    assert_rejected_before_running(&output, &sandbox);
    for member in ["cycle-a", "cycle-b"] {
        assert!(
            output.stderr_names(member),
            "the error on stderr names cycle member `{member}`\n{output}"
        );
    }
    let plan = sandbox.plan(&[]);
    assert_eq!(
        plan.code(),
        Some(2),
        "plan rejects the cycle as well\n{plan}"
    );
}

#[test]
fn missing_dependency_is_rejected() {
    let sandbox = Sandbox::with_plugins(&["alpha", "orphan"]);

    let output = sandbox.run(&[]);

    assert_rejected_before_running(&output, &sandbox);
    let naming_both = output
        .stderr
        .lines()
        .any(|line| contains_word(line, "orphan") && contains_word(line, "ghost"));
    assert!(
        naming_both,
        "one stderr line names the module `orphan` and its missing dependency `ghost`\n{output}"
    );
    let plan = sandbox.plan(&[]);
    assert_eq!(
        plan.code(),
        Some(2),
        "plan rejects the missing dependency as well\n{plan}"
    );
}

#[test]
fn missing_dependency_names_files_left_out() {
    let sandbox = Sandbox::with_plugins(&["needs-alpha-1"]);
    let broken = sandbox.write_plugin_bytes("alpha.so", b"not a shared library");

    let output = sandbox.run(&["--skip-broken"]);

    assert_rejected_before_running(&output, &sandbox);
    assert!(
        output.stderr.contains(&format!(
            "--skip-broken left out 1 plugin file(s), which may provide a missing module: {}",
            path_text(&broken)
        )),
        "the error points at the file left out\n{output}"
    );
}

#[test]
fn non_plugin_files_are_rejected() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    let text_file = sandbox.write_plugin_text("junk.so", "this is not a shared library\n");
    let library = sandbox.add_plugin_file("libz.so", &system_library());

    let output = sandbox.run(&[]);

    assert_rejected_before_running(&output, &sandbox);
    assert!(
        output.stderr_names(path_text(&text_file)),
        "the error names the text file {}\n{output}",
        text_file.display()
    );
    assert!(
        output.stderr_names(path_text(&library)),
        "the error names the shared library without a plugin header, {}\n{output}",
        library.display()
    );
}

#[test]
fn skip_broken_runs_remaining_modules() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    let text_file = sandbox.write_plugin_text("junk.so", "this is not a shared library\n");
    let library = sandbox.add_plugin_file("libz.so", &system_library());

    let output = sandbox.run(&["--skip-broken"]);

    // A file that is not a plugin is no module, so it counts neither as failed nor as skipped.
    assert_eq!(
        output.code(),
        Some(0),
        "with --skip-broken the loadable modules run and succeed\n{output}"
    );
    for module in ["alpha", "beta"] {
        assert_eq!(
            output.recap_status(module),
            Some(Status::Changed),
            "`{module}` runs despite the broken files\n{output}"
        );
    }
    for path in [&text_file, &library] {
        assert!(
            !output.lines_naming(path_text(path)).is_empty(),
            "the run names the skipped file {}\n{output}",
            path.display()
        );
    }

    let list = sandbox.list(&["--skip-broken"]);
    assert_eq!(list.code(), Some(0), "list --skip-broken succeeds\n{list}");
    for module in ["alpha", "beta"] {
        assert!(
            !list.lines_naming(module).is_empty(),
            "list shows loadable module `{module}`\n{list}"
        );
    }
    for path in [&text_file, &library] {
        assert!(
            !list.lines_naming(path_text(path)).is_empty(),
            "list names the rejected file {}\n{list}",
            path.display()
        );
    }
}

#[test]
fn duplicate_module_names_are_rejected() {
    let sandbox = Sandbox::with_plugins(&["alpha", "alpha-twin", "beta"]);

    let output = sandbox.run(&[]);

    assert_rejected_before_running(&output, &sandbox);
    for file in ["alpha.so", "alpha-twin.so"] {
        let path = sandbox.plugins().join(file);
        assert!(
            output.stderr_names(path_text(&path)),
            "the error names {}, one of the files exporting `alpha`\n{output}",
            path.display()
        );
    }
    for version in ["1.0.0", "2.0.0"] {
        assert!(
            output.stderr.contains(version),
            "the error names version {version} of `alpha`\n{output}"
        );
    }
}

/// Returns the stderr lines that name `path`, for checks that a rejection takes one line.
fn stderr_lines_naming<'a>(output: &'a Output, path: &Path) -> Vec<&'a str> {
    output
        .stderr
        .lines()
        .filter(|line| line.contains(path_text(path)))
        .collect()
}

#[test]
fn incompatible_interface_layout_is_rejected_in_one_line() {
    let sandbox = Sandbox::with_plugins(&["alpha", "skewed-layout"]);
    let skewed = sandbox.plugins().join("skewed-layout.so");

    let output = sandbox.run(&[]);

    assert_rejected_before_running(&output, &sandbox);
    let lines = stderr_lines_naming(&output, &skewed);
    assert_eq!(
        lines.len(),
        1,
        "one stderr line names the skewed plugin\n{output}"
    );
    assert!(
        lines[0].contains("1.0.3"),
        "the line names the interface version the plugin was built against\n{output}"
    );
    assert!(
        lines[0].contains(&format!("plugin-api {}", plugin_api_version())),
        "the line names this host's interface version\n{output}"
    );
    assert!(
        lines[0].contains(&accepted_versions()),
        "the line names the interface versions this host accepts\n{output}"
    );
    assert!(
        !output.stderr.contains("Type Layout"),
        "the layout comparison is shown only with -v\n{output}"
    );

    let verbose = sandbox.run(&["-v"]);
    assert!(
        verbose.stderr.contains("Type Layout"),
        "-v shows abi_stable's layout comparison\n{verbose}"
    );
}

#[test]
fn incompatible_interface_version_is_rejected_in_one_line() {
    let sandbox = Sandbox::with_plugins(&["alpha", "future-interface"]);
    let future = sandbox.plugins().join("future-interface.so");

    let output = sandbox.run(&[]);

    assert_rejected_before_running(&output, &sandbox);
    let lines = stderr_lines_naming(&output, &future);
    assert_eq!(lines.len(), 1, "one stderr line names the plugin\n{output}");
    assert!(
        lines[0].contains("plugin-api 2.0.0"),
        "the line names the interface version the plugin was built against\n{output}"
    );
    assert!(
        lines[0].contains(&format!("plugin-api {}", plugin_api_version())),
        "the line names this host's interface version\n{output}"
    );
    assert!(
        lines[0].contains(&accepted_versions()),
        "the line names the interface versions this host accepts\n{output}"
    );
}

/// Returns how the host describes the interface versions it accepts: the same major version,
/// minor versions up to its own, such as `1.x from 1.0 up to 1.1`.
fn accepted_versions() -> String {
    let version = plugin_api_version();
    let mut parts = version.split('.');
    let major = parts.next().expect("a major version");
    let minor = parts.next().expect("a minor version");
    assert_ne!(major, "0", "the host's interface is 1.0 or later");
    format!("{major}.x from {major}.0 up to {major}.{minor}")
}

/// Returns the version of the workspace's plugin-api crate, the host's interface version.
fn plugin_api_version() -> String {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-api/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("plugin-api's manifest is readable");
    text.lines()
        .find_map(|line| line.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("plugin-api's manifest has a version line")
        .to_owned()
}

#[test]
fn panic_while_reading_metadata_rejects_the_file() {
    let sandbox = Sandbox::with_plugins(&["alpha", "panicky-constructor"]);
    let panicky = sandbox.plugins().join("panicky-constructor.so");

    let output = sandbox.run(&[]);

    assert_rejected_before_running(&output, &sandbox);
    let lines = stderr_lines_naming(&output, &panicky);
    assert_eq!(lines.len(), 1, "one stderr line names the plugin\n{output}");
    assert!(
        lines[0].contains("constructor refuses to build the module"),
        "the line carries the panic message\n{output}"
    );

    let skipping = sandbox.run(&["--skip-broken"]);
    assert_eq!(
        skipping.code(),
        Some(0),
        "the other module runs with --skip-broken\n{skipping}"
    );
    assert_eq!(
        skipping.recap_status("alpha"),
        Some(Status::Changed),
        "alpha runs\n{skipping}"
    );
}
