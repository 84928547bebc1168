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

use std::ffi::OsStr;
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
    // Without the file's lock, another writer's temporary file may be in use.
    write_or_record(
        host.as_ref(),
        path,
        contents.as_ref(),
        new_mode,
        LeftoverTemps::Keep,
    )
}

/// The handling of temporary files that earlier writes of the same file left in its
/// directory when they were killed before their rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeftoverTemps {
    /// Leave them, because the caller may not hold the file's lock, and another writer may
    /// still be using one.
    Keep,
    /// Remove them before writing. Only a caller holding the file's lock may request this.
    /// Every writer through the context holds that lock until its rename, across processes
    /// too, so a temporary file of that file found then belongs to a writer that is gone.
    Remove,
}

/// Random characters in a temporary file's name, between `.NAME.` and [`TEMP_SUFFIX`].
const TEMP_RANDOM_CHARS: usize = 6;

/// The end of a temporary file's name.
const TEMP_SUFFIX: &str = ".tmp";

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
    leftovers: LeftoverTemps,
) -> Result<()> {
    let Some(host) = host else {
        return write_unrecorded(path, contents, new_mode, leftovers);
    };
    if path == Path::new(OsStr::from_bytes(&host.root())) {
        bail!(
            "cannot write {}: it is the run's root directory, not a file",
            path.display()
        );
    }
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
        return write_unrecorded(path, contents, new_mode, leftovers);
    }
    let old = content_on_disk(path)?;
    write_unrecorded(path, contents, new_mode, leftovers)?;
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
///
/// Fails on a directory at `path` before creating anything, because the temporary file would
/// go to the directory's parent, which for the run's root lies outside the root.
fn write_unrecorded(
    path: &Path,
    contents: &[u8],
    new_mode: u32,
    leftovers: LeftoverTemps,
) -> Result<()> {
    check_replaceable(path)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => bail!(
            "cannot write {}: the path has no parent directory",
            path.display()
        ),
    };
    fs::create_dir_all(dir)
        .with_context(|| format!("failed to create directory {}", dir.display()))?;
    if leftovers == LeftoverTemps::Remove {
        remove_leftover_temps(dir, path);
    }

    let existing = match fs::metadata(path) {
        Ok(metadata) => Some(metadata),
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(error).with_context(|| format!("failed to inspect {}", path.display()));
        }
    };

    let mut temp = tempfile::Builder::new()
        .prefix(&temp_prefix(path))
        .rand_bytes(TEMP_RANDOM_CHARS)
        .suffix(TEMP_SUFFIX)
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

/// Returns the start of the names of `path`'s temporary files: `.NAME.`.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.")
}

/// Returns whether `entry`, a name in `path`'s directory, has the form of the temporary files
/// [`write_unrecorded`] creates for `path`: `.NAME.` and [`TEMP_RANDOM_CHARS`] letters or
/// digits, then [`TEMP_SUFFIX`].
fn is_temp_of(entry: &OsStr, path: &Path) -> bool {
    let random = entry
        .as_bytes()
        .strip_prefix(temp_prefix(path).as_bytes())
        .and_then(|rest| rest.strip_suffix(TEMP_SUFFIX.as_bytes()));
    random.is_some_and(|random| {
        random.len() == TEMP_RANDOM_CHARS && random.iter().all(u8::is_ascii_alphanumeric)
    })
}

/// Removes the regular files in `dir` that are temporary files of `path`, left by writes that
/// were killed before their rename. The caller holds `path`'s lock.
///
/// Removal is best effort: a leftover that cannot be listed or removed stays, and the write
/// goes on, because it does not depend on it.
fn remove_leftover_temps(dir: &Path, path: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !is_temp_of(&entry.file_name(), path) {
            continue;
        }
        // Never follow a symlink or descend into a directory that happens to match.
        if entry.file_type().is_ok_and(|kind| kind.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
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
    fn write_atomic_to_directory_fails_before_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("occupied");
        fs::create_dir(&path).unwrap();

        let message = format!("{:#}", write_atomic(&path, "new\n", 0o644).unwrap_err());

        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("it is a directory"), "{message}");
        assert!(
            !message.contains("temporary"),
            "the write fails before it creates a temporary file: {message}"
        );
    }

    #[test]
    fn temp_names_of_a_file_match_exactly() {
        let path = Path::new("/root/etc/big");
        let cases = [
            (".big.AbC123.tmp", true),
            (".big.000000.tmp", true),
            (".big.AbC12.tmp", false),
            (".big.AbC1234.tmp", false),
            (".big.AbC-12.tmp", false),
            (".big.AbC123.tmp.old", false),
            ("big.AbC123.tmp", false),
            (".bigger.AbC123.tmp", false),
            (".big.x.AbC123.tmp", false),
            ("big", false),
        ];
        for (name, expected) in cases {
            assert_eq!(is_temp_of(OsStr::new(name), path), expected, "{name}");
        }
    }

    #[test]
    fn leftover_temps_removed_only_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("target");
        fs::write(&target, "kept\n").unwrap();
        fs::write(dir.path().join(".big.AbC123.tmp"), "stale").unwrap();
        fs::create_dir(dir.path().join(".big.DiR456.tmp")).unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join(".big.LiNk78.tmp")).unwrap();

        write_unrecorded(&path, b"first\n", 0o644, LeftoverTemps::Keep).unwrap();
        assert_eq!(
            names_in(dir.path()),
            [
                ".big.AbC123.tmp",
                ".big.DiR456.tmp",
                ".big.LiNk78.tmp",
                "big"
            ]
        );

        write_unrecorded(&path, b"second\n", 0o644, LeftoverTemps::Remove).unwrap();
        assert_eq!(
            names_in(dir.path()),
            [".big.DiR456.tmp", ".big.LiNk78.tmp", "big"],
            "only regular files are removed, never a directory or a symlink"
        );
        assert_eq!(fs::read_to_string(&target).unwrap(), "kept\n");
        assert_eq!(fs::read_to_string(&path).unwrap(), "second\n");
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
