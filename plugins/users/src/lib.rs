//! The `users` module: local user accounts in `/etc/passwd` and their supplementary groups in
//! `/etc/group`.
//!
//! # Settings
//!
//! `[modules.users]` lists the users to ensure as `[[modules.users.user]]` tables, none by
//! default, and then the module touches no file and reports `unchanged`. In each table only
//! `name` is required. The other keys apply to a new user, and to an existing user only when
//! they are set:
//!
//! - `uid`: the uid of a new user, by default the lowest free uid from 1000. An existing user
//!   whose uid differs is an error, never renumbered.
//! - `primary_group`: the primary group's name, `users` for a new user by default.
//! - `groups`: supplementary groups the user must belong to, none by default. Other
//!   memberships are kept.
//! - `comment`, `home`, `shell`: the passwd fields, for a new user by default empty,
//!   `/home/NAME` and `/bin/bash`.
//!
//! # Files
//!
//! It creates missing users and enforces the fields the settings give for existing ones. It
//! never removes a user or a group membership, and never changes an existing uid. Groups come
//! from the `groups` module, so `groups` is in `depends_on`. Each file is edited under its own
//! `Context::file_lock`, taken one at a time: first `/etc/passwd`, then `/etc/group`.
//!
//! The `sshd` module runs in the same batch and adds any missing `AllowGroups` group line to
//! `/etc/group` under the same lock. This module edits only member lists there, and the lock
//! keeps either module from writing back a file that misses the other's edit.
//!
//! NOTE: it writes no `/etc/shadow` entry and creates no home directory, so a new user cannot
//! log in with a password until one is set by other means.
//!
//! Read [`UsersModule::configure`] first.

use std::collections::HashSet;

use configurator_etc_files::group::GroupFile;
use configurator_etc_files::passwd::{PasswdEntry, PasswdFile};
use configurator_etc_files::validate_name;
use plugin_api::anyhow::{Context as _, Result, bail};
use plugin_api::fs::read_to_string_if_exists;
use plugin_api::{ConfigurationModule, Context, Outcome};
use serde::Deserialize;

/// Mode of `/etc/passwd` or `/etc/group` when the module creates it.
const NEW_FILE_MODE: u32 = 0o644;

/// Primary group of a new user whose settings name none.
const DEFAULT_PRIMARY_GROUP: &str = "users";

/// Login shell of a new user whose settings name none.
const DEFAULT_SHELL: &str = "/bin/bash";

/// Settings from `[modules.users]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// The users to ensure, written as `[[modules.users.user]]` tables.
    #[serde(rename = "user")]
    users: Vec<UserSpec>,
}

/// One user to ensure. For an existing user, only the fields given here are enforced.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserSpec {
    name: String,
    /// The uid for a new user. Without it the module picks the lowest free uid from 1000.
    #[serde(default)]
    uid: Option<u32>,
    /// Primary group name, `users` for a new user by default.
    #[serde(default)]
    primary_group: Option<String>,
    /// Supplementary groups the user must belong to. Other memberships are kept.
    #[serde(default)]
    groups: Vec<String>,
    /// Comment (GECOS) field, usually the full name.
    #[serde(default)]
    comment: Option<String>,
    /// Home directory, `/home/NAME` for a new user by default.
    #[serde(default)]
    home: Option<String>,
    /// Login shell, `/bin/bash` for a new user by default.
    #[serde(default)]
    shell: Option<String>,
}

impl Settings {
    fn validate(&self) -> Result<()> {
        let mut seen = HashSet::new();
        for user in &self.users {
            user.validate()
                .with_context(|| format!("invalid user `{}` in [modules.users]", user.name))?;
            if !seen.insert(user.name.as_str()) {
                bail!(
                    "invalid [modules.users]: user `{}` is listed twice",
                    user.name
                );
            }
        }
        Ok(())
    }
}

impl UserSpec {
    fn validate(&self) -> Result<()> {
        validate_name("user", &self.name)?;
        if self.uid == Some(0) {
            bail!("uid 0 belongs to root; leave `uid` out to get a free uid");
        }
        for group in self.primary_group.iter().chain(&self.groups) {
            validate_name("group", group)?;
        }
        if let Some(comment) = &self.comment {
            validate_field("comment", comment)?;
        }
        for (field, path) in [("home", &self.home), ("shell", &self.shell)] {
            if let Some(path) = path {
                validate_field(field, path)?;
                if !path.starts_with('/') {
                    bail!("`{field}` must be an absolute path, found `{path}`");
                }
            }
        }
        Ok(())
    }
}

/// Rejects text that would break a `/etc/passwd` line: a `:` or a control character.
fn validate_field(field: &str, value: &str) -> Result<()> {
    if value.contains(':') || value.chars().any(char::is_control) {
        bail!(
            "`{field}` must not contain `:` or control characters, found `{}`",
            value.escape_debug()
        );
    }
    Ok(())
}

/// The `users` module.
#[derive(Debug, Default)]
pub struct UsersModule;

impl ConfigurationModule for UsersModule {
    fn name(&self) -> &str {
        "users"
    }

    fn description(&self) -> &str {
        "Creates local users in /etc/passwd and adds them to their groups"
    }

    fn depends_on(&self) -> &[&str] {
        &["groups"]
    }

    /// Returns `true`: every write goes through the lock guards, which record it in check mode.
    fn supports_check(&self) -> bool {
        true
    }

    /// Checks every named group first, so that a settings mistake writes nothing, then edits
    /// `/etc/passwd` and `/etc/group` in turn.
    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        let settings: Settings = ctx.settings()?;
        settings.validate()?;
        if settings.users.is_empty() {
            return Ok(Outcome::unchanged(
                "nothing configured: no [[modules.users.user]] tables",
            ));
        }

        // Reading without the lock is safe: writers replace the file atomically, and the
        // module only needs gids, which no bundled module changes.
        let group_path = ctx.resolve("/etc/group")?;
        let group_text = read_to_string_if_exists(&group_path)?.unwrap_or_default();
        let groups = GroupFile::parse(&group_text)
            .with_context(|| format!("invalid {}", group_path.display()))?;
        check_supplementary_groups(&groups, &settings.users)?;

        let mut changes = edit_locked(ctx, "/etc/passwd", |current| {
            updated_passwd_file(current, &settings.users, &groups)
        })?;
        changes.extend(edit_locked(ctx, "/etc/group", |current| {
            updated_group_file(current, &settings.users)
        })?);

        if changes.is_empty() {
            Ok(Outcome::unchanged(format!(
                "all {} users already present with their groups",
                settings.users.len()
            )))
        } else {
            Ok(Outcome::changed(changes.join("; ")))
        }
    }
}

plugin_api::export_module!(UsersModule, settings = Settings);

/// Runs one read-modify-write of `system_path` under its lock. `update` returns the new text
/// and the changes, and the file is written only when there are changes.
fn edit_locked(
    ctx: &Context,
    system_path: &str,
    update: impl FnOnce(&str) -> Result<(String, Vec<String>)>,
) -> Result<Vec<String>> {
    let lock = ctx.file_lock(system_path)?;
    let current = lock.read_to_string()?.unwrap_or_default();
    let (updated, changes) =
        update(&current).with_context(|| format!("cannot update {}", lock.path().display()))?;
    if !changes.is_empty() {
        lock.write_atomic(&updated, NEW_FILE_MODE)?;
        for change in &changes {
            ctx.info(format_args!("{system_path}: {change}"));
        }
    }
    Ok(changes)
}

fn check_supplementary_groups(groups: &GroupFile, users: &[UserSpec]) -> Result<()> {
    for user in users {
        for group in &user.groups {
            if groups.get(group).is_none() {
                bail!(
                    "group `{group}` of user {} not found in /etc/group; add it to \
                     [modules.groups]",
                    user.name
                );
            }
        }
    }
    Ok(())
}

/// Returns the text of `/etc/passwd` with every user of `desired` present and matching the
/// fields its settings give, and one description per change. `groups` supplies the gids of
/// primary groups.
fn updated_passwd_file(
    current: &str,
    desired: &[UserSpec],
    groups: &GroupFile,
) -> Result<(String, Vec<String>)> {
    let mut file = PasswdFile::parse(current)?;
    let mut changes = Vec::new();

    for spec in desired {
        let primary_gid = match &spec.primary_group {
            Some(group) => Some(gid_of(groups, group, spec)?),
            None => None,
        };
        match file.get(&spec.name) {
            Some(existing) => {
                let mut entry = existing.clone();
                let entry_changes = apply_spec(&mut entry, spec, primary_gid)?;
                if !entry_changes.is_empty() {
                    file.replace(entry);
                    changes.extend(entry_changes);
                }
            }
            None => {
                let gid = match primary_gid {
                    Some(gid) => gid,
                    None => gid_of(groups, DEFAULT_PRIMARY_GROUP, spec)?,
                };
                let entry = new_entry(&file, spec, gid)?;
                changes.push(format!("created user {} (uid {})", entry.name, entry.uid));
                file.push(entry);
            }
        }
    }

    Ok((file.render(), changes))
}

fn gid_of(groups: &GroupFile, group: &str, spec: &UserSpec) -> Result<u32> {
    match groups.get(group) {
        Some(entry) => Ok(entry.gid),
        None => bail!(
            "primary group `{group}` of user {} not found in /etc/group; add it to \
             [modules.groups] or set `primary_group`",
            spec.name
        ),
    }
}

/// Builds the line of a new user, picking a free uid unless the settings give one.
fn new_entry(file: &PasswdFile, spec: &UserSpec, gid: u32) -> Result<PasswdEntry> {
    let uid = match spec.uid {
        Some(uid) => {
            if let Some(owner) = file.uid_owner(uid) {
                bail!(
                    "cannot create user {} with uid {uid}: user {owner} already has that uid",
                    spec.name
                );
            }
            uid
        }
        None => file.free_uid()?,
    };
    Ok(PasswdEntry {
        name: spec.name.clone(),
        password: "x".to_owned(),
        uid,
        gid,
        comment: spec.comment.clone().unwrap_or_default(),
        home: spec
            .home
            .clone()
            .unwrap_or_else(|| format!("/home/{}", spec.name)),
        shell: spec
            .shell
            .clone()
            .unwrap_or_else(|| DEFAULT_SHELL.to_owned()),
    })
}

/// Sets the fields the settings give on an existing user and describes each change. Fails
/// when the settings request another uid, because renumbering a user strands its files.
fn apply_spec(entry: &mut PasswdEntry, spec: &UserSpec, gid: Option<u32>) -> Result<Vec<String>> {
    if let Some(uid) = spec.uid.filter(|&uid| uid != entry.uid) {
        bail!(
            "user {} exists with uid {}, but the settings request uid {uid}; change the setting \
             or renumber the user by hand",
            entry.name,
            entry.uid
        );
    }

    let mut changes = Vec::new();
    if let Some(gid) = gid.filter(|&gid| gid != entry.gid) {
        entry.gid = gid;
        changes.push(format!("set primary gid of {} to {gid}", entry.name));
    }
    let text_fields = [
        ("comment", &mut entry.comment, &spec.comment),
        ("home", &mut entry.home, &spec.home),
        ("shell", &mut entry.shell, &spec.shell),
    ];
    for (field, current, desired) in text_fields {
        if let Some(desired) = desired.as_ref().filter(|desired| *desired != current) {
            *current = desired.clone();
            changes.push(format!("set {field} of {} to `{desired}`", spec.name));
        }
    }
    Ok(changes)
}

/// Returns the text of `/etc/group` with every user of `desired` listed in its supplementary
/// groups, and one description per added membership.
fn updated_group_file(current: &str, desired: &[UserSpec]) -> Result<(String, Vec<String>)> {
    let mut file = GroupFile::parse(current)?;
    let mut changes = Vec::new();
    for user in desired {
        for group in &user.groups {
            match file.add_member(group, &user.name) {
                Some(true) => changes.push(format!("added {} to group {group}", user.name)),
                Some(false) => {}
                None => bail!(
                    "group `{group}` of user {} not found; add it to [modules.groups]",
                    user.name
                ),
            }
        }
    }
    Ok((file.render(), changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUPS: &str = "root:x:0:\nusers:x:100:\nstaff:x:1000:\ndevelopers:x:1001:carol\n";
    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\ncarol:x:1000:100::/home/carol:/bin/sh\n";

    fn user(name: &str) -> UserSpec {
        UserSpec {
            name: name.to_owned(),
            ..UserSpec::default()
        }
    }

    fn groups() -> GroupFile {
        GroupFile::parse(GROUPS).unwrap()
    }

    #[test]
    fn new_user_gets_defaults_and_free_uid() {
        let (text, changes) = updated_passwd_file(PASSWD, &[user("alice")], &groups()).unwrap();

        assert_eq!(
            text,
            format!("{PASSWD}alice:x:1001:100::/home/alice:/bin/bash\n")
        );
        assert_eq!(changes, ["created user alice (uid 1001)"]);
    }

    #[test]
    fn new_user_gets_requested_fields() {
        let spec = UserSpec {
            uid: Some(2000),
            primary_group: Some("staff".to_owned()),
            comment: Some("Alice Example".to_owned()),
            home: Some("/srv/alice".to_owned()),
            shell: Some("/bin/zsh".to_owned()),
            ..user("alice")
        };

        let (text, _) = updated_passwd_file(PASSWD, &[spec], &groups()).unwrap();

        assert!(
            text.ends_with("alice:x:2000:1000:Alice Example:/srv/alice:/bin/zsh\n"),
            "{text}"
        );
    }

    #[test]
    fn new_user_with_taken_uid_is_an_error() {
        let spec = UserSpec {
            uid: Some(1000),
            ..user("alice")
        };

        let error = updated_passwd_file(PASSWD, &[spec], &groups()).unwrap_err();

        assert_eq!(
            error.to_string(),
            "cannot create user alice with uid 1000: user carol already has that uid"
        );
    }

    #[test]
    fn new_user_without_default_group_is_an_error() {
        let groups = GroupFile::parse("root:x:0:\n").unwrap();

        let error = updated_passwd_file(PASSWD, &[user("alice")], &groups).unwrap_err();

        assert!(
            error
                .to_string()
                .starts_with("primary group `users` of user alice not found"),
            "{error}"
        );
    }

    #[test]
    fn existing_user_gets_only_given_fields() {
        let spec = UserSpec {
            shell: Some("/bin/bash".to_owned()),
            ..user("carol")
        };

        let (text, changes) = updated_passwd_file(PASSWD, &[spec], &groups()).unwrap();

        assert_eq!(
            text,
            PASSWD.replace("/home/carol:/bin/sh", "/home/carol:/bin/bash")
        );
        assert_eq!(changes, ["set shell of carol to `/bin/bash`"]);
    }

    #[test]
    fn existing_user_changes_primary_group() {
        let spec = UserSpec {
            primary_group: Some("staff".to_owned()),
            ..user("carol")
        };

        let (text, changes) = updated_passwd_file(PASSWD, &[spec], &groups()).unwrap();

        assert!(text.contains("carol:x:1000:1000::"), "{text}");
        assert_eq!(changes, ["set primary gid of carol to 1000"]);
    }

    #[test]
    fn existing_user_with_other_uid_is_an_error() {
        let spec = UserSpec {
            uid: Some(1500),
            ..user("carol")
        };

        let error = updated_passwd_file(PASSWD, &[spec], &groups()).unwrap_err();

        assert!(
            error
                .to_string()
                .starts_with("user carol exists with uid 1000"),
            "{error}"
        );
    }

    #[test]
    fn memberships_are_added_once() {
        let spec = UserSpec {
            groups: vec!["staff".to_owned(), "developers".to_owned()],
            ..user("alice")
        };

        let (text, changes) = updated_group_file(GROUPS, &[spec]).unwrap();

        assert_eq!(
            text,
            "root:x:0:\nusers:x:100:\nstaff:x:1000:alice\ndevelopers:x:1001:carol,alice\n"
        );
        assert_eq!(
            changes,
            [
                "added alice to group staff",
                "added alice to group developers"
            ]
        );
    }

    #[test]
    fn membership_in_missing_group_is_an_error() {
        let spec = UserSpec {
            groups: vec!["docker".to_owned()],
            ..user("alice")
        };

        let error = updated_group_file(GROUPS, std::slice::from_ref(&spec)).unwrap_err();
        let early_error = check_supplementary_groups(&groups(), &[spec]).unwrap_err();

        assert!(error.to_string().contains("`docker`"), "{error}");
        assert!(
            early_error.to_string().contains("`docker`"),
            "{early_error}"
        );
    }

    #[test]
    fn second_update_changes_nothing() {
        let desired = [
            UserSpec {
                groups: vec!["developers".to_owned()],
                comment: Some("Alice".to_owned()),
                ..user("alice")
            },
            user("bob"),
        ];
        let (passwd, _) = updated_passwd_file(PASSWD, &desired, &groups()).unwrap();
        let (group, _) = updated_group_file(GROUPS, &desired).unwrap();

        let (passwd_again, passwd_changes) =
            updated_passwd_file(&passwd, &desired, &groups()).unwrap();
        let (group_again, group_changes) = updated_group_file(&group, &desired).unwrap();

        assert!(passwd_changes.is_empty(), "{passwd_changes:?}");
        assert!(group_changes.is_empty(), "{group_changes:?}");
        assert_eq!(passwd_again, passwd);
        assert_eq!(group_again, group);
    }

    #[test]
    fn settings_reject_colon_in_comment() {
        let settings: Settings =
            toml::from_str("[[user]]\nname = \"alice\"\ncomment = \"a:b\"\n").unwrap();

        let error = settings.validate().unwrap_err();

        assert!(
            format!("{error:#}").contains("must not contain `:`"),
            "{error:#}"
        );
    }

    #[test]
    fn settings_reject_relative_home() {
        let settings: Settings =
            toml::from_str("[[user]]\nname = \"alice\"\nhome = \"home/alice\"\n").unwrap();

        let error = settings.validate().unwrap_err();

        assert!(format!("{error:#}").contains("absolute path"), "{error:#}");
    }

    #[test]
    fn settings_reject_uid_zero() {
        let settings: Settings = toml::from_str("[[user]]\nname = \"alice\"\nuid = 0\n").unwrap();

        assert!(settings.validate().is_err());
    }

    #[test]
    fn settings_reject_duplicate_user() {
        let settings: Settings =
            toml::from_str("[[user]]\nname = \"alice\"\n\n[[user]]\nname = \"alice\"\n").unwrap();

        let error = settings.validate().unwrap_err();

        assert!(error.to_string().contains("listed twice"), "{error}");
    }
}
