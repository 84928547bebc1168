//! Plugins built against an earlier compatible plugin-api release keep loading and running in
//! the current host. The fixture in `tests/fixtures/legacy` holds a frozen copy of plugin-api
//! 1.0.0 and a plugin built against it.

use std::fs;

use configurator_e2e::{Sandbox, Status, artifacts};

#[test]
fn plugin_built_against_plugin_api_1_0_runs() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    sandbox.add_plugin_file("legacy.so", &artifacts().legacy);

    let output = sandbox.run(&[]);

    assert_eq!(
        output.code(),
        Some(0),
        "the legacy plugin loads and runs\n{output}"
    );
    assert_eq!(
        output.recap_status("legacy"),
        Some(Status::Changed),
        "the legacy module reports its change\n{output}"
    );
    let log = fs::read_to_string(sandbox.root().join("legacy.log"))
        .expect("the legacy module wrote /legacy.log under the root");
    assert_eq!(
        log, "legacy ran\n",
        "the legacy module's file lock and path resolution work"
    );
}

#[test]
fn list_shows_interface_version_of_legacy_plugin() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    sandbox.add_plugin_file("legacy.so", &artifacts().legacy);

    let output = sandbox.list(&["--format", "json"]);

    assert_eq!(output.code(), Some(0), "list succeeds\n{output}");
    let listing: serde_json::Value =
        serde_json::from_str(&output.stdout).expect("list --format json prints JSON");
    let legacy = listing["modules"]
        .as_array()
        .expect("the listing has modules")
        .iter()
        .find(|module| module["name"] == "legacy")
        .expect("the listing shows the legacy module");
    assert_eq!(legacy["interface_version"], "1.0.0", "{legacy}");
    assert_eq!(legacy["version"], "0.9.0", "{legacy}");
    assert_eq!(
        legacy["after"],
        serde_json::json!([]),
        "plugin-api 1.0 has no `after` function, so the list is empty: {legacy}"
    );
}
