//! The `sshd` module: an OpenSSH server drop-in and the groups it admits.
//!
//! # Settings
//!
//! Every key of `[modules.sshd]` is optional, and a key left out writes no directive, so sshd
//! keeps its own default or whatever the main `sshd_config` sets:
//!
//! - `permit_root_login`: `yes`, `no`, `prohibit-password` or `forced-commands-only`, written
//!   as `PermitRootLogin`. Unset by default.
//! - `password_authentication`: `true` or `false`, written as `PasswordAuthentication`. Unset
//!   by default.
//! - `allow_groups`: group names written as one `AllowGroups` line. Unset or empty by default,
//!   and then no `AllowGroups` line is written and no group is created.
//!
//! With none of them set the module touches no file and reports `unchanged`, so a drop-in
//! from an earlier run stays as it is.
//!
//! # Files
//!
//! It owns `/etc/ssh/sshd_config.d/50-configurator.conf` whole and replaces it atomically.
//!
//! The `groups` module owns the groups in `/etc/group`, and this module lists it in
//! `depends_on`, so a group that `groups` creates with a fixed gid always exists before this
//! module looks. Only an `AllowGroups` group that is still missing then is created here, with
//! the lowest free gid from 1000, so that the drop-in never names a missing group.
//!
//! The `users` module runs in the same batch and edits membership lines of `/etc/group`. So
//! whenever `allow_groups` is set, this module reads `/etc/group` and adds any missing group
//! line under `Context::file_lock("/etc/group")`, which `users` takes for its edits too.
//!
//! The module does not reload or test-run sshd.
//!
//! Read [`SshdModule::configure`] first.

use std::collections::HashSet;

use configurator_etc_files::group::{GroupEntry, GroupFile};
use configurator_etc_files::validate_name;
use plugin_api::anyhow::{Context as _, Result, bail};
use plugin_api::{ConfigurationModule, Context, Outcome};
use serde::Deserialize;

/// The drop-in the module owns. sshd reads it only when the main `sshd_config` has
/// `Include /etc/ssh/sshd_config.d/*.conf`.
const DROP_IN: &str = "/etc/ssh/sshd_config.d/50-configurator.conf";

/// Mode of a newly created file. Existing files keep theirs.
const NEW_FILE_MODE: u32 = 0o644;

/// Settings from `[modules.sshd]`. A key left out writes no directive.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// The `PermitRootLogin` value.
    permit_root_login: Option<PermitRootLogin>,
    /// Whether sshd accepts password logins (`PasswordAuthentication`).
    password_authentication: Option<bool>,
    /// Groups whose members may log in (`AllowGroups`). An empty list writes no `AllowGroups`
    /// line, which admits every user.
    allow_groups: Vec<String>,
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

    fn is_empty(&self) -> bool {
        self.permit_root_login.is_none()
            && self.password_authentication.is_none()
            && self.allow_groups.is_empty()
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
        "Writes the configured sshd directives to a drop-in and creates missing AllowGroups groups"
    }

    /// `groups` creates the groups it is configured with, so this module creates only the
    /// `AllowGroups` groups still missing after it ran.
    fn depends_on(&self) -> &[&str] {
        &["groups"]
    }

    /// Returns `true`: every write goes through the context's file helpers, which record
    /// it in check mode.
    fn supports_check(&self) -> bool {
        true
    }

    /// Creates the missing groups first, so that the drop-in never names a missing group,
    /// then writes the drop-in when its text differs.
    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        let settings: Settings = ctx.settings()?;
        settings.validate()?;
        if settings.is_empty() {
            return Ok(Outcome::unchanged(
                "nothing configured: no permit_root_login, password_authentication or \
                 allow_groups in [modules.sshd]",
            ));
        }

        let mut changes = ensure_groups(ctx, &settings.allow_groups)?;

        let desired = drop_in_text(&settings);
        if ctx.write_atomic(DROP_IN, &desired, NEW_FILE_MODE)? {
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

plugin_api::export_module!(SshdModule, settings = Settings);

/// Creates the `AllowGroups` groups still missing in `/etc/group` under its lock, and
/// describes each creation. The lock is taken before the read, because only the read shows
/// whether a line is missing, and a write must not drop an edit that `users` made since.
fn ensure_groups(ctx: &Context, groups: &[String]) -> Result<Vec<String>> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }

    let lock = ctx.file_lock("/etc/group")?;
    let current = lock.read_to_string()?.unwrap_or_default();
    let (updated, changes) = updated_group_file(&current, groups)
        .with_context(|| format!("cannot update {}", lock.path().display()))?;
    if !changes.is_empty() {
        lock.write_atomic(&updated, NEW_FILE_MODE)?;
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

/// Builds the drop-in's text: a header, then one line per configured directive.
fn drop_in_text(settings: &Settings) -> String {
    let mut text =
        String::from("# Managed by Configurator (module sshd). Local changes are overwritten.\n");
    if let Some(permit_root_login) = settings.permit_root_login {
        text.push_str(&format!("PermitRootLogin {}\n", permit_root_login.as_str()));
    }
    if let Some(password_authentication) = settings.password_authentication {
        let value = if password_authentication { "yes" } else { "no" };
        text.push_str(&format!("PasswordAuthentication {value}\n"));
    }
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
    fn default_settings_configure_nothing() {
        let settings: Settings = toml::from_str("").unwrap();

        settings.validate().unwrap();
        assert!(settings.is_empty());
    }

    #[test]
    fn drop_in_lists_only_configured_directives() {
        let settings: Settings = toml::from_str("password_authentication = false").unwrap();

        let text = drop_in_text(&settings);

        assert_eq!(
            text,
            "# Managed by Configurator (module sshd). Local changes are overwritten.\n\
             PasswordAuthentication no\n"
        );
    }

    #[test]
    fn empty_allow_groups_configure_nothing() {
        let settings: Settings = toml::from_str("allow_groups = []").unwrap();

        assert!(settings.is_empty());
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
        let settings: Settings = toml::from_str("permit_root_login = \"no\"").unwrap();

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
