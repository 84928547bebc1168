//! The bundled modules from `plugins/`, run on a root seeded like a small Debian system.
//!
//! With the example configuration the tests check what they write and that a second run
//! changes nothing. Without settings they must change nothing. The remaining tests pin down
//! single-module failures: unsafe defaults, a group created twice, a cache path over an input
//! file, a hosts entry that cannot move, and a FIFO that blocked a read.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

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

fn write_root(sandbox: &Sandbox, path: &str, text: &str) {
    let full = sandbox.root().join(path);
    fs::create_dir_all(full.parent().unwrap()).expect("failed to create a root directory");
    fs::write(&full, text).unwrap_or_else(|err| panic!("cannot write {}: {err}", full.display()));
}

/// Returns the batches of the plan as module names, each with whether it is sequential.
fn planned_batches(sandbox: &Sandbox) -> Vec<(Vec<String>, bool)> {
    let plan = sandbox.plan_json();
    plan["batches"]
        .as_array()
        .expect("the plan has batches")
        .iter()
        .map(|batch| {
            let modules = batch["modules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|name| name.as_str().unwrap().to_owned())
                .collect();
            (modules, batch["sequential"] == Value::Bool(true))
        })
        .collect()
}

#[test]
fn bundled_modules_plan_three_batches() {
    let sandbox = seeded_sandbox();

    let batches = planned_batches(&sandbox);

    let expected: Vec<(Vec<String>, bool)> = [
        (vec!["groups", "sysctl", "system"], false),
        (vec!["hosts", "motd", "sshd", "users"], false),
        (vec!["nss-cache"], true),
    ]
    .into_iter()
    .map(|(modules, sequential)| (modules.into_iter().map(str::to_owned).collect(), sequential))
    .collect();
    assert_eq!(
        batches, expected,
        "sshd waits for groups, which owns the groups; sshd and users then share a batch and \
         /etc/group under its lock; the sequential cache module comes last"
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
    let ssh_users: Vec<&str> = group
        .lines()
        .filter(|line| line.starts_with("ssh-users:"))
        .collect();
    assert_eq!(
        ssh_users,
        ["ssh-users:x:3000:alice,bob"],
        "groups creates ssh-users with its configured gid, and sshd leaves it alone\n{group}"
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

#[test]
fn bundled_modules_without_settings_change_nothing() {
    let sandbox = seeded_sandbox();
    sandbox.write_config("");
    write_root(&sandbox, "etc/hostname", "debian\n");
    write_root(&sandbox, "etc/timezone", "Etc/UTC\n");
    let before = snapshot(sandbox.root());

    let output = sandbox.run(&[]);

    assert_eq!(output.code(), Some(0), "the run succeeds\n{output}");
    for module in artifacts().bundled.keys() {
        assert_eq!(
            output.recap_status(module),
            Some(Status::Unchanged),
            "`{module}` has nothing configured\n{output}"
        );
    }
    assert_eq!(
        read_root(&sandbox, "etc/group"),
        SEED_GROUP,
        "sshd creates no AllowGroups group it was not given"
    );
    assert!(
        !sandbox.root().join("etc/ssh").exists(),
        "sshd writes no drop-in without directives"
    );
    assert_eq!(
        snapshot(sandbox.root()),
        before,
        "no file under the root changes"
    );
}

#[test]
fn system_records_current_values_it_does_not_set() {
    let sandbox = seeded_sandbox();
    sandbox.write_config("[modules.system]\nenvironment = \"staging\"\n");
    write_root(&sandbox, "etc/hostname", "debian\n");
    write_root(&sandbox, "etc/timezone", "Etc/UTC\n");

    let output = sandbox.run(&["--only", "hosts"]);

    assert_eq!(output.code(), Some(0), "the run succeeds\n{output}");
    assert_eq!(read_root(&sandbox, "etc/hostname"), "debian\n");
    assert_eq!(read_root(&sandbox, "etc/timezone"), "Etc/UTC\n");
    let recorded: Vec<String> = read_root(&sandbox, "etc/system_config")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        recorded,
        ["hostname=debian", "timezone=Etc/UTC", "environment=staging"],
        "system records the configured environment and the current hostname and timezone"
    );
    assert!(
        read_root(&sandbox, "etc/hosts")
            .lines()
            .any(|line| line == "127.0.1.1\tdebian"),
        "hosts maps the recorded hostname\n{output}"
    );
}

#[test]
fn hosts_never_maps_localhost() {
    let sandbox = seeded_sandbox();
    sandbox.write_config("[modules.system]\nenvironment = \"staging\"\n");
    write_root(&sandbox, "etc/hostname", "localhost\n");

    let output = sandbox.run(&["--only", "hosts"]);

    assert_eq!(output.code(), Some(0), "the run succeeds\n{output}");
    assert!(
        read_root(&sandbox, "etc/system_config").contains("hostname=localhost\n"),
        "system records the current hostname"
    );
    assert_eq!(
        output.recap_status("hosts"),
        Some(Status::Unchanged),
        "{output}"
    );
    assert_eq!(read_root(&sandbox, "etc/hosts"), SEED_HOSTS);
}

#[test]
fn groups_owns_gid_of_allowed_group() {
    for schedule in ["batches", "eager"] {
        for seed in ["1", "2"] {
            let sandbox = seeded_sandbox();

            let output = sandbox.run(&["--schedule", schedule, &format!("--shuffle={seed}")]);

            assert_eq!(output.code(), Some(0), "the run succeeds\n{output}");
            let group = read_root(&sandbox, "etc/group");
            assert!(
                group
                    .lines()
                    .any(|line| line == "ssh-users:x:3000:alice,bob"),
                "ssh-users has the gid from [modules.groups] ({schedule}, seed {seed})\n\
                 {group}\n{output}"
            );
        }
    }
}

#[test]
fn sshd_creates_allowed_group_still_missing() {
    let sandbox = seeded_sandbox();
    sandbox.write_config(
        "[[modules.groups.group]]\nname = \"staff\"\ngid = 3000\n\n\
         [modules.sshd]\nallow_groups = [\"staff\", \"sftp-users\"]\n",
    );

    let output = sandbox.run(&["--only", "sshd"]);

    assert_eq!(output.code(), Some(0), "the run succeeds\n{output}");
    let group = read_root(&sandbox, "etc/group");
    assert_eq!(
        group,
        format!("{SEED_GROUP}staff:x:3000:\nsftp-users:x:1000:\n"),
        "groups creates staff, then sshd creates only the missing sftp-users with a free gid"
    );
    assert_eq!(
        read_root(&sandbox, "etc/ssh/sshd_config.d/50-configurator.conf"),
        "# Managed by Configurator (module sshd). Local changes are overwritten.\n\
         AllowGroups staff sftp-users\n",
        "the drop-in has only the configured directive"
    );
}

#[test]
fn sshd_and_users_both_lock_group_file() {
    let sandbox = seeded_sandbox();

    let output = sandbox.run(&["-vv"]);

    assert_eq!(output.code(), Some(0), "the run succeeds\n{output}");
    let group_path = sandbox.root().join("etc/group").display().to_string();
    for module in ["sshd", "users"] {
        let acquired = output.stderr.lines().any(|line| {
            line.contains("lock acquired")
                && line.contains(&format!("module={module} "))
                && line.contains(&format!("path={group_path}"))
        });
        assert!(acquired, "`{module}` takes the /etc/group lock\n{output}");
    }
}

#[test]
fn nss_cache_rejects_account_file_as_cache() {
    let sandbox = seeded_sandbox();
    sandbox.write_config("[modules.nss-cache]\ncache_path = \"/etc/passwd\"\n");

    let output = sandbox.run(&["--only", "nss-cache"]);

    assert_eq!(output.code(), Some(1), "the run fails\n{output}");
    assert_eq!(
        output.recap_status("nss-cache"),
        Some(Status::Failed),
        "{output}"
    );
    assert!(
        output
            .all_text()
            .contains("expected a file path under /var/cache/"),
        "the error states the rule\n{output}"
    );
    assert!(
        output.all_text().contains("found `/etc/passwd`"),
        "the error names the path\n{output}"
    );
    assert_eq!(read_root(&sandbox, "etc/passwd"), SEED_PASSWD);
}

#[test]
fn nss_cache_rejects_cache_linked_to_account_file() {
    let sandbox = seeded_sandbox();
    sandbox.write_config("[modules.nss-cache]\ncache_path = \"/var/cache/configurator/nss.db\"\n");
    let cache_dir = sandbox.root().join("var/cache/configurator");
    fs::create_dir_all(&cache_dir).unwrap();
    std::os::unix::fs::symlink("../../../etc/group", cache_dir.join("nss.db")).unwrap();

    let output = sandbox.run(&["--only", "nss-cache"]);

    assert_eq!(output.code(), Some(1), "the run fails\n{output}");
    let expected = format!(
        "/var/cache/configurator/nss.db resolves to {}, which is the input file /etc/group",
        sandbox.root().join("etc/group").display()
    );
    assert!(
        output.all_text().contains(&expected),
        "the error names both paths\n{output}"
    );
    assert_eq!(read_root(&sandbox, "etc/group"), SEED_GROUP);
}

#[test]
fn hosts_entry_moves_to_new_address() {
    let sandbox = seeded_sandbox();
    sandbox.write_config("[modules.hosts]\nentries = [\"192.0.2.10 db.example.com db\"]\n");
    let first = sandbox.run(&["--only", "hosts"]);
    assert_eq!(first.code(), Some(0), "the first run succeeds\n{first}");
    sandbox.write_config("[modules.hosts]\nentries = [\"192.0.2.11 db.example.com db\"]\n");

    let second = sandbox.run(&["--only", "hosts"]);

    assert_eq!(second.code(), Some(0), "the second run succeeds\n{second}");
    assert_eq!(
        read_root(&sandbox, "etc/hosts"),
        format!("{SEED_HOSTS}192.0.2.11\tdb.example.com db\n"),
        "the new address replaces the old line"
    );
    let recap = second.recap_line("hosts").unwrap_or_default();
    assert!(
        recap.contains(
            "replaced `192.0.2.10 db.example.com db` with `192.0.2.11 db.example.com db`"
        ),
        "the recap reports the replacement\n{second}"
    );
    let third = sandbox.run(&["--only", "hosts"]);
    assert_eq!(
        third.recap_status("hosts"),
        Some(Status::Unchanged),
        "{third}"
    );
}

#[test]
fn hosts_rejects_fifo_without_blocking() {
    let sandbox = seeded_sandbox();
    sandbox.write_config("[modules.hosts]\nentries = [\"192.0.2.10 db\"]\n");
    let hosts = sandbox.root().join("etc/hosts");
    fs::remove_file(&hosts).unwrap();
    let status = Command::new("mkfifo").arg(&hosts).status().unwrap();
    assert!(status.success(), "mkfifo failed");

    // A module blocked on the FIFO times out after 30 seconds, and the harness kills the
    // process after its own limit, so a regression fails the test instead of hanging it.
    let output = sandbox.run(&["--only", "hosts", "--timeout", "30"]);

    assert_eq!(output.code(), Some(1), "the run fails\n{output}");
    assert_eq!(
        output.recap_status("hosts"),
        Some(Status::Failed),
        "{output}"
    );
    let expected = format!("cannot read {}: it is not a regular file", hosts.display());
    assert!(
        output.all_text().contains(&expected),
        "the error names the path\n{output}"
    );
}
