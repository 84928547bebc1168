//! The trust policy for plugin files: loading a plugin runs its code with the host's
//! privileges, so the host only loads files that no other user could have replaced.
//!
//! Like sshd's strict modes, a plugin file and every directory on its canonical path must be
//! owned by root or by the user running the host, and must not be writable by group or others.
//! A directory with the sticky bit that root owns (such as `/tmp`) is accepted although everyone
//! may write to it, because the sticky bit keeps other users from renaming or removing entries
//! they do not own. Every symlink on the way to the file, in the directory's path too, must be
//! owned by root or that user and lie in a directory that passes the same checks. An optional
//! SHA-256 pin per module name must also match.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// Permission bits that let group or others write.
const GROUP_OR_OTHER_WRITE: u32 = 0o022;
/// The sticky bit.
const STICKY: u32 = 0o1000;

/// The reason a plugin file is not trusted.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The file or a directory on its path could not be inspected.
    #[error("cannot inspect {}", path.display())]
    Inspect {
        /// The path that failed.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: io::Error,
    },

    /// The file or a directory on its path belongs to another user.
    #[error(
        "{} is owned by uid {owner}, not by root or the user running configurator (uid {user}); \
         change its owner, or pass --insecure-plugins while developing",
        path.display()
    )]
    Owner {
        /// The offending path.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The user running the host.
        user: u32,
    },

    /// The file or a directory on its path is writable by group or others.
    #[error(
        "{} is writable by {} (mode {mode:04o}); run `chmod go-w` on it, or pass \
         --insecure-plugins while developing",
        path.display(),
        writable_by(*.mode)
    )]
    Writable {
        /// The offending path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

fn writable_by(mode: u32) -> &'static str {
    match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (true, true) => "group and others",
        (true, false) => "its group",
        _ => "others",
    }
}

/// Checks that `file` and every directory on its canonical path are safe to load code from,
/// for a host running as `user`.
pub fn check_ownership(file: &Path, user: u32) -> Result<(), TrustError> {
    let metadata = fs::metadata(file).map_err(inspect_error(file))?;
    TrustPolicy::new(user).check_file(file, &metadata)
}

/// The ownership check for many files, which checks each directory once.
#[derive(Debug)]
pub struct TrustPolicy {
    user: u32,
    trusted_directories: HashSet<PathBuf>,
    /// The canonical path of each directory of a plain entry checked so far, by its spelling.
    canonical_directories: HashMap<PathBuf, PathBuf>,
}

impl TrustPolicy {
    /// Creates the policy for a host running as `user`.
    pub fn new(user: u32) -> Self {
        Self {
            user,
            trusted_directories: HashSet::new(),
            canonical_directories: HashMap::new(),
        }
    }

    /// Checks the file at `path`, whose metadata (symlinks followed) is `metadata`, and every
    /// directory on its canonical path.
    ///
    /// The caller passes the metadata of the file it opened, so that the owner and mode
    /// checked are those of the inode it goes on to use.
    pub fn check_file(&mut self, path: &Path, metadata: &Metadata) -> Result<(), TrustError> {
        let canonical = match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => {
                let directory = self.canonical_directory(parent)?;
                self.resolve_checked(directory, Path::new(name))?
            }
            _ => self.resolve_checked(PathBuf::new(), path)?,
        };
        self.check_canonical(&canonical, metadata)
    }

    /// Checks like [`check_file`](Self::check_file) a directory entry that `lstat` showed is
    /// no symlink. Only its directory is resolved, once for all the entries checked in it,
    /// which spares an `lstat` per component for every file of a plugin directory.
    pub fn check_plain_entry(
        &mut self,
        path: &Path,
        metadata: &Metadata,
    ) -> Result<(), TrustError> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return self.check_file(path, metadata);
        };
        let directory = self.canonical_directory(parent)?;
        self.check_canonical(&directory.join(name), metadata)
    }

    /// Returns the canonical path of the directory spelled `spelled` (empty for the current
    /// directory), resolving each spelling once with [`resolve_checked`](Self::resolve_checked).
    fn canonical_directory(&mut self, spelled: &Path) -> Result<PathBuf, TrustError> {
        if let Some(directory) = self.canonical_directories.get(spelled) {
            return Ok(directory.clone());
        }
        let directory = self.resolve_checked(PathBuf::new(), spelled)?;
        self.canonical_directories
            .insert(spelled.to_owned(), directory.clone());
        Ok(directory)
    }

    /// Resolves `path` relative to the canonical directory `start` (empty for the current
    /// directory) into a canonical path, one component at a time, and checks each symlink met
    /// on the way: its owner, and the directory that contains it. A user who can replace a
    /// link can point it at any library, even in a directory that is otherwise safe, such as
    /// a sticky one that root owns.
    fn resolve_checked(&mut self, start: PathBuf, path: &Path) -> Result<PathBuf, TrustError> {
        let mut resolved = if start.as_os_str().is_empty() && path.is_relative() {
            // The kernel gives the working directory without symlinks.
            std::env::current_dir().map_err(inspect_error(path))?
        } else {
            start
        };
        // The components still to resolve, the next one last.
        let mut pending: Vec<OsString> = Vec::new();
        push_components(&mut pending, &mut resolved, path);
        let mut links = 0;
        while let Some(name) = pending.pop() {
            if name == ".." {
                resolved.pop();
                continue;
            }
            let next = resolved.join(&name);
            let metadata = fs::symlink_metadata(&next).map_err(inspect_error(&next))?;
            if !metadata.is_symlink() {
                resolved = next;
                continue;
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(TrustError::Inspect {
                    path: path.to_owned(),
                    source: io::Error::from_raw_os_error(libc::ELOOP),
                });
            }
            check_owner(&next, &metadata, self.user)?;
            self.check_directories(&resolved)?;
            let target = fs::read_link(&next).map_err(inspect_error(&next))?;
            push_components(&mut pending, &mut resolved, &target);
        }
        Ok(resolved)
    }

    /// Checks the file at the canonical path `canonical` and every directory above it.
    fn check_canonical(&mut self, canonical: &Path, metadata: &Metadata) -> Result<(), TrustError> {
        check_entry(canonical, metadata, self.user)?;
        match canonical.parent() {
            Some(directory) => self.check_directories(directory),
            None => Ok(()),
        }
    }

    /// Checks the canonical directory `directory` and every directory above it.
    fn check_directories(&mut self, directory: &Path) -> Result<(), TrustError> {
        for ancestor in directory.ancestors() {
            if self.trusted_directories.contains(ancestor) {
                // Its ancestors were checked together with it.
                break;
            }
            let metadata = fs::metadata(ancestor).map_err(inspect_error(ancestor))?;
            check_entry(ancestor, &metadata, self.user)?;
        }
        for ancestor in directory.ancestors() {
            if !self.trusted_directories.insert(ancestor.to_owned()) {
                break;
            }
        }
        Ok(())
    }
}

/// How many symlinks a resolution follows before it gives up, as the kernel does.
const MAX_SYMLINKS: usize = 40;

/// Puts the components of `path` on the `pending` stack so that its first component is popped
/// first, restarting `resolved` at `/` when `path` is absolute. `.` components are dropped.
fn push_components(pending: &mut Vec<OsString>, resolved: &mut PathBuf, path: &Path) {
    let start = pending.len();
    for component in path.components() {
        match component {
            Component::RootDir => *resolved = PathBuf::from("/"),
            Component::ParentDir => pending.push(OsString::from("..")),
            Component::Normal(name) => pending.push(name.to_owned()),
            Component::CurDir | Component::Prefix(_) => {}
        }
    }
    pending[start..].reverse();
}

fn inspect_error(path: &Path) -> impl FnOnce(io::Error) -> TrustError {
    let path = path.to_owned();
    move |source| TrustError::Inspect { path, source }
}

/// Checks that root or `user` owns `path`, whose metadata is `metadata`.
fn check_owner(path: &Path, metadata: &Metadata, user: u32) -> Result<(), TrustError> {
    let owner = metadata.uid();
    if owner != 0 && owner != user {
        return Err(TrustError::Owner {
            path: path.to_owned(),
            owner,
            user,
        });
    }
    Ok(())
}

/// Checks the owner and mode of one file or directory.
fn check_entry(path: &Path, metadata: &Metadata, user: u32) -> Result<(), TrustError> {
    check_owner(path, metadata, user)?;
    let mode = metadata.permissions().mode() & 0o7777;
    let owner = metadata.uid();
    let shared_sticky_dir = metadata.is_dir() && mode & STICKY != 0 && owner == 0;
    if mode & GROUP_OR_OTHER_WRITE != 0 && !shared_sticky_dir {
        return Err(TrustError::Writable {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Returns the SHA-256 of a file's content as lowercase hex.
pub fn sha256_of(path: &Path) -> io::Result<String> {
    sha256_of_reader(File::open(path)?)
}

/// Returns the SHA-256 of everything `reader` yields, as lowercase hex.
pub fn sha256_of_reader(mut reader: impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(&mut reader, &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// Returns whether `text` has the form of a SHA-256 in lowercase hex.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

/// Returns the user id the host runs as.
pub fn current_uid() -> u32 {
    // The process owns the directory entry of /proc/self, which gives the real uid without an
    // unsafe libc call.
    fs::metadata("/proc/self").map_or(0, |metadata| metadata.uid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::Permissions;

    /// A plugin file in a private directory under a fresh temporary directory.
    fn private_plugin() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), Permissions::from_mode(0o755)).unwrap();
        let file = dir.path().join("hosts.so");
        fs::write(&file, "plugin bytes").unwrap();
        fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        (dir, file)
    }

    #[test]
    fn private_plugin_is_trusted() {
        let (_dir, file) = private_plugin();
        check_ownership(&file, current_uid()).unwrap();
    }

    #[test]
    fn group_writable_file_is_rejected() {
        let (_dir, file) = private_plugin();
        fs::set_permissions(&file, Permissions::from_mode(0o664)).unwrap();
        let error = check_ownership(&file, current_uid()).unwrap_err();
        assert!(
            matches!(error, TrustError::Writable { ref path, .. } if path.ends_with("hosts.so"))
        );
        assert!(
            error.to_string().contains("writable by its group"),
            "{error}"
        );
    }

    #[test]
    fn world_writable_directory_is_rejected() {
        let (dir, file) = private_plugin();
        fs::set_permissions(dir.path(), Permissions::from_mode(0o777)).unwrap();
        let error = check_ownership(&file, current_uid()).unwrap_err();
        let TrustError::Writable { path, .. } = &error else {
            panic!("expected a writable directory, got {error}");
        };
        assert_eq!(path, &fs::canonicalize(dir.path()).unwrap());
    }

    #[test]
    fn policy_checks_every_file_of_a_checked_directory() {
        let (dir, trusted) = private_plugin();
        let writable = dir.path().join("writable.so");
        fs::write(&writable, "plugin bytes").unwrap();
        fs::set_permissions(&writable, Permissions::from_mode(0o646)).unwrap();
        type Check = fn(&mut TrustPolicy, &Path, &fs::Metadata) -> Result<(), TrustError>;
        let checks: [(&str, Check); 2] = [
            ("check_file", TrustPolicy::check_file),
            ("check_plain_entry", TrustPolicy::check_plain_entry),
        ];

        for (name, check) in checks {
            let mut policy = TrustPolicy::new(current_uid());
            check(&mut policy, &trusted, &fs::metadata(&trusted).unwrap())
                .unwrap_or_else(|error| panic!("{name} rejected a trusted file: {error}"));
            let error =
                check(&mut policy, &writable, &fs::metadata(&writable).unwrap()).expect_err(name);
            assert!(
                error.to_string().contains("writable by others"),
                "{name}: {error}"
            );
        }
    }

    #[test]
    fn plain_entry_checks_canonical_directory() {
        let (dir, _file) = private_plugin();
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, Permissions::from_mode(0o777)).unwrap();
        let plugin = shared.join("hosts.so");
        fs::write(&plugin, "plugin bytes").unwrap();
        fs::set_permissions(&plugin, Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&shared, dir.path().join("link")).unwrap();
        let spelled = dir.path().join("link/hosts.so");
        let mut policy = TrustPolicy::new(current_uid());

        let error = policy
            .check_plain_entry(&spelled, &fs::metadata(&spelled).unwrap())
            .unwrap_err();

        let TrustError::Writable { path, .. } = &error else {
            panic!("expected a writable directory, got {error}");
        };
        assert_eq!(path, &fs::canonicalize(&shared).unwrap());
    }

    #[test]
    fn sha256_hex_form_is_checked() {
        assert!(is_sha256_hex(&"0a".repeat(32)));
        assert!(!is_sha256_hex(&"0A".repeat(32)));
        assert!(!is_sha256_hex(&"0a".repeat(31)));
    }

    #[test]
    fn file_of_another_user_is_rejected() {
        let (_dir, file) = private_plugin();
        let user = current_uid();
        let checked_as = if user == 0 {
            // Root may give the file away; then it belongs to neither root nor the host's user.
            std::os::unix::fs::chown(&file, Some(4242), None).unwrap();
            0
        } else {
            // Pretend to be another user: the file belongs to neither root nor that user.
            4242
        };
        let error = check_ownership(&file, checked_as).unwrap_err();
        assert!(
            matches!(error, TrustError::Owner { ref path, .. } if path.ends_with("hosts.so")),
            "{error}"
        );
    }

    #[test]
    fn link_of_another_user_is_rejected() {
        let (dir, file) = private_plugin();
        let link = dir.path().join("planted.so");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let user = current_uid();
        check_ownership(&link, user).expect("a link of the host's user is trusted");

        let checked_as = if user == 0 {
            // As in a sticky directory that root owns, where any user may add a link.
            fs::set_permissions(dir.path(), Permissions::from_mode(0o1777)).unwrap();
            std::os::unix::fs::lchown(&link, Some(4242), None).unwrap();
            0
        } else {
            // Pretend to be another user: the link belongs to neither root nor that user.
            4242
        };
        let error = check_ownership(&link, checked_as).unwrap_err();

        assert!(
            matches!(error, TrustError::Owner { ref path, .. } if path == &link),
            "{error}"
        );
    }

    #[test]
    fn directory_link_of_another_user_is_rejected() {
        let (dir, file) = private_plugin();
        let sticky = dir.path().join("sticky");
        fs::create_dir(&sticky).unwrap();
        let link = sticky.join("libdir");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        let spelled = link.join("hosts.so");
        let metadata = fs::metadata(&file).unwrap();
        let user = current_uid();
        let checked_as = if user == 0 {
            fs::set_permissions(&sticky, Permissions::from_mode(0o1777)).unwrap();
            std::os::unix::fs::lchown(&link, Some(4242), None).unwrap();
            0
        } else {
            4242
        };
        type Check = fn(&mut TrustPolicy, &Path, &fs::Metadata) -> Result<(), TrustError>;
        let checks: [(&str, Check); 2] = [
            ("check_file", TrustPolicy::check_file),
            ("check_plain_entry", TrustPolicy::check_plain_entry),
        ];

        for (name, check) in checks {
            let mut policy = TrustPolicy::new(checked_as);
            let error = check(&mut policy, &spelled, &metadata).expect_err(name);
            assert!(
                matches!(error, TrustError::Owner { ref path, .. } if path == &link),
                "{name}: {error}"
            );
        }
    }

    #[test]
    fn link_chain_resolves_like_the_kernel() {
        let (dir, file) = private_plugin();
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        std::os::unix::fs::symlink("../hosts.so", sub.join("relative.so")).unwrap();
        std::os::unix::fs::symlink(sub.join("relative.so"), dir.path().join("absolute.so"))
            .unwrap();
        let mut policy = TrustPolicy::new(current_uid());

        let resolved = policy
            .resolve_checked(PathBuf::new(), &dir.path().join("sub/../absolute.so"))
            .unwrap();

        assert_eq!(resolved, fs::canonicalize(&file).unwrap());
    }

    #[test]
    fn link_in_writable_directory_is_rejected() {
        let (dir, file) = private_plugin();
        let shared = dir.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, Permissions::from_mode(0o777)).unwrap();
        let link = shared.join("hosts.so");
        std::os::unix::fs::symlink(&file, &link).unwrap();

        let error = check_ownership(&link, current_uid()).unwrap_err();

        assert!(
            matches!(error, TrustError::Writable { ref path, .. } if path == &shared),
            "{error}"
        );
    }

    #[test]
    fn sha256_matches_known_digest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x");
        fs::write(&file, "abc").unwrap();
        assert_eq!(
            sha256_of(&file).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
