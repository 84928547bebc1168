//! The bundled modules from `plugins/`, run with the example configuration on a root seeded
//! like a small Debian system: what they write, and that a second run changes nothing.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use configurator_e2e::{Sandbox, Status, artifacts};
use serde_json::Value;

const SEED_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
const SEED_GROUP: &str = "root:x:0:\nadm:x:4:syslog\nusers:x:100:\nnogroup:x:65534:\n";
const SEED_PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
                           nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";

/// Creates a sandbox with every bundled module, the example configuration, and a root holding
/// the seed `/etc/hosts`, `/etc/group` and `/etc/passwd`.
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

/// Reads every regular file under `dir`, keyed by its path below `dir`, skipping the host's
/// own state: the lock directory, whose sidecar files exist only for locking, and the
/// durations file, which records how long each module ran.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).expect("failed to list the root") {
            let path = entry.expect("failed to list the root").path();
            let relative = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if relative.starts_with("run/configurator/locks")
                || relative == "run/configurator/durations.json"
            {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else {
                files.insert(
                    relative,
                    fs::read(&path).expect("failed to read a root file"),
                );
            }
        }
    }
    files
}

fn read_root(sandbox: &Sandbox, path: &str) -> String {
    let full = sandbox.root().join(path);
    fs::read_to_string(&full).unwrap_or_else(|err| panic!("cannot read {}: {err}", full.display()))
}

#[test]
fn bundled_modules_plan_three_batches() {
    let sandbox = seeded_sandbox();

    let plan = sandbox.plan_json();

    let batches: Vec<(Vec<&str>, bool)> = plan["batches"]
        .as_array()
        .expect("the plan has batches")
        .iter()
        .map(|batch| {
            let modules = batch["modules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|name| name.as_str().unwrap())
                .collect();
            (modules, batch["sequential"] == Value::Bool(true))
        })
        .collect();
    assert_eq!(
        batches,
        [
            (vec!["groups", "sshd", "sysctl", "system"], false),
            (vec!["hosts", "motd", "users"], false),
            (vec!["nss-cache"], true),
        ],
        "the bundled set plans into two parallel levels and the sequential cache module"
    );
}

#[test]
fn bundled_modules_configure_the_root() {
    let sandbox = seeded_sandbox();

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(0), "the first run succeeds\n{output}");
    for module in artifacts().bundled.keys() {
        assert_eq!(
            output.recap_status(module),
            Some(Status::Changed),
            "`{module}` changes the freshly seeded root\n{output}"
        );
    }
    assert!(
        read_root(&sandbox, "etc/hostname").starts_with("web01"),
        "system writes the configured hostname"
    );
    let hosts = read_root(&sandbox, "etc/hosts");
    for seed_line in SEED_HOSTS.lines() {
        assert!(
            hosts.lines().any(|line| line == seed_line),
            "hosts keeps `{seed_line}`\n{hosts}"
        );
    }
    assert!(
        hosts
            .lines()
            .any(|line| line.starts_with("127.0.1.1") && line.contains("web01")),
        "hosts maps the hostname that system wrote\n{hosts}"
    );
    let group = read_root(&sandbox, "etc/group");
    for seed_line in SEED_GROUP.lines() {
        assert!(
            group.lines().any(|line| line == seed_line),
            "group keeps `{seed_line}`\n{group}"
        );
    }
    let ssh_users = group
        .lines()
        .filter(|line| line.starts_with("ssh-users:"))
        .count();
    assert_eq!(
        ssh_users, 1,
        "groups and sshd create ssh-users once between them\n{group}"
    );
    assert!(
        read_root(&sandbox, "etc/passwd")
            .lines()
            .any(|line| line.starts_with("alice:")),
        "users adds alice"
    );
    assert!(
        read_root(&sandbox, "var/cache/configurator/nss.db").contains("alice"),
        "nss-cache snapshots the users that users added"
    );
}

#[test]
fn second_run_of_bundled_modules_changes_nothing() {
    let sandbox = seeded_sandbox();
    let first = sandbox.run(&[]);
    assert_eq!(first.code(), Some(0), "the first run succeeds\n{first}");
    let after_first = snapshot(sandbox.root());

    let second = sandbox.run(&[]);

    assert_eq!(second.code(), Some(0), "the second run succeeds\n{second}");
    for module in artifacts().bundled.keys() {
        assert_eq!(
            second.recap_status(module),
            Some(Status::Unchanged),
            "`{module}` finds nothing to change on the second run\n{second}"
        );
    }
    assert_eq!(
        snapshot(sandbox.root()),
        after_first,
        "the second run leaves every file under the root as the first run left it"
    );
}
