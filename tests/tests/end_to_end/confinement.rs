//! Paths a module passes to its context stay inside the run's root: `..` above the root,
//! absolute symlinks and symlinks pointing outside are rejected with the path named, and every
//! spelling of one file is one lock.

use std::fs;
use std::os::unix::fs::symlink;

use configurator_e2e::{Sandbox, Status};

/// Runs `alpha` writing to `path` and returns the output.
fn write_through(sandbox: &Sandbox, path: &str) -> configurator_e2e::Output {
    sandbox.write_config(&format!("[modules.alpha]\nwrite_files = [{path:?}]\n"));
    sandbox.run(&[])
}

#[test]
fn escape_attempts_are_rejected() {
    let outside = tempfile::tempdir().expect("failed to create a directory outside the root");
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    let etc = sandbox.root().join("etc");
    fs::create_dir(&etc).unwrap();
    symlink(outside.path().join("target"), etc.join("absolute-out")).unwrap();
    symlink("../../outside-file", etc.join("relative-out")).unwrap();
    symlink(outside.path(), sandbox.root().join("dir-out")).unwrap();

    for path in [
        "/../escaped",
        "/etc/absolute-out",
        "/etc/relative-out",
        "/dir-out/file",
    ] {
        let output = write_through(&sandbox, path);

        assert_eq!(
            output.code(),
            Some(1),
            "the escape through {path} fails the module\n{output}"
        );
        assert_eq!(
            output.recap_status("alpha"),
            Some(Status::Failed),
            "{output}"
        );
        assert!(
            output.all_text().contains(path),
            "the error names the path {path}\n{output}"
        );
    }
    let leaked: Vec<_> = fs::read_dir(outside.path()).unwrap().collect();
    assert!(
        leaked.is_empty(),
        "nothing was written outside the root: {leaked:?}"
    );
    assert!(
        !sandbox.path().join("outside-file").exists(),
        "nothing was written beside the root"
    );
}

#[test]
fn symlink_inside_root_is_followed() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    let etc = sandbox.root().join("etc");
    fs::create_dir(&etc).unwrap();
    symlink("hosts", etc.join("hosts-link")).unwrap();

    let output = write_through(&sandbox, "/etc/hosts-link");

    assert_eq!(
        output.code(),
        Some(0),
        "a symlink inside the root is fine\n{output}"
    );
    assert_eq!(
        fs::read_to_string(etc.join("hosts")).unwrap(),
        "written by alpha\n",
        "the write went to the symlink's target"
    );
}

#[test]
fn spellings_of_one_file_share_one_lock() {
    let sandbox = Sandbox::with_plugins(&["alpha"]);
    let etc = sandbox.root().join("etc");
    fs::create_dir(&etc).unwrap();
    symlink("hosts", etc.join("hosts-link")).unwrap();
    sandbox.write_config(
        "[modules.alpha]\nwrite_files = [\"/etc/hosts\", \"/etc/../etc/hosts-link\"]\n",
    );

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(0), "{output}");
    let locks: Vec<String> = fs::read_dir(sandbox.root().join("run/configurator/locks"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        locks,
        ["etc%2Fhosts.lock"],
        "both spellings locked one sidecar file"
    );
}

#[test]
fn write_to_root_fails_before_creating_anything() {
    let sandbox = Sandbox::with_plugins(&["writer-a"]);
    sandbox.write_config("[modules.writer-a]\nwrite_files = [\"/\"]\n");

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(1), "{output}");
    assert_eq!(
        output.recap_status("writer-a"),
        Some(Status::Failed),
        "{output}"
    );
    let root = fs::canonicalize(sandbox.root()).unwrap();
    assert!(
        output.all_text().contains(&format!(
            "cannot write {}: it is the run's root directory",
            root.display()
        )),
        "the error names the root\n{output}"
    );
    assert!(
        !output.all_text().contains("temporary file"),
        "the write failed before it created a temporary file\n{output}"
    );
    let temporary: Vec<String> = names_in(sandbox.path())
        .into_iter()
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert_eq!(
        temporary,
        Vec::<String>::new(),
        "no temporary file was left beside the root"
    );
}

/// Returns the sorted names in `dir`.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
