//! The `sshd` module: an OpenSSH server hardening drop-in and the groups it admits.
//!
//! It owns `/etc/ssh/sshd_config.d/50-configurator.conf` whole and replaces it atomically. It
//! also makes sure every `AllowGroups` group exists in `/etc/group`, so that the drop-in never
//! names a missing group. The `groups` module edits `/etc/group` in the same batch, so that
//! edit happens under `Context::file_lock("/etc/group")`. The lock serializes the two
//! read-modify-write cycles, so each one reads the groups the other created before it picks
//! a free gid.
//!
//! The module does not reload or test-run sshd.
//!
//! Read [`SshdModule::configure`] first.

use std::collections::HashSet;

use configurator_etc_files::group::{GroupEntry, GroupFile};
use configurator_etc_files::validate_name;
use plugin_api::anyhow::{Context as _, Result, bail};
use plugin_api::fs::{read_to_string_if_exists, write_atomic};
use plugin_api::{ConfigurationModule, Context, Outcome};
use serde::Deserialize;

/// The drop-in the module owns. sshd reads it only when the main `sshd_config` has
/// `Include /etc/ssh/sshd_config.d/*.conf`.
const DROP_IN: &str = "/etc/ssh/sshd_config.d/50-configurator.conf";

/// Mode of a newly created file. Existing files keep theirs.
const NEW_FILE_MODE: u32 = 0o644;

/// Settings from `[modules.sshd]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// The `PermitRootLogin` value.
    permit_root_login: PermitRootLogin,
    /// Whether sshd accepts password logins (`PasswordAuthentication`).
    password_authentication: bool,
    /// Groups whose members may log in (`AllowGroups`). An empty list writes no `AllowGroups`
    /// line, which admits every user.
    allow_groups: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            permit_root_login: PermitRootLogin::No,
            password_authentication: false,
            allow_groups: vec!["ssh-users".to_owned()],
        }
    }
}

impl Settings {
    fn validate(&self) -> Result<()> {
        let mut seen = HashSet::new();
        for group in &self.allow_groups {
            validate_name("group", group).context(
                "invalid `allow_groups` in [modules.sshd]; patterns such as `adm*` are not \
                 supported because each group must exist",
            )?;
            if !seen.insert(group) {
                bail!("invalid `allow_groups` in [modules.sshd]: `{group}` is listed twice");
            }
        }
        Ok(())
    }
}

/// The values `PermitRootLogin` accepts, spelled as in `sshd_config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum PermitRootLogin {
    Yes,
    No,
    ProhibitPassword,
    ForcedCommandsOnly,
}

impl PermitRootLogin {
    fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::ProhibitPassword => "prohibit-password",
            Self::ForcedCommandsOnly => "forced-commands-only",
        }
    }
}

/// The `sshd` module.
#[derive(Debug, Default)]
pub struct SshdModule;

impl ConfigurationModule for SshdModule {
    fn name(&self) -> &str {
        "sshd"
    }

    fn description(&self) -> &str {
        "Writes an sshd hardening drop-in and creates its AllowGroups groups"
    }

    /// Creates the missing groups first, so that the drop-in never names a missing group,
    /// then writes the drop-in when its text differs.
    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        let settings: Settings = ctx.settings()?;
        settings.validate()?;

        let mut changes = ensure_groups(ctx, &settings.allow_groups)?;

        let drop_in = ctx.resolve(DROP_IN)?;
        let desired = drop_in_text(&settings);
        if read_to_string_if_exists(&drop_in)?.as_deref() != Some(desired.as_str()) {
            write_atomic(&drop_in, &desired, NEW_FILE_MODE)?;
            ctx.info(format_args!("wrote {DROP_IN}"));
            changes.push(format!("wrote {DROP_IN}"));
        }

        if changes.is_empty() {
            Ok(Outcome::unchanged(format!(
                "{DROP_IN} and its groups are already current"
            )))
        } else {
            Ok(Outcome::changed(changes.join("; ")))
        }
    }
}

plugin_api::export_module!(SshdModule);

/// Creates the missing groups in `/etc/group` under its lock and describes each creation.
fn ensure_groups(ctx: &Context, groups: &[String]) -> Result<Vec<String>> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }

    let lock = ctx.file_lock("/etc/group")?;
    let current = read_to_string_if_exists(lock.path())?.unwrap_or_default();
    let (updated, changes) = updated_group_file(&current, groups)
        .with_context(|| format!("cannot update {}", lock.path().display()))?;
    if !changes.is_empty() {
        write_atomic(lock.path(), &updated, NEW_FILE_MODE)?;
        for change in &changes {
            ctx.info(format_args!("/etc/group: {change}"));
        }
    }
    Ok(changes)
}

/// Returns the text of `/etc/group` with every group of `desired` present, and one description
/// per created group. A new group gets the lowest free gid from 1000 and no members.
fn updated_group_file(current: &str, desired: &[String]) -> Result<(String, Vec<String>)> {
    let mut file = GroupFile::parse(current)?;
    let mut changes = Vec::new();
    for name in desired {
        if file.get(name).is_some() {
            continue;
        }
        let gid = file.free_gid()?;
        file.push(GroupEntry {
            name: name.clone(),
            password: "x".to_owned(),
            gid,
            members: Vec::new(),
        });
        changes.push(format!("created group {name} (gid {gid})"));
    }
    Ok((file.render(), changes))
}

/// Builds the drop-in's text.
fn drop_in_text(settings: &Settings) -> String {
    let mut text = format!(
        "# Managed by Configurator (module sshd). Local changes are overwritten.\n\
         PermitRootLogin {}\n\
         PasswordAuthentication {}\n",
        settings.permit_root_login.as_str(),
        if settings.password_authentication {
            "yes"
        } else {
            "no"
        },
    );
    if !settings.allow_groups.is_empty() {
        text.push_str(&format!(
            "AllowGroups {}\n",
            settings.allow_groups.join(" ")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn default_drop_in_disables_root_and_passwords() {
        let text = drop_in_text(&Settings::default());

        assert_eq!(
            text,
            "# Managed by Configurator (module sshd). Local changes are overwritten.\n\
             PermitRootLogin no\n\
             PasswordAuthentication no\n\
             AllowGroups ssh-users\n"
        );
    }

    #[test]
    fn drop_in_lists_all_allowed_groups() {
        let settings: Settings = toml::from_str(
            "permit_root_login = \"prohibit-password\"\n\
             password_authentication = true\n\
             allow_groups = [\"ssh-users\", \"admins\"]\n",
        )
        .unwrap();

        let text = drop_in_text(&settings);

        assert!(
            text.contains("PermitRootLogin prohibit-password\n"),
            "{text}"
        );
        assert!(text.contains("PasswordAuthentication yes\n"), "{text}");
        assert!(text.contains("AllowGroups ssh-users admins\n"), "{text}");
    }

    #[test]
    fn drop_in_without_allow_groups() {
        let settings: Settings = toml::from_str("allow_groups = []").unwrap();

        assert!(!drop_in_text(&settings).contains("AllowGroups"));
    }

    #[test]
    fn settings_reject_unknown_permit_root_login_value() {
        let error =
            toml::from_str::<Settings>("permit_root_login = \"without-password\"").unwrap_err();

        assert!(error.to_string().contains("prohibit-password"), "{error}");
    }

    #[test]
    fn settings_reject_group_pattern() {
        let settings: Settings = toml::from_str("allow_groups = [\"adm*\"]").unwrap();

        let error = settings.validate().unwrap_err();

        assert!(format!("{error:#}").contains("patterns"), "{error:#}");
    }

    #[test]
    fn missing_group_is_created_with_free_gid() {
        let current = "root:x:0:\nstaff:x:1000:\n";

        let (text, changes) = updated_group_file(current, &groups(&["ssh-users"])).unwrap();

        assert_eq!(text, "root:x:0:\nstaff:x:1000:\nssh-users:x:1001:\n");
        assert_eq!(changes, ["created group ssh-users (gid 1001)"]);
    }

    #[test]
    fn existing_group_is_left_alone() {
        let current = "root:x:0:\nssh-users:x:1500:alice\n";

        let (text, changes) = updated_group_file(current, &groups(&["ssh-users"])).unwrap();

        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(text, current);
    }

    #[test]
    fn malformed_group_file_is_an_error() {
        let error = updated_group_file("root:x:0\n", &groups(&["ssh-users"])).unwrap_err();

        assert!(error.to_string().starts_with("line 1:"), "{error}");
    }
}
