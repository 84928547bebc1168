//! The `nss-cache` module: a snapshot of `/etc/passwd` and `/etc/group` sorted by numeric id.
//!
//! # Settings
//!
//! - `cache_path`: the cache file, such as `/var/cache/configurator/nss.db`. Unset by default,
//!   and then the module writes nothing and reports `unchanged`. The path must lie under
//!   `/var/cache/`, so that the cache can never replace a file under `/etc` or the host's lock
//!   directory. After following symlinks under the run's root, it must still lie under
//!   `/var/cache/` and must not be `/etc/passwd` or `/etc/group`. Either mistake is an error
//!   naming the path.
//!
//! # Files
//!
//! It owns the cache file and rebuilds it from both account files: it reads each through
//! `plugin_api::fs` and has `sort` from coreutils order its entries, passed on `sort`'s
//! standard input. An account file that is not a regular file, such as a FIFO or a symlink to
//! a device, is an error, because reading it could block or never finish. The cache is
//! replaced, under its lock, only when the new snapshot differs from the one in place.
//!
//! # Check mode
//!
//! The module supports check mode. `sort` only reads its input, so it runs in a check run as
//! well. The account files then read as the modules before this one would have left them, so
//! the snapshot it records instead of writing is the one a real run would write.
//!
//! # Why it runs sequentially
//!
//! [`NssCacheModule`] sets `force_sequential`, so the host runs it with no other module
//! running, and it lists every bundled module that edits the two files in `depends_on`:
//!
//! - The cache must be one consistent snapshot of two files. A per-file lock keeps writers
//!   off one file at a time, so another module could replace `/etc/group` between the reads
//!   of `/etc/passwd` and `/etc/group`. Taking both locks at once would deadlock against any
//!   module that takes them in the opposite order.
//!
//! NOTE: running alone excludes only the modules of this run. Another Configurator process on
//! the same root could still change the account files mid-snapshot. The lock on the cache
//! file only keeps two processes from replacing the cache at the same time.
//!
//! Read [`NssCacheModule::configure`] first.

use std::ffi::OsStr;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;

use plugin_api::anyhow::{Context as _, Result, bail};
use plugin_api::fs::read_to_string_if_exists;
use plugin_api::{ConfigurationModule, Context, Outcome};
use serde::Deserialize;

/// The external tool that sorts the entries, looked up in `PATH`.
const SORT_PROGRAM: &str = "sort";

/// Mode of the cache file when the module creates it. World-readable is safe because the
/// cache contains nothing that `/etc/passwd` and `/etc/group` do not already show every user.
const NEW_FILE_MODE: u32 = 0o644;

/// The directory the cache file must lie under.
const CACHE_DIR: &str = "/var/cache";

/// The account files the cache is built from, in the order of its sections.
const INPUT_FILES: [&str; 2] = ["/etc/passwd", "/etc/group"];

/// Settings from `[modules.nss-cache]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// System path of the cache file. `None` writes no cache.
    cache_path: Option<String>,
}

impl Settings {
    fn validate(&self) -> Result<()> {
        match &self.cache_path {
            Some(cache_path) => validate_cache_path(cache_path),
            None => Ok(()),
        }
    }
}

/// Checks the form of a configured cache path: a file below [`CACHE_DIR`], without empty, `.`
/// or `..` components and without control characters.
fn validate_cache_path(cache_path: &str) -> Result<()> {
    let below_cache_dir = cache_path
        .strip_prefix(CACHE_DIR)
        .and_then(|rest| rest.strip_prefix('/'));
    let valid = below_cache_dir.is_some_and(|rest| {
        rest.split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
    }) && !cache_path.chars().any(char::is_control);
    if !valid {
        bail!(
            "invalid `cache_path` in [modules.nss-cache]: expected a file path under \
             {CACHE_DIR}/ such as `/var/cache/configurator/nss.db`, found `{}`",
            cache_path.escape_debug()
        );
    }
    Ok(())
}

/// Resolves the cache path under the run's root and rejects it when symlinks make it an input
/// file or take it out of [`CACHE_DIR`].
fn resolve_cache_path(ctx: &Context, cache_path: &str) -> Result<PathBuf> {
    let resolved = ctx.resolve(cache_path)?;
    let mut inputs = Vec::new();
    for input in INPUT_FILES {
        inputs.push((input, ctx.resolve(input)?));
    }
    check_resolved_cache_path(cache_path, &resolved, &inputs, &ctx.resolve(CACHE_DIR)?)?;
    Ok(resolved)
}

/// Fails when `resolved`, the resolved form of `cache_path`, is one of the resolved `inputs`
/// (pairs of system path and resolved path) or lies outside `cache_dir`, the resolved
/// [`CACHE_DIR`].
fn check_resolved_cache_path(
    cache_path: &str,
    resolved: &Path,
    inputs: &[(&str, PathBuf)],
    cache_dir: &Path,
) -> Result<()> {
    if let Some((input, _)) = inputs.iter().find(|(_, input)| input == resolved) {
        bail!(
            "invalid `cache_path` in [modules.nss-cache]: {cache_path} resolves to {}, which is \
             the input file {input}; choose a file of its own under {CACHE_DIR}/",
            resolved.display()
        );
    }
    if !resolved.starts_with(cache_dir) || resolved == cache_dir {
        bail!(
            "invalid `cache_path` in [modules.nss-cache]: {cache_path} resolves to {}, outside \
             {}; remove the symlink that leads out of {CACHE_DIR}/",
            resolved.display(),
            cache_dir.display()
        );
    }
    Ok(())
}

/// The `nss-cache` module.
#[derive(Debug, Default)]
pub struct NssCacheModule;

impl ConfigurationModule for NssCacheModule {
    fn name(&self) -> &str {
        "nss-cache"
    }

    fn description(&self) -> &str {
        "Rebuilds a sorted snapshot of /etc/passwd and /etc/group"
    }

    fn depends_on(&self) -> &[&str] {
        &["users", "groups", "sshd"]
    }

    /// Runs alone, for the reasons in the crate documentation.
    fn force_sequential(&self) -> bool {
        true
    }

    /// Returns `true`: every write goes through the lock guard, and `sort` only reads, as the
    /// crate documentation explains.
    fn supports_check(&self) -> bool {
        true
    }

    /// Sorts both account files, then replaces the cache under its lock when the snapshot
    /// differs.
    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        let settings: Settings = ctx.settings()?;
        settings.validate()?;
        let Some(cache_path) = &settings.cache_path else {
            return Ok(Outcome::unchanged(
                "nothing configured: no cache_path in [modules.nss-cache]",
            ));
        };
        resolve_cache_path(ctx, cache_path)?;

        let [passwd_path, group_path] = INPUT_FILES;
        let passwd = sorted_entries(ctx, passwd_path)?;
        let group = sorted_entries(ctx, group_path)?;
        let desired = cache_text(&passwd, &group);

        let lock = ctx.file_lock(cache_path)?;
        if lock.read_to_string()?.as_deref() == Some(desired.as_str()) {
            return Ok(Outcome::unchanged(format!(
                "{cache_path} already matches /etc/passwd and /etc/group"
            )));
        }

        lock.write_atomic(&desired, NEW_FILE_MODE)?;
        ctx.info(format_args!("wrote {cache_path}"));
        Ok(Outcome::changed(format!(
            "wrote {cache_path} with {} users and {} groups",
            passwd.lines().count(),
            group.lines().count()
        )))
    }
}

plugin_api::export_module!(NssCacheModule, settings = Settings);

/// Returns the entries of one account file sorted by id, or an empty text with a warning when
/// the file does not exist.
///
/// The file is read through `plugin_api::fs`, which rejects anything but a regular file and in
/// check mode returns what an earlier module of the run would have written.
fn sorted_entries(ctx: &Context, system_path: &str) -> Result<String> {
    let path = ctx.resolve(system_path)?;
    let Some(text) = read_to_string_if_exists(&path)? else {
        ctx.warn(format_args!(
            "{system_path} does not exist; its section of the cache is empty"
        ));
        return Ok(String::new());
    };
    let sorted = sort_by_id(OsStr::new(SORT_PROGRAM), &path, &text)?;
    Ok(entry_lines(&sorted))
}

/// Runs `program` as POSIX `sort` over `text`, the colon-separated content of the file at
/// `path`, which only names the file in errors.
///
/// Lines are ordered by the numeric third field (the uid or gid), then by name, in the C locale
/// so that the order does not depend on the machine's locale.
fn sort_by_id(program: &OsStr, path: &Path, text: &str) -> Result<String> {
    let program_name = program.to_string_lossy();
    let child = Command::new(program)
        .args(["-t", ":", "-k", "3,3n", "-k", "1,1"])
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) if err.kind() == io::ErrorKind::NotFound => bail!(
            "external tool `{program_name}` not found in PATH; install coreutils, which provides \
             it"
        ),
        Err(err) => {
            return Err(err).with_context(|| format!("failed to run `{program_name}`"));
        }
    };

    // The input is written from a second thread while this one collects the output, so that
    // neither side waits for the other with a full pipe.
    let mut stdin = child.stdin.take().expect("stdin was requested as a pipe");
    let (written, output) = thread::scope(|scope| {
        let writer = scope.spawn(move || stdin.write_all(text.as_bytes()));
        let output = child.wait_with_output();
        (writer.join(), output)
    });
    let output = output.with_context(|| format!("failed to run `{program_name}`"))?;
    match written {
        Ok(Ok(())) => {}
        // A tool that exits without reading all of its input is reported by its exit status.
        Ok(Err(err)) if err.kind() == io::ErrorKind::BrokenPipe => {}
        Ok(Err(err)) => {
            return Err(err)
                .with_context(|| format!("failed to pass {} to `{program_name}`", path.display()));
        }
        Err(_) => bail!(
            "the thread passing {} to `{program_name}` panicked",
            path.display()
        ),
    }

    if !output.status.success() {
        bail!(
            "`{program_name}` failed on {} ({}): {}",
            path.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).with_context(|| {
        format!(
            "`{program_name}` returned invalid UTF-8 for {}",
            path.display()
        )
    })
}

/// Drops blank and comment lines from sorted output, keeping one entry per line.
fn entry_lines(sorted: &str) -> String {
    let mut entries = String::new();
    for line in sorted.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        entries.push_str(line);
        entries.push('\n');
    }
    entries
}

/// Builds the cache file's text: a header, then the `[passwd]` and `[group]` sections.
fn cache_text(passwd: &str, group: &str) -> String {
    format!(
        "# Configurator NSS snapshot: entries of /etc/passwd and /etc/group sorted by id.\n\
         [passwd]\n{passwd}[group]\n{group}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_orders_entries_by_numeric_id() {
        let text = "alice:x:1000:100::/home/alice:/bin/bash\n\
                    root:x:0:0:root:/root:/bin/bash\n\
                    nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n\
                    daemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n\
                    bob:x:999:100::/home/bob:/bin/bash\n";

        let sorted = sort_by_id(OsStr::new(SORT_PROGRAM), Path::new("/etc/passwd"), text).unwrap();

        let names: Vec<_> = sorted
            .lines()
            .map(|line| line.split(':').next().unwrap())
            .collect();
        assert_eq!(names, ["root", "daemon", "bob", "alice", "nobody"]);
    }

    #[test]
    fn sort_breaks_id_ties_by_name() {
        let text = "zeta:x:1000:\nalpha:x:1000:\n";

        let sorted = sort_by_id(OsStr::new(SORT_PROGRAM), Path::new("/etc/group"), text).unwrap();

        assert_eq!(sorted, "alpha:x:1000:\nzeta:x:1000:\n");
    }

    #[test]
    fn sort_reads_input_larger_than_a_pipe() {
        // Far more than a pipe's default 64 KiB buffer on Linux.
        let text: String = (0..20_000)
            .rev()
            .map(|id| format!("user{id}:x:{id}:{id}::/home/user{id}:/bin/sh\n"))
            .collect();

        let sorted = sort_by_id(OsStr::new(SORT_PROGRAM), Path::new("/etc/passwd"), &text).unwrap();

        assert_eq!(sorted.lines().count(), 20_000);
        assert!(sorted.starts_with("user0:"), "{}", &sorted[..40]);
    }

    #[test]
    fn missing_sort_tool_is_named_in_error() {
        let error = sort_by_id(
            OsStr::new("configurator-test-no-such-sort"),
            Path::new("/etc/group"),
            "root:x:0:\n",
        )
        .unwrap_err();

        assert_eq!(
            error.to_string(),
            "external tool `configurator-test-no-such-sort` not found in PATH; install \
             coreutils, which provides it"
        );
    }

    #[test]
    fn sort_failure_includes_tool_output() {
        // `ls` rejects the sort arguments as missing files, on stderr and with a failure status.
        let error =
            sort_by_id(OsStr::new("ls"), Path::new("/etc/group"), "root:x:0:\n").unwrap_err();

        let message = error.to_string();
        assert!(
            message.starts_with("`ls` failed on /etc/group"),
            "{message}"
        );
        assert!(message.contains("3,3n"), "{message}");
    }

    #[test]
    fn entry_lines_drops_blank_and_comment_lines() {
        let entries = entry_lines("\n# comment\nroot:x:0:\n  \nstaff:x:50:\n");

        assert_eq!(entries, "root:x:0:\nstaff:x:50:\n");
    }

    #[test]
    fn cache_has_both_sections_in_order() {
        let text = cache_text("root:x:0:0:root:/root:/bin/bash\n", "root:x:0:\n");

        assert_eq!(
            text,
            "# Configurator NSS snapshot: entries of /etc/passwd and /etc/group sorted by id.\n\
             [passwd]\n\
             root:x:0:0:root:/root:/bin/bash\n\
             [group]\n\
             root:x:0:\n"
        );
    }

    #[test]
    fn cache_with_empty_sections_keeps_headers() {
        assert!(cache_text("", "").ends_with("[passwd]\n[group]\n"));
    }

    #[test]
    fn cache_path_accepts_files_under_var_cache() {
        for cache_path in ["/var/cache/configurator/nss.db", "/var/cache/nss.db"] {
            assert!(validate_cache_path(cache_path).is_ok(), "{cache_path}");
        }
    }

    #[test]
    fn cache_path_rejects_paths_outside_var_cache() {
        for cache_path in [
            "nss.db",
            "/etc/passwd",
            "/etc/group",
            "/run/configurator/locks/nss.db",
            "/var/cache",
            "/var/cache/",
            "/var/cachex/nss.db",
            "/var/cache/../../etc/passwd",
            "/var/cache/./nss.db",
            "/var/cache//nss.db",
            "/var/cache/configurator/",
            "/var/cache/nss\n.db",
        ] {
            assert!(validate_cache_path(cache_path).is_err(), "{cache_path:?}");
        }
    }

    #[test]
    fn cache_path_error_names_the_path_and_rule() {
        let error = validate_cache_path("/etc/passwd").unwrap_err();

        assert_eq!(
            error.to_string(),
            "invalid `cache_path` in [modules.nss-cache]: expected a file path under \
             /var/cache/ such as `/var/cache/configurator/nss.db`, found `/etc/passwd`"
        );
    }

    fn resolved_inputs() -> Vec<(&'static str, PathBuf)> {
        vec![
            ("/etc/passwd", PathBuf::from("/root/etc/passwd")),
            ("/etc/group", PathBuf::from("/root/etc/group")),
        ]
    }

    #[test]
    fn resolved_cache_path_under_cache_dir_is_accepted() {
        check_resolved_cache_path(
            "/var/cache/configurator/nss.db",
            Path::new("/root/var/cache/configurator/nss.db"),
            &resolved_inputs(),
            Path::new("/root/var/cache"),
        )
        .unwrap();
    }

    #[test]
    fn resolved_cache_path_rejects_input_file() {
        let error = check_resolved_cache_path(
            "/var/cache/nss.db",
            Path::new("/root/etc/passwd"),
            &resolved_inputs(),
            Path::new("/root/var/cache"),
        )
        .unwrap_err();

        assert_eq!(
            error.to_string(),
            "invalid `cache_path` in [modules.nss-cache]: /var/cache/nss.db resolves to \
             /root/etc/passwd, which is the input file /etc/passwd; choose a file of its own \
             under /var/cache/"
        );
    }

    #[test]
    fn resolved_cache_path_rejects_path_outside_cache_dir() {
        let error = check_resolved_cache_path(
            "/var/cache/configurator/nss.db",
            Path::new("/root/etc/nss.db"),
            &resolved_inputs(),
            Path::new("/root/var/cache"),
        )
        .unwrap_err();

        assert!(
            error
                .to_string()
                .contains("/var/cache/configurator/nss.db resolves to /root/etc/nss.db, outside"),
            "{error}"
        );
    }

    #[test]
    fn default_settings_configure_nothing() {
        let settings = Settings::default();

        settings.validate().unwrap();
        assert_eq!(settings.cache_path, None);
    }
}
