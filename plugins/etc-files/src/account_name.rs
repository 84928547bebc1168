//! Validation of the user and group names that modules write into `/etc/passwd` and
//! `/etc/group`.

use plugin_api::anyhow::{Result, bail};

/// Maximum length of a group or user name, the size of the user field in utmp records.
const MAX_NAME_LEN: usize = 32;

/// Checks a group or user name against the pattern Debian's adduser accepts for system
/// accounts (`SYS_NAME_REGEX`): a lowercase letter or `_`, then lowercase letters, digits,
/// `_` or `-`, and an optional final `$`. Such a name cannot break `/etc/group` or
/// `/etc/passwd` lines. `kind` names the account kind in the error, such as `group`.
pub fn validate_name(kind: &str, name: &str) -> Result<()> {
    let body = name.strip_suffix('$').unwrap_or(name);
    let valid = name.len() <= MAX_NAME_LEN
        && body.starts_with(|ch: char| ch.is_ascii_lowercase() || ch == '_')
        && body.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"_-".contains(&byte)
        });
    if !valid {
        bail!(
            "invalid {kind} name `{name}`: expected at most {MAX_NAME_LEN} characters, starting \
             with a lowercase letter or `_`, then lowercase letters, digits, `_` or `-`"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_name_accepts_account_names() {
        for name in ["alice", "_apt", "ssh-users", "svc_01", "machine$"] {
            assert!(validate_name("group", name).is_ok(), "{name}");
        }
    }

    #[test]
    fn validate_name_accepts_maximum_length() {
        let longest = "a".repeat(MAX_NAME_LEN);

        assert!(validate_name("user", &longest).is_ok());
    }

    #[test]
    fn validate_name_rejects_format_breaking_names() {
        let too_long = "a".repeat(MAX_NAME_LEN + 1);
        for name in [
            "",
            "Alice",
            "1abc",
            "-abc",
            "a:b",
            "a,b",
            "a b",
            "a\nb",
            "a$b",
            too_long.as_str(),
        ] {
            assert!(validate_name("group", name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn validate_name_error_names_kind_and_value() {
        let error = validate_name("user", "Bad Name").unwrap_err();

        assert!(
            error
                .to_string()
                .starts_with("invalid user name `Bad Name`:"),
            "{error}"
        );
    }
}
