//! Opening one entry of the plugin directory without running anything in it: its type, the
//! trust policy and its identity.
//!
//! Only regular files are opened, so a FIFO named `x.so` is never opened for reading and
//! cannot block discovery. The open uses `O_NONBLOCK` anyway, in case the entry is replaced by
//! a FIFO between the type check and the open.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

use super::protocol::FileIdentity;
use crate::trust::TrustPolicy;

/// A regular file opened for reading, with its identity.
#[derive(Debug)]
pub struct Candidate {
    /// The open file.
    pub file: File,
    /// Its identity at the time it was opened.
    pub identity: FileIdentity,
}

/// Opens the entry at `path` if it is a regular file the trust policy accepts (`None` skips
/// the policy). The error is the one-line reason it is rejected.
pub fn open(path: &Path, trust: Option<&mut TrustPolicy>) -> Result<Candidate, String> {
    // Most entries are no symlink, and then `lstat` gives everything `stat` would.
    let entry = fs::symlink_metadata(path).map_err(|error| describe_missing(path, &error))?;
    let is_symlink = entry.is_symlink();
    let metadata = if is_symlink {
        fs::metadata(path).map_err(|error| describe_missing(path, &error))?
    } else {
        entry
    };
    describe_type(&metadata.file_type())?;

    let file = open_regular_file(path).map_err(|error| format!("cannot be opened: {error}"))?;
    let opened = file
        .metadata()
        .map_err(|error| format!("cannot be inspected: {error}"))?;
    if !opened.is_file() || opened.dev() != metadata.dev() || opened.ino() != metadata.ino() {
        return Err("was replaced while it was being opened; run configurator again".to_owned());
    }
    if let Some(trust) = trust {
        let checked = if is_symlink {
            trust.check_file(path, &opened)
        } else {
            trust.check_plain_entry(path, &opened)
        };
        checked.map_err(|error| format!("not trusted: {error}"))?;
    }
    Ok(Candidate {
        file,
        identity: FileIdentity::of(&opened),
    })
}

/// Opens `path` for reading without blocking on a FIFO and without making a terminal the
/// process's controlling terminal.
pub fn open_regular_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// Explains why the metadata of `path` could not be read, naming a dangling symlink as such.
fn describe_missing(path: &Path, error: &io::Error) -> String {
    let is_symlink = fs::symlink_metadata(path).is_ok_and(|metadata| metadata.is_symlink());
    if !is_symlink {
        return format!("cannot be inspected: {error}");
    }
    let target = fs::read_link(path).map_or_else(
        |_| "its target".to_owned(),
        |target| target.display().to_string(),
    );
    if error.kind() == io::ErrorKind::NotFound {
        format!("is a dangling symbolic link: {target} does not exist")
    } else {
        format!("is a symbolic link whose target {target} cannot be inspected: {error}")
    }
}

/// Accepts a regular file and names every other file type.
fn describe_type(file_type: &fs::FileType) -> Result<(), String> {
    let kind = if file_type.is_file() {
        return Ok(());
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    };
    Err(format!("is {kind}, not a plugin file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_is_rejected_by_type() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("x.so");
        fs::create_dir(&entry).unwrap();
        let error = open(&entry, None).unwrap_err();
        assert_eq!(error, "is a directory, not a plugin file");
    }

    #[test]
    fn dangling_symlink_names_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("x.so");
        std::os::unix::fs::symlink("missing-target.so", &entry).unwrap();
        let error = open(&entry, None).unwrap_err();
        assert!(error.contains("dangling symbolic link"), "{error}");
        assert!(error.contains("missing-target.so"), "{error}");
    }

    #[test]
    fn regular_file_is_opened_with_its_identity() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("x.so");
        fs::write(&entry, "12345").unwrap();
        let candidate = open(&entry, None).unwrap();
        assert_eq!(candidate.identity.size, 5);
        assert_eq!(
            candidate.identity,
            FileIdentity::of(&fs::metadata(&entry).unwrap())
        );
    }
}
