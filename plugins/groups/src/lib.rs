//! The `groups` module: local groups in `/etc/group`.
//!
//! # Settings
//!
//! `[modules.groups]` lists the groups to ensure as `[[modules.groups.group]]` tables, none by
//! default, and then the module touches no file and reports `unchanged`. Each table has:
//!
//! - `name`: the group's name, required.
//! - `gid`: the gid of a new group, by default the lowest free gid from 1000. An existing
//!   group whose gid differs is an error, never renumbered.
//! - `members`: users that must be supplementary members, none by default. Other members are
//!   kept.
//!
//! # Files
//!
//! It makes sure every configured group exists with the listed members. It never removes a
//! group or a member, and never changes the gid of an existing group. It owns the groups it is
//! configured with: `sshd` and `users`, which also edit `/etc/group`, list this module in
//! `depends_on` and so run after it. `sshd` creates only the `AllowGroups` groups still
//! missing then. The whole read-modify-write still happens under
//! `Context::file_lock("/etc/group")`, which also excludes other Configurator processes on the
//! same root.
//!
//! Read [`GroupsModule::configure`] first, then [`updated_group_file`].

use std::collections::HashSet;

use configurator_etc_files::group::{GroupEntry, GroupFile};
use configurator_etc_files::validate_name;
use plugin_api::anyhow::{Context as _, Result, bail};
use plugin_api::{ConfigurationModule, Context, Outcome};
use serde::Deserialize;

/// Mode of `/etc/group` when the module creates it.
const NEW_FILE_MODE: u32 = 0o644;

/// Settings from `[modules.groups]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// The groups to ensure, written as `[[modules.groups.group]]` tables.
    #[serde(rename = "group")]
    groups: Vec<GroupSpec>,
}

/// One group to ensure.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupSpec {
    name: String,
    /// The gid for a new group. Without it the module picks the lowest free gid from 1000.
    #[serde(default)]
    gid: Option<u32>,
    /// Users that must be supplementary members. Other members are kept.
    #[serde(default)]
    members: Vec<String>,
}

impl Settings {
    fn validate(&self) -> Result<()> {
        let mut seen = HashSet::new();
        for group in &self.groups {
            validate_name("group", &group.name).context("invalid [[modules.groups.group]]")?;
            if !seen.insert(group.name.as_str()) {
                bail!(
                    "invalid [[modules.groups.group]]: group `{}` is listed twice",
                    group.name
                );
            }
            for member in &group.members {
                validate_name("user", member).with_context(|| {
                    format!(
                        "invalid member of group `{}` in [modules.groups]",
                        group.name
                    )
                })?;
            }
        }
        Ok(())
    }
}

/// The `groups` module.
#[derive(Debug, Default)]
pub struct GroupsModule;

impl ConfigurationModule for GroupsModule {
    fn name(&self) -> &str {
        "groups"
    }

    fn description(&self) -> &str {
        "Creates local groups and adds their members in /etc/group"
    }

    /// Returns `true`: every write goes through the lock guard, which records it in check mode.
    fn supports_check(&self) -> bool {
        true
    }

    /// Edits `/etc/group` under its lock, writing it only when a group or member is missing.
    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        let settings: Settings = ctx.settings()?;
        settings.validate()?;
        if settings.groups.is_empty() {
            return Ok(Outcome::unchanged(
                "nothing configured: no [[modules.groups.group]] tables",
            ));
        }

        let lock = ctx.file_lock("/etc/group")?;
        let current = lock.read_to_string()?.unwrap_or_default();
        let (updated, changes) = updated_group_file(&current, &settings.groups)
            .with_context(|| format!("cannot update {}", lock.path().display()))?;
        if changes.is_empty() {
            return Ok(Outcome::unchanged(format!(
                "all {} groups already present with their members",
                settings.groups.len()
            )));
        }

        lock.write_atomic(&updated, NEW_FILE_MODE)?;
        for change in &changes {
            ctx.info(format_args!("/etc/group: {change}"));
        }
        Ok(Outcome::changed(changes.join("; ")))
    }
}

plugin_api::export_module!(GroupsModule, settings = Settings);

/// Returns the text of `/etc/group` with every group of `desired` present and holding its
/// members, and one description per change. An empty list means `current` is already right.
///
/// Fails when `current` has a malformed line, when an existing group has a different gid than
/// requested, or when a requested gid belongs to another group.
fn updated_group_file(current: &str, desired: &[GroupSpec]) -> Result<(String, Vec<String>)> {
    let mut file = GroupFile::parse(current)?;
    let mut changes = Vec::new();

    for spec in desired {
        match file.get(&spec.name) {
            Some(existing) => check_existing_gid(existing, spec)?,
            None => {
                let gid = gid_for_new_group(&file, spec)?;
                file.push(GroupEntry {
                    name: spec.name.clone(),
                    password: "x".to_owned(),
                    gid,
                    members: Vec::new(),
                });
                changes.push(format!("created group {} (gid {gid})", spec.name));
            }
        }

        for member in &spec.members {
            if file.add_member(&spec.name, member) == Some(true) {
                changes.push(format!("added {member} to group {}", spec.name));
            }
        }
    }

    Ok((file.render(), changes))
}

fn check_existing_gid(existing: &GroupEntry, spec: &GroupSpec) -> Result<()> {
    match spec.gid {
        Some(gid) if gid != existing.gid => bail!(
            "group {} exists with gid {}, but the settings request gid {gid}; change the \
             setting or renumber the group by hand",
            spec.name,
            existing.gid
        ),
        _ => Ok(()),
    }
}

fn gid_for_new_group(file: &GroupFile, spec: &GroupSpec) -> Result<u32> {
    let Some(gid) = spec.gid else {
        return file.free_gid();
    };
    if let Some(owner) = file.gid_owner(gid) {
        bail!(
            "cannot create group {} with gid {gid}: group {owner} already has that gid",
            spec.name
        );
    }
    Ok(gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, gid: Option<u32>, members: &[&str]) -> GroupSpec {
        GroupSpec {
            name: name.to_owned(),
            gid,
            members: members.iter().map(|member| (*member).to_owned()).collect(),
        }
    }

    const BASE: &str = "root:x:0:\nsudo:x:27:\nstaff:x:1000:alice\n";

    #[test]
    fn missing_group_gets_lowest_free_gid() {
        let (text, changes) = updated_group_file(BASE, &[spec("developers", None, &[])]).unwrap();

        assert_eq!(text, format!("{BASE}developers:x:1001:\n"));
        assert_eq!(changes, ["created group developers (gid 1001)"]);
    }

    #[test]
    fn missing_group_gets_requested_gid_and_members() {
        let desired = [spec("deploy", Some(2000), &["alice", "bob"])];

        let (text, changes) = updated_group_file(BASE, &desired).unwrap();

        assert_eq!(text, format!("{BASE}deploy:x:2000:alice,bob\n"));
        assert_eq!(
            changes,
            [
                "created group deploy (gid 2000)",
                "added alice to group deploy",
                "added bob to group deploy"
            ]
        );
    }

    #[test]
    fn new_groups_in_one_run_get_distinct_gids() {
        let desired = [spec("a", None, &[]), spec("b", None, &[])];

        let (text, _) = updated_group_file(BASE, &desired).unwrap();

        assert!(text.ends_with("a:x:1001:\nb:x:1002:\n"), "{text}");
    }

    #[test]
    fn existing_group_gains_missing_member_only() {
        let (text, changes) =
            updated_group_file(BASE, &[spec("staff", Some(1000), &["alice", "carol"])]).unwrap();

        assert_eq!(text, "root:x:0:\nsudo:x:27:\nstaff:x:1000:alice,carol\n");
        assert_eq!(changes, ["added carol to group staff"]);
    }

    #[test]
    fn existing_group_keeps_members_not_in_settings() {
        let (text, changes) = updated_group_file(BASE, &[spec("staff", None, &[])]).unwrap();

        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(text, BASE);
    }

    #[test]
    fn existing_group_with_other_gid_is_an_error() {
        let error = updated_group_file(BASE, &[spec("staff", Some(1500), &[])]).unwrap_err();

        assert_eq!(
            error.to_string(),
            "group staff exists with gid 1000, but the settings request gid 1500; change the \
             setting or renumber the group by hand"
        );
    }

    #[test]
    fn requested_gid_of_other_group_is_an_error() {
        let error = updated_group_file(BASE, &[spec("ops", Some(27), &[])]).unwrap_err();

        assert_eq!(
            error.to_string(),
            "cannot create group ops with gid 27: group sudo already has that gid"
        );
    }

    #[test]
    fn missing_file_gets_created_from_nothing() {
        let (text, _) = updated_group_file("", &[spec("ssh-users", None, &[])]).unwrap();

        assert_eq!(text, "ssh-users:x:1000:\n");
    }

    #[test]
    fn malformed_file_is_an_error_with_line_number() {
        let error = updated_group_file("root:x:0:\ngarbage\n", &[]).unwrap_err();

        assert!(error.to_string().starts_with("line 2:"), "{error}");
    }

    #[test]
    fn second_update_changes_nothing() {
        let desired = [
            spec("developers", None, &["alice"]),
            spec("deploy", Some(2000), &["bob"]),
        ];
        let (first, _) = updated_group_file(BASE, &desired).unwrap();

        let (second, changes) = updated_group_file(&first, &desired).unwrap();

        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(second, first);
    }

    #[test]
    fn settings_reject_duplicate_group() {
        let settings: Settings =
            toml::from_str("[[group]]\nname = \"ops\"\n\n[[group]]\nname = \"ops\"\n").unwrap();

        let error = settings.validate().unwrap_err();

        assert!(error.to_string().contains("listed twice"), "{error}");
    }

    #[test]
    fn settings_reject_invalid_member() {
        let settings: Settings =
            toml::from_str("[[group]]\nname = \"ops\"\nmembers = [\"Bad Name\"]\n").unwrap();

        let error = settings.validate().unwrap_err();

        assert!(
            format!("{error:#}").contains("invalid user name `Bad Name`"),
            "{error:#}"
        );
    }

    #[test]
    fn settings_reject_unknown_group_key() {
        let error = toml::from_str::<Settings>("[[group]]\nname = \"ops\"\ngit = 5\n").unwrap_err();

        assert!(error.to_string().contains("git"), "{error}");
    }
}
