//! Reading and atomically replacing whole files under the run's root.
//!
//! NOTE: every bundled module carries an identical copy of this file, because `plugin-api`
//! offers no file helpers yet. Change all copies together.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use plugin_api::anyhow::{Context as _, Result, bail};

/// Number of temporary file names tried before giving up, each with a higher counter.
const TEMP_NAME_ATTEMPTS: u32 = 100;

/// Reads a UTF-8 text file, returning `None` when it does not exist.
pub fn read_if_exists(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => {
            Err(err).with_context(|| format!("failed to read {} as UTF-8 text", path.display()))
        }
    }
}

/// Replaces `path` with `contents` so that a concurrent reader sees either the old or the new
/// file, never a partial one.
///
/// The text goes to a new temporary file in the same directory, which is flushed to disk and
/// renamed over `path`. An existing file keeps its permission bits but not its owner, and a new
/// file gets `new_mode`. Missing parent directories are created. A symbolic link at `path` is
/// replaced by a regular file, never written through.
pub fn write_atomic(path: &Path, contents: &str, new_mode: u32) -> Result<()> {
    let dir = parent_dir(path)?;
    fs::create_dir_all(dir)
        .with_context(|| format!("failed to create directory {}", dir.display()))?;

    let permissions = match fs::metadata(path) {
        Ok(metadata) => metadata.permissions(),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Permissions::from_mode(new_mode),
        Err(err) => {
            return Err(err)
                .with_context(|| format!("failed to read the permissions of {}", path.display()));
        }
    };

    let (temp_path, file) = create_temp_file(dir, path)?;
    if let Err(err) = fill_and_rename(file, &temp_path, path, contents, permissions) {
        // The temporary file is ours alone, so a failed removal only leaves a stray file.
        let _ = fs::remove_file(&temp_path);
        return Err(err);
    }

    // Flushing the directory makes the rename itself survive a crash.
    File::open(dir)
        .and_then(|dir_file| dir_file.sync_all())
        .with_context(|| format!("failed to flush directory {}", dir.display()))
}

fn parent_dir(path: &Path) -> Result<&Path> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => Ok(dir),
        _ => bail!(
            "cannot write {}: the path has no parent directory",
            path.display()
        ),
    }
}

/// Creates a new, empty file next to `target` under a name no other writer is using.
fn create_temp_file(dir: &Path, target: &Path) -> Result<(PathBuf, File)> {
    let file_name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let process_id = std::process::id();

    // `create_new` fails when the name exists, so two writers never share a temporary file
    // even without a lock.
    for attempt in 0..TEMP_NAME_ATTEMPTS {
        let temp_path = dir.join(format!(".{file_name}.{process_id}.{attempt}.tmp"));
        let opened = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp_path);
        match opened {
            Ok(file) => return Ok((temp_path, file)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("failed to create temporary file {}", temp_path.display())
                });
            }
        }
    }
    bail!(
        "failed to create a temporary file for {} in {}: {TEMP_NAME_ATTEMPTS} names were taken",
        target.display(),
        dir.display()
    )
}

fn fill_and_rename(
    mut file: File,
    temp_path: &Path,
    target: &Path,
    contents: &str,
    permissions: Permissions,
) -> Result<()> {
    file.write_all(contents.as_bytes())
        .and_then(|()| file.set_permissions(permissions))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("failed to write temporary file {}", temp_path.display()))?;
    fs::rename(temp_path, target).with_context(|| {
        format!(
            "failed to rename {} to {}",
            temp_path.display(),
            target.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn write_atomic_creates_parent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/ssh/sshd_config.d/50-test.conf");

        write_atomic(&path, "PermitRootLogin no\n", 0o644).unwrap();

        assert_eq!(fs::read_to_string(&path).unwrap(), "PermitRootLogin no\n");
        assert_eq!(mode_of(&path), 0o644);
    }

    #[test]
    fn write_atomic_keeps_existing_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("group");
        fs::write(&path, "old\n").unwrap();
        fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();

        write_atomic(&path, "new\n", 0o644).unwrap();

        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(mode_of(&path), 0o640);
    }

    #[test]
    fn write_atomic_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");

        write_atomic(&path, "127.0.0.1\tlocalhost\n", 0o644).unwrap();

        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["hosts"]);
    }

    #[test]
    fn write_atomic_replaces_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        let link = dir.path().join("hosts");
        fs::write(&outside, "untouched\n").unwrap();
        std::os::unix::fs::symlink(&outside, &link).unwrap();

        write_atomic(&link, "new\n", 0o644).unwrap();

        assert_eq!(fs::read_to_string(&outside).unwrap(), "untouched\n");
        assert!(
            !fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&link).unwrap(), "new\n");
    }

    #[test]
    fn read_missing_file_returns_none() {
        let dir = tempfile::tempdir().unwrap();

        let text = read_if_exists(&dir.path().join("missing")).unwrap();

        assert_eq!(text, None);
    }

    #[test]
    fn read_error_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("group");
        fs::write(&path, b"root:x:0:\xff\n").unwrap();

        let error = read_if_exists(&path).unwrap_err();

        let message = format!("{error:#}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("UTF-8"), "{message}");
    }
}
