//! Version requirements in `depends_on` entries.
//!
//! An entry is a module name, optionally followed by whitespace and a semver requirement in
//! Cargo's syntax (parsed by the `semver` crate): `hosts`, `hosts >=1.2, <2`, `hosts 1.2`.
//! [`split_depends_on`] separates the bare names, which dependency checks and the executor
//! use, from the [`VersionRequirement`]s, which [`check`] tests against the loaded module's
//! version when the plan is made.

use semver::{Version, VersionReq};
use serde::Serialize;

/// A version requirement one module puts on another in its `depends_on`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionRequirement {
    /// The module whose version must meet the requirement.
    pub dependency: String,
    /// The requirement as declared, such as `>=1.2, <2`.
    pub requirement: String,
}

/// The reason a loaded module's version does not satisfy a requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequirementError {
    /// The requirement is not valid semver requirement syntax.
    InvalidRequirement {
        /// The `semver` crate's parse error.
        reason: String,
    },
    /// The dependency's version is not a semver version, so no requirement can match it.
    InvalidVersion {
        /// The `semver` crate's parse error.
        reason: String,
    },
    /// Both parse, and the version does not match.
    Unmet,
}

/// Splits one `depends_on` entry at its first whitespace into the module name and the
/// requirement text, which is `None` when the entry is a bare name.
pub fn split_entry(entry: &str) -> (&str, Option<&str>) {
    let entry = entry.trim();
    match entry.split_once(char::is_whitespace) {
        Some((name, requirement)) => (name, Some(requirement.trim())),
        None => (entry, None),
    }
}

/// Splits declared `depends_on` entries into the bare module names, in declaration order, and
/// the version requirements of the entries that carry one.
pub fn split_depends_on<'a>(
    entries: impl IntoIterator<Item = &'a str>,
) -> (Vec<String>, Vec<VersionRequirement>) {
    let mut names = Vec::new();
    let mut requirements = Vec::new();
    for entry in entries {
        let (name, requirement) = split_entry(entry);
        names.push(name.to_owned());
        if let Some(requirement) = requirement {
            requirements.push(VersionRequirement {
                dependency: name.to_owned(),
                requirement: requirement.to_owned(),
            });
        }
    }
    (names, requirements)
}

/// Parses a requirement in Cargo's syntax.
pub fn parse(requirement: &str) -> Result<VersionReq, RequirementError> {
    VersionReq::parse(requirement).map_err(|error| RequirementError::InvalidRequirement {
        reason: error.to_string(),
    })
}

/// Checks `version` against `requirement` with Cargo's matching rules, under which a
/// pre-release version matches only a requirement that names a pre-release of the same
/// `major.minor.patch`.
pub fn check(requirement: &str, version: &str) -> Result<(), RequirementError> {
    let requirement = parse(requirement)?;
    let version = Version::parse(version).map_err(|error| RequirementError::InvalidVersion {
        reason: error.to_string(),
    })?;
    if requirement.matches(&version) {
        Ok(())
    } else {
        Err(RequirementError::Unmet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_name_has_no_requirement() {
        assert_eq!(split_entry("hosts"), ("hosts", None));
        assert_eq!(split_entry("  hosts  "), ("hosts", None));
    }

    #[test]
    fn requirement_follows_first_whitespace() {
        assert_eq!(split_entry("hosts >=1.2, <2"), ("hosts", Some(">=1.2, <2")));
        assert_eq!(split_entry("hosts\t 1.2 "), ("hosts", Some("1.2")));
    }

    #[test]
    fn split_keeps_names_in_declaration_order() {
        let (names, requirements) = split_depends_on(["system", "hosts >=1.2, <2", "groups"]);

        assert_eq!(names, ["system", "hosts", "groups"]);
        assert_eq!(
            requirements,
            [VersionRequirement {
                dependency: "hosts".into(),
                requirement: ">=1.2, <2".into(),
            }]
        );
    }

    #[test]
    fn matching_version_meets_requirement() {
        assert_eq!(check(">=1.2, <2", "1.2.0"), Ok(()));
        assert_eq!(check(">=1.2, <2", "1.9.3"), Ok(()));
        assert_eq!(check("1.2", "1.4.0"), Ok(()), "a bare version means ^1.2");
    }

    #[test]
    fn version_outside_range_is_unmet() {
        assert_eq!(check(">=1.2, <2", "2.0.0"), Err(RequirementError::Unmet));
        assert_eq!(check(">=1.2, <2", "1.1.9"), Err(RequirementError::Unmet));
        assert_eq!(check("1.2", "2.0.0"), Err(RequirementError::Unmet));
    }

    #[test]
    fn pre_release_matches_only_when_named() {
        assert_eq!(check(">=1.0", "1.3.0-beta.1"), Err(RequirementError::Unmet));
        assert_eq!(check(">=1.3.0-beta.0", "1.3.0-beta.1"), Ok(()));
    }

    #[test]
    fn invalid_requirement_is_reported() {
        let result = check(">=one", "1.0.0");

        assert!(
            matches!(result, Err(RequirementError::InvalidRequirement { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn non_semver_version_is_reported() {
        let result = check(">=1", "1.0");

        assert!(
            matches!(result, Err(RequirementError::InvalidVersion { .. })),
            "{result:?}"
        );
    }
}
