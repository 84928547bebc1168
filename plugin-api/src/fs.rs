//! File helpers for modules: reading a file that may be missing, and replacing a file
//! atomically so that a crash or a concurrent reader never sees it half-written.
//!
//! They take paths already resolved under the run's root, such as a [`FileLock`] guard's
//! [`path`](crate::FileLock::path) or the result of [`Context::resolve`]. Locking stays with the
//! caller: hold the file's lock around the whole read-modify-write.
//!
//! On the thread that runs a module's `configure`, both take part in check mode (see
//! [Check mode](crate#check-mode)): [`write_atomic`] records the new content with the host
//! instead of writing it, and [`read_to_string_if_exists`] returns the content recorded for the
//! file. On any other thread they always read and write the real file.
//!
//! [`FileLock`]: crate::FileLock
//! [`Context::resolve`]: crate::Context::resolve

use std::fs::{self, File, Permissions};
use std::io::{self, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use abi_stable::std_types::{ROption, RSlice, RVec};
use anyhow::{Context as _, Result, bail};

use crate::ffi::{AccessKind, HostServicesBox};

/// Reads a UTF-8 text file, returning `None` when it does not exist.
///
/// Anything but a regular file (after following symlinks) is an error, because reading a FIFO
/// could block forever and a device such as `/dev/zero` never ends. In check mode, on the
/// thread running `configure`, a file that a module of the run would have written reads as
/// that content.
pub fn read_to_string_if_exists(path: &Path) -> Result<Option<String>> {
    let host = crate::export::current_host();
    record_for_audit(host.as_ref(), AccessKind::Read, path);
    read_as_seen(host.as_ref(), path)
}

/// Reads `path` for the module whose host services are `host`. In check mode that is the
/// content a module of the run would have written to it, if any, else the file. The host's
/// audit is not told.
pub(crate) fn read_as_seen(host: Option<&HostServicesBox>, path: &Path) -> Result<Option<String>> {
    if let Some(host) = host
        && host.check_mode()
        && let ROption::RSome(staged) = host.staged_content(path_bytes(path))
    {
        let text = String::from_utf8(staged.into_vec()).with_context(|| {
            format!(
                "failed to read {} as UTF-8 text, as a module of this check run would have \
                 written it",
                path.display()
            )
        })?;
        return Ok(Some(text));
    }
    read_unrecorded(path)
}

/// Reads like [`read_to_string_if_exists`] without telling the host.
fn read_unrecorded(path: &Path) -> Result<Option<String>> {
    match fs::metadata(path) {
        Ok(metadata) if !metadata.is_file() => {
            bail!("cannot read {}: it is not a regular file", path.display())
        }
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error).with_context(|| format!("failed to inspect {}", path.display()));
        }
    }
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => {
            Err(error).with_context(|| format!("failed to read {} as UTF-8 text", path.display()))
        }
    }
}

/// Replaces `path` with `contents` so that every reader, and the file after a crash, has
/// either the old or the new content, never a mix.
///
/// The content goes to a new temporary file in the same directory, which is flushed to disk and
/// renamed over `path`; then the directory is flushed so that the rename survives a crash. An
/// existing file keeps its permission bits and owner; a new file gets `new_mode` (for example
/// `0o644`). Missing parent directories are created. A symbolic link at `path` is replaced by a
/// regular file, never written through.
///
/// In check mode, on the thread running `configure`, nothing is written: the host records
/// `contents` as the file's new content.
pub fn write_atomic(path: &Path, contents: impl AsRef<[u8]>, new_mode: u32) -> Result<()> {
    let host = crate::export::current_host();
    record_for_audit(host.as_ref(), AccessKind::Write, path);
    write_or_record(host.as_ref(), path, contents.as_ref(), new_mode)
}

/// Tells the host about an access when this thread runs a module's `configure`, so that its
/// access audit sees writes made without the file's lock too.
fn record_for_audit(host: Option<&HostServicesBox>, kind: AccessKind, path: &Path) {
    if let Some(host) = host {
        host.record_access(kind, path_bytes(path));
    }
}

/// Replaces `path` like [`write_atomic`] for the module whose host services are `host`,
/// without telling the host's audit.
///
/// In check mode it only checks that the path could be written and records the change with the
/// host. Otherwise it writes, and reports the change afterwards when the host records changes,
/// for `run --diff`.
pub(crate) fn write_or_record(
    host: Option<&HostServicesBox>,
    path: &Path,
    contents: &[u8],
    new_mode: u32,
) -> Result<()> {
    let Some(host) = host else {
        return write_unrecorded(path, contents, new_mode);
    };
    if host.check_mode() {
        check_replaceable(path)?;
        let old = match host.staged_content(path_bytes(path)) {
            ROption::RSome(staged) => Some(staged.into_vec()),
            ROption::RNone => content_on_disk(path)?,
        };
        host.record_change(
            path_bytes(path),
            old.map(RVec::from).into(),
            contents.into(),
        );
        return Ok(());
    }
    if !host.records_changes() {
        return write_unrecorded(path, contents, new_mode);
    }
    let old = content_on_disk(path)?;
    write_unrecorded(path, contents, new_mode)?;
    host.record_change(
        path_bytes(path),
        old.map(RVec::from).into(),
        contents.into(),
    );
    Ok(())
}

/// Fails where [`write_unrecorded`] is certain to fail without creating anything: on a path
/// without a parent directory and on a directory. Other failures of a real write, such as a
/// parent that is a regular file or a directory without write permission, go unnoticed.
fn check_replaceable(path: &Path) -> Result<()> {
    if path.parent().is_none_or(|dir| dir.as_os_str().is_empty()) {
        bail!(
            "cannot write {}: the path has no parent directory",
            path.display()
        );
    }
    if fs::symlink_metadata(path).is_ok_and(|metadata| metadata.is_dir()) {
        bail!("cannot write {}: it is a directory", path.display());
    }
    Ok(())
}

/// Returns the bytes of the regular file at `path`, following symlinks, or `None` when there is
/// none, for the old side of a recorded change.
///
/// Anything else at `path`, such as a FIFO, counts as no file: reading it could block, and
/// [`write_unrecorded`] replaces it with a regular file.
fn content_on_disk(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => {}
        Ok(_) => return Ok(None),
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error).with_context(|| format!("failed to inspect {}", path.display()));
        }
    }
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("failed to read {}", path.display())),
    }
}

fn path_bytes(path: &Path) -> RSlice<'_, u8> {
    RSlice::from_slice(path.as_os_str().as_bytes())
}

/// Replaces a file like [`write_atomic`] without telling the host.
fn write_unrecorded(path: &Path, contents: &[u8], new_mode: u32) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => bail!(
            "cannot write {}: the path has no parent directory",
            path.display()
        ),
    };
    fs::create_dir_all(dir)
        .with_context(|| format!("failed to create directory {}", dir.display()))?;

    let existing = match fs::metadata(path) {
        Ok(metadata) => Some(metadata),
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(error).with_context(|| format!("failed to inspect {}", path.display()));
        }
    };

    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{}.", file_name(path)))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("failed to create a temporary file in {}", dir.display()))?;
    let temp_error =
        |temp_path: &Path| format!("failed to write temporary file {}", temp_path.display());

    temp.write_all(contents)
        .with_context(|| temp_error(temp.path()))?;
    match &existing {
        Some(metadata) => {
            keep_owner(temp.as_file(), metadata).with_context(|| {
                format!(
                    "failed to give the new {} the owner of the old one",
                    path.display()
                )
            })?;
            temp.as_file()
                .set_permissions(metadata.permissions())
                .with_context(|| temp_error(temp.path()))?;
        }
        None => temp
            .as_file()
            .set_permissions(Permissions::from_mode(new_mode))
            .with_context(|| temp_error(temp.path()))?,
    }
    temp.as_file()
        .sync_all()
        .with_context(|| temp_error(temp.path()))?;

    // On failure `persist` hands the temporary file back, and dropping it removes it.
    temp.persist(path)
        .map_err(|error| error.error)
        .with_context(|| format!("failed to rename a temporary file over {}", path.display()))?;
    File::open(dir)
        .and_then(|dir_file| dir_file.sync_all())
        .with_context(|| format!("failed to flush directory {}", dir.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Gives `file` the owner and group of the file it replaces, when they differ.
fn keep_owner(file: &File, replaced: &fs::Metadata) -> io::Result<()> {
    let current = file.metadata()?;
    if (current.uid(), current.gid()) == (replaced.uid(), replaced.gid()) {
        return Ok(());
    }
    std::os::unix::fs::fchown(file, Some(replaced.uid()), Some(replaced.gid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
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

        assert_eq!(names_in(dir.path()), ["hosts"]);
    }

    #[test]
    fn write_atomic_failure_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("occupied");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("keep"), "x").unwrap();

        let error = write_atomic(&path, "new\n", 0o644).unwrap_err();

        assert!(format!("{error:#}").contains("occupied"), "{error:#}");
        assert_eq!(names_in(dir.path()), ["occupied"]);
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
    fn read_of_fifo_fails_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("hosts");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success(), "mkfifo failed");

        let message = format!("{:#}", read_to_string_if_exists(&fifo).unwrap_err());

        assert!(message.contains("not a regular file"), "{message}");
    }

    #[test]
    fn read_missing_file_returns_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_to_string_if_exists(&dir.path().join("missing")).unwrap(),
            None
        );
    }

    #[test]
    fn read_error_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("group");
        fs::write(&path, b"root:x:0:\xff\n").unwrap();

        let message = format!("{:#}", read_to_string_if_exists(&path).unwrap_err());

        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("UTF-8"), "{message}");
    }
}
