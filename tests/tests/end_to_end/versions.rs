//! Two plugin files providing one module: a `version` pin in the module's table picks one, and
//! a pin no file satisfies is an error. `alpha.so` provides `alpha` 1.0.0 and `alpha-twin.so`
//! provides `alpha` 2.0.0.

use configurator_e2e::{Sandbox, Status};
use serde_json::Value;

use crate::path_text;

#[test]
fn version_pin_picks_one_of_two_files() {
    let sandbox = Sandbox::with_plugins(&["alpha", "alpha-twin", "beta"]);
    let older = sandbox.plugins().join("alpha.so");
    let newer = sandbox.plugins().join("alpha-twin.so");
    sandbox.write_config("[modules.alpha]\nversion = \"2.0.0\"\n");

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(
        output.recap_status("alpha"),
        Some(Status::Changed),
        "{output}"
    );
    let notes = output.lines_naming(path_text(&older));
    assert!(
        notes.iter().any(|line| line.contains("version 1.0.0")
            && line.contains("pins module `alpha` to version 2.0.0")),
        "a note says why {} is left out\n{output}",
        older.display()
    );

    let listing = sandbox.list(&["--format", "json"]);
    let listing: Value = serde_json::from_str(&listing.stdout).expect("list prints JSON");
    let entry = |path: &std::path::Path| {
        listing["modules"]
            .as_array()
            .expect("modules")
            .iter()
            .find(|module| module["path"] == path_text(path))
            .cloned()
            .unwrap_or_else(|| panic!("{} is listed: {listing}", path.display()))
    };
    assert!(entry(&older)["ignored"].is_string(), "{listing}");
    assert!(entry(&newer).get("ignored").is_none(), "{listing}");
}

#[test]
fn pin_of_older_version_picks_the_older_file() {
    let sandbox = Sandbox::with_plugins(&["alpha", "alpha-twin"]);
    sandbox.write_config("[modules.alpha]\nversion = \"1.0.0\"\n");

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(0), "{output}");
    let twin = sandbox.plugins().join("alpha-twin.so");
    assert!(
        output
            .lines_naming(path_text(&twin))
            .iter()
            .any(|line| line.contains("version 2.0.0")),
        "the note names the file left out\n{output}"
    );
}

#[test]
fn unsatisfied_version_pin_is_an_error() {
    let sandbox = Sandbox::with_plugins(&["alpha", "alpha-twin"]);
    sandbox.write_config("[modules.alpha]\nversion = \"3.0.0\"\n");

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(2), "{output}");
    assert!(
        output.stderr.contains("pinned to version 3.0.0"),
        "{output}"
    );
    for (file, version) in [("alpha.so", "1.0.0"), ("alpha-twin.so", "2.0.0")] {
        let path = sandbox.plugins().join(file);
        assert!(
            output
                .stderr
                .contains(&format!("{} (version {version})", path.display())),
            "the error names {} and its version\n{output}",
            path.display()
        );
    }
    assert_eq!(sandbox.modules_that_ran(), Vec::<String>::new(), "{output}");
}

#[test]
fn pin_of_missing_module_is_an_error() {
    let sandbox = Sandbox::with_plugins(&["beta"]);
    sandbox.write_config("[modules.alpha]\nversion = \"1.0.0\"\n");

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(2), "{output}");
    assert!(
        output.stderr.contains("no plugin file provides the module"),
        "{output}"
    );
}

#[test]
fn copies_of_one_version_are_named_as_such() {
    let sandbox = Sandbox::with_plugins(&["alpha", "beta"]);
    let original = sandbox.plugins().join("alpha.so");
    let bytes = std::fs::read(&original).expect("failed to read alpha.so");
    let copy = sandbox.write_plugin_bytes("alpha-copy.so", &bytes);

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(2), "{output}");
    let expected = format!(
        "module `alpha`: {} (version 1.0.0), {} (version 1.0.0); a version pin cannot choose \
         between files of one version",
        path_text(&copy),
        path_text(&original)
    );
    assert!(output.stderr.contains(&expected), "{expected}\n{output}");
    assert_eq!(sandbox.modules_that_ran(), Vec::<String>::new(), "{output}");
}
