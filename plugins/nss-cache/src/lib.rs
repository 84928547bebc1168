//! The `nss-cache` module: a snapshot of `/etc/passwd` and `/etc/group` sorted by numeric id.
//!
//! It owns the cache file (`/var/cache/configurator/nss.db` by default) and rebuilds it from
//! both account files by running `sort` from coreutils over each of them. The file is
//! replaced only when the new snapshot differs from the one in place.
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
use std::io;
use std::path::Path;
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

/// Settings from `[modules.nss-cache]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// System path of the cache file.
    cache_path: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cache_path: "/var/cache/configurator/nss.db".to_owned(),
        }
    }
}

impl Settings {
    fn validate(&self) -> Result<()> {
        let valid = self.cache_path.starts_with('/')
            && !self.cache_path.ends_with('/')
            && !self.cache_path.chars().any(char::is_control);
        if !valid {
            bail!(
                "invalid `cache_path` in [modules.nss-cache]: expected an absolute file path \
                 such as `/var/cache/configurator/nss.db`, found `{}`",
                self.cache_path.escape_debug()
            );
        }
        Ok(())
    }
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

        let passwd = sorted_entries(ctx, "/etc/passwd")?;
        let group = sorted_entries(ctx, "/etc/group")?;
        let desired = cache_text(&passwd, &group);

        let lock = ctx.file_lock(&settings.cache_path)?;
        if read_to_string_if_exists(lock.path())?.as_deref() == Some(desired.as_str()) {
            return Ok(Outcome::unchanged(format!(
                "{} already matches /etc/passwd and /etc/group",
                settings.cache_path
            )));
        }

        write_atomic(lock.path(), &desired, NEW_FILE_MODE)?;
        ctx.info(format_args!("wrote {}", settings.cache_path));
        Ok(Outcome::changed(format!(
            "wrote {} with {} users and {} groups",
            settings.cache_path,
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
    if !path
        .try_exists()
        .with_context(|| format!("cannot access {}", path.display()))?
    {
        ctx.warn(format_args!(
            "{system_path} does not exist; its section of the cache is empty"
        ));
        return Ok(String::new());
    }
    let sorted = sort_by_id(OsStr::new(SORT_PROGRAM), &path)?;
    Ok(entry_lines(&sorted))
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
    fn settings_reject_relative_cache_path() {
        let settings: Settings = toml::from_str("cache_path = \"nss.db\"").unwrap();

        assert!(settings.validate().is_err());
    }

    #[test]
    fn default_settings_are_valid() {
        Settings::default().validate().unwrap();
    }
}
