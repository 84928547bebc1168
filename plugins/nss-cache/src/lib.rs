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
//! It owns the cache file and rebuilds it from both account files by running `sort` from
//! coreutils over each of them. An account file that is not a regular file, such as a FIFO
//! or a symlink to a device, is an error, because `sort` would block on it or never finish.
//! The cache is replaced only when the new snapshot differs from the one in place.
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
//! - `sort` opens the files by path itself. An external tool takes none of the host's locks,
//!   so running alone is the only way to keep other modules of the run from replacing a file
//!   while the tool reads it.
//!
//! NOTE: running alone excludes only the modules of this run. Another Configurator process on
//! the same root could still change the account files mid-snapshot. The lock on the cache
//! file only keeps two processes from replacing the cache at the same time.
//!
//! Read [`NssCacheModule::configure`] first.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use plugin_api::anyhow::{Context as _, Result, bail};
use plugin_api::fs::{read_to_string_if_exists, write_atomic};
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
        if read_to_string_if_exists(lock.path())?.as_deref() == Some(desired.as_str()) {
            return Ok(Outcome::unchanged(format!(
                "{cache_path} already matches /etc/passwd and /etc/group"
            )));
        }

        write_atomic(lock.path(), &desired, NEW_FILE_MODE)?;
        ctx.info(format_args!("wrote {cache_path}"));
        Ok(Outcome::changed(format!(
            "wrote {cache_path} with {} users and {} groups",
            passwd.lines().count(),
            group.lines().count()
        )))
    }
}

plugin_api::export_module!(NssCacheModule);

/// Returns the entries of one account file sorted by id, or an empty text with a warning when
/// the file does not exist.
fn sorted_entries(ctx: &Context, system_path: &str) -> Result<String> {
    let path = ctx.resolve(system_path)?;
    if !is_existing_regular_file(&path)? {
        ctx.warn(format_args!(
            "{system_path} does not exist; its section of the cache is empty"
        ));
        return Ok(String::new());
    }
    let sorted = sort_by_id(OsStr::new(SORT_PROGRAM), &path)?;
    Ok(entry_lines(&sorted))
}

/// Returns whether `path` exists, and fails when it exists but is not a regular file after
/// following symlinks, the check that `plugin_api::fs::read_to_string_if_exists` makes, because
/// `sort` would block on a FIFO and never finish reading a device such as `/dev/zero`.
fn is_existing_regular_file(path: &Path) -> Result<bool> {
    match fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => Ok(true),
        Ok(_) => bail!("cannot read {}: it is not a regular file", path.display()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error).with_context(|| format!("failed to inspect {}", path.display())),
    }
}

/// Runs `program` as POSIX `sort` over the colon-separated file at `path`, ordering lines by
/// the numeric third field (the uid or gid), then by name, in the C locale so that the order
/// does not depend on the machine's locale.
fn sort_by_id(program: &OsStr, path: &Path) -> Result<String> {
    let program_name = program.to_string_lossy();
    let output = Command::new(program)
        .args(["-t", ":", "-k", "3,3n", "-k", "1,1", "--"])
        .arg(path)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(err) if err.kind() == io::ErrorKind::NotFound => bail!(
            "external tool `{program_name}` not found in PATH; install coreutils, which provides \
             it"
        ),
        Err(err) => {
            return Err(err).with_context(|| format!("failed to run `{program_name}`"));
        }
    };

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
    use std::fs;

    use super::*;

    #[test]
    fn sort_orders_entries_by_numeric_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwd");
        fs::write(
            &path,
            "alice:x:1000:100::/home/alice:/bin/bash\n\
             root:x:0:0:root:/root:/bin/bash\n\
             nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n\
             daemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n\
             bob:x:999:100::/home/bob:/bin/bash\n",
        )
        .unwrap();

        let sorted = sort_by_id(OsStr::new(SORT_PROGRAM), &path).unwrap();

        let names: Vec<_> = sorted
            .lines()
            .map(|line| line.split(':').next().unwrap())
            .collect();
        assert_eq!(names, ["root", "daemon", "bob", "alice", "nobody"]);
    }

    #[test]
    fn sort_breaks_id_ties_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("group");
        fs::write(&path, "zeta:x:1000:\nalpha:x:1000:\n").unwrap();

        let sorted = sort_by_id(OsStr::new(SORT_PROGRAM), &path).unwrap();

        assert_eq!(sorted, "alpha:x:1000:\nzeta:x:1000:\n");
    }

    #[test]
    fn missing_sort_tool_is_named_in_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("group");
        fs::write(&path, "root:x:0:\n").unwrap();

        let error = sort_by_id(OsStr::new("configurator-test-no-such-sort"), &path).unwrap_err();

        assert_eq!(
            error.to_string(),
            "external tool `configurator-test-no-such-sort` not found in PATH; install \
             coreutils, which provides it"
        );
    }

    #[test]
    fn sort_failure_includes_tool_output() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");

        let error = sort_by_id(OsStr::new(SORT_PROGRAM), &missing).unwrap_err();

        let message = error.to_string();
        assert!(message.starts_with("`sort` failed on"), "{message}");
        assert!(message.contains("missing"), "{message}");
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
    fn regular_file_check_accepts_file_and_missing_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwd");

        assert!(!is_existing_regular_file(&path).unwrap());
        fs::write(&path, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
        assert!(is_existing_regular_file(&path).unwrap());
    }

    #[test]
    fn regular_file_check_rejects_fifo_and_device_link() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("passwd");
        let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(status.success(), "mkfifo failed");
        let device_link = dir.path().join("group");
        std::os::unix::fs::symlink("/dev/zero", &device_link).unwrap();

        for path in [fifo, device_link] {
            let error = is_existing_regular_file(&path).unwrap_err();

            assert_eq!(
                error.to_string(),
                format!("cannot read {}: it is not a regular file", path.display())
            );
        }
    }

    #[test]
    fn default_settings_configure_nothing() {
        let settings = Settings::default();

        settings.validate().unwrap();
        assert_eq!(settings.cache_path, None);
    }
}
