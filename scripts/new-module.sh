#!/usr/bin/env bash
# Creates a new Configurator module crate from a template: a cdylib that manages the content of
# one file, with its settings type, check-mode support and unit tests that run it on the
# in-process test host of plugin-api.
#
# Usage: scripts/new-module.sh NAME [DIR]
#
# NAME is the module name: lowercase letters, digits and '-', starting with a letter. The crate
# is the package configurator-module-NAME in DIR, by default plugins/NAME in this workspace.
# Directly under plugins/ the crate is a member of this workspace and inherits its settings.
# Anywhere outside this workspace it is a crate of its own, with an empty [workspace] table and a
# path dependency on this checkout's plugin-api. It then starts from a copy of this workspace's
# Cargo.lock, so that it builds with the dependency versions the host was tested with. Other
# places inside this workspace are rejected, because cargo rejects a crate that is inside the
# workspace without being a member. An existing DIR is never touched.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/new-module.sh NAME [DIR]

Creates the module crate configurator-module-NAME from a template.

  NAME    module name: lowercase letters, digits and '-', starting with a letter (e.g. ntp)
  DIR     directory to create; default plugins/NAME in this workspace, else a directory
          outside this workspace for a stand-alone crate
  --help  print this message

Then: cargo test -p configurator-module-NAME (or cargo test in DIR for a stand-alone crate).
USAGE
}

# Reports an invalid invocation with the usage message and exits with status 2.
usage_error() {
  usage >&2
  echo "new-module.sh: $*" >&2
  exit 2
}

# Reports a failure and exits with status 1.
fail() {
  echo "new-module.sh: $*" >&2
  exit 1
}

repo=$(cd "$(dirname "$0")/.." && pwd -P)

arguments=()
while (($#)); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --) shift; arguments+=("$@"); break ;;
    -*) usage_error "unknown option '$1'" ;;
    *) arguments+=("$1") ;;
  esac
  shift
done
((${#arguments[@]} >= 1)) || usage_error "missing NAME, the module name"
((${#arguments[@]} <= 2)) || usage_error "too many arguments: ${arguments[*]}"

name=${arguments[0]}
[[ $name =~ ^[a-z][a-z0-9]*(-[a-z0-9]+)*$ ]] ||
  usage_error "invalid module name '$name': use lowercase letters, digits and single '-' \
between them, starting with a letter (e.g. ntp or login-banner)"

dir=${arguments[1]:-$repo/plugins/$name}
[[ ! -e $dir && ! -L $dir ]] || fail "$dir already exists; choose another NAME or DIR"
target=$(realpath -m -- "$dir")

# The crate's type name: login-banner -> LoginBannerModule.
type_name=
IFS=- read -r -a parts <<<"$name"
for part in "${parts[@]}"; do
  type_name+=${part^}
done
type_name+=Module

if [[ $(dirname -- "$target") == "$repo/plugins" ]]; then
  layout=member
elif [[ $target == "$repo" || $target == "$repo"/* ]]; then
  fail "$target is inside this workspace but not directly under $repo/plugins; create the \
module as plugins/$name, or in a directory outside this workspace"
else
  layout=standalone
fi

# Writes the manifest of a workspace member to stdout.
member_manifest() {
  cat <<'TOML'
[package]
name = "configurator-module-@NAME@"
version = "0.1.0"
description = "Configurator module: the content of /etc/@NAME@.conf"
edition.workspace = true
rust-version.workspace = true
license.workspace = true
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
plugin-api.workspace = true
serde.workspace = true

[dev-dependencies]
# The in-process test host, plugin_api::testing::TestHost.
plugin-api = { workspace = true, features = ["testing"] }

[lints]
workspace = true
TOML
}

# Writes the manifest of a stand-alone crate to stdout.
standalone_manifest() {
  cat <<'TOML'
[package]
name = "configurator-module-@NAME@"
version = "0.1.0"
description = "Configurator module: the content of /etc/@NAME@.conf"
edition = "2024"
rust-version = "1.95"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
plugin-api = { path = "@PLUGIN_API@" }
serde = { version = "1", features = ["derive"] }

[dev-dependencies]
# The in-process test host, plugin_api::testing::TestHost.
plugin-api = { path = "@PLUGIN_API@", features = ["testing"] }

# The host catches a module's panic only when the plugin unwinds, and rejects a plugin built
# with panic = "abort".
[profile.release]
panic = "unwind"

# A crate of its own, never a member of a workspace in a directory above it.
[workspace]
TOML
}

# Writes the module's source to stdout.
module_source() {
  cat <<'RUST'
//! The `@NAME@` module: the content of one file, `/etc/@NAME@.conf` by default.
//!
//! # Settings
//!
//! - `content`: the file's text. Unset by default, and then the module changes nothing and
//!   reports `unchanged`.
//! - `path`: the file to manage, `/etc/@NAME@.conf` by default.
//! - `mode`: the permission bits of a file the module creates, `0o644` by default. An existing
//!   file keeps its own.
//!
//! # Files
//!
//! It owns the file at `path` whole and replaces it atomically under its lock, through the
//! context, so that a run with `--root` stays inside the root and a `run --check` records the
//! change instead of writing it.

use plugin_api::{ConfigurationModule, Context, Outcome, Result};
use serde::Deserialize;

/// Settings from `[modules.@NAME@]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// The file's text; `None` changes nothing.
    content: Option<String>,
    /// The file to manage, as a system path.
    path: String,
    /// Permission bits of a file the module creates.
    mode: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            content: None,
            path: "/etc/@NAME@.conf".to_owned(),
            mode: 0o644,
        }
    }
}

/// The `@NAME@` module.
#[derive(Debug, Default)]
pub struct @TYPE@;

impl ConfigurationModule for @TYPE@ {
    fn name(&self) -> &str {
        "@NAME@"
    }

    fn description(&self) -> &str {
        "Writes the configured content to /etc/@NAME@.conf"
    }

    /// Every change goes through `Context::write_atomic`, which only records it in check mode.
    fn supports_check(&self) -> bool {
        true
    }

    /// Replaces the file when its content differs from `content`.
    fn configure(&self, ctx: &Context) -> Result<Outcome> {
        let settings: Settings = ctx.settings()?;
        let Some(content) = &settings.content else {
            return Ok(Outcome::unchanged(
                "nothing configured: no `content` in [modules.@NAME@]",
            ));
        };

        // In check mode this records the new content instead of writing it, and the outcome
        // stays the same as in a real run.
        if !ctx.write_atomic(&settings.path, content, settings.mode)? {
            return Ok(Outcome::unchanged(format!(
                "{} is already current",
                settings.path
            )));
        }
        Ok(Outcome::changed(format!("wrote {}", settings.path)))
    }
}

plugin_api::export_module!(@TYPE@, settings = Settings);

#[cfg(test)]
mod tests {
    use super::*;

    use plugin_api::testing::TestHost;

    #[test]
    fn writes_content_once() {
        let host = TestHost::temporary().unwrap();

        let first = host.run(&@TYPE@, "content = \"hello\\n\"").unwrap();
        let second = host.run(&@TYPE@, "content = \"hello\\n\"").unwrap();

        assert!(first.is_changed(), "{first:?}");
        assert!(!second.is_changed(), "{second:?}");
        assert_eq!(host.read("/etc/@NAME@.conf").unwrap(), "hello\n");
    }

    #[test]
    fn unconfigured_changes_nothing() {
        let host = TestHost::temporary().unwrap();

        let outcome = host.run(&@TYPE@, "").unwrap();

        assert!(!outcome.is_changed(), "{outcome:?}");
        assert!(!host.exists("/etc/@NAME@.conf"));
    }

    #[test]
    fn path_and_mode_are_settings() {
        use std::os::unix::fs::PermissionsExt as _;
        let host = TestHost::temporary().unwrap();

        host.run(&@TYPE@, "content = \"x\"\npath = \"/srv/x.conf\"\nmode = 0o600")
            .unwrap();

        let metadata = std::fs::metadata(host.path("/srv/x.conf")).unwrap();
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn check_mode_writes_nothing() {
        let host = TestHost::temporary().unwrap();

        let outcome = host.check(&@TYPE@, "content = \"hello\\n\"").unwrap();

        assert!(outcome.is_changed(), "{outcome:?}");
        assert!(!host.exists("/etc/@NAME@.conf"));
        let changes = host.changes();
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].new_text(), "hello\n");
    }

    #[test]
    fn unknown_setting_is_rejected() {
        let host = TestHost::temporary().unwrap();

        let error = host.run(&@TYPE@, "contnet = \"hello\"").unwrap_err();

        assert!(error.message().contains("contnet"), "{error}");
    }
}
RUST
}

# Replaces the template's placeholders; every value is free of sed's special characters
# except the plugin-api path, whose '|' and '&' are escaped.
fill() {
  local plugin_api=$repo/plugin-api
  plugin_api=${plugin_api//\\/\\\\}
  plugin_api=${plugin_api//|/\\|}
  plugin_api=${plugin_api//&/\\&}
  sed -e "s|@NAME@|$name|g" -e "s|@TYPE@|$type_name|g" -e "s|@PLUGIN_API@|$plugin_api|g"
}

mkdir -p -- "$(dirname -- "$target")"
# mkdir without -p fails when another process created the directory since the check above.
mkdir -- "$target" || fail "cannot create $target"
mkdir -- "$target/src"
module_source | fill >"$target/src/lib.rs"
# Line breaks depend on the length of the type name; rustfmt settles them as `cargo fmt` would.
if command -v rustfmt >/dev/null; then
  rustfmt --edition 2024 -- "$target/src/lib.rs"
fi
if [[ $layout == member ]]; then
  member_manifest | fill >"$target/Cargo.toml"
  echo "created configurator-module-$name in $target, a member of this workspace"
  echo "next: cargo test -p configurator-module-$name"
  echo "      scripts/install-plugins.sh DIR installs it with the bundled modules"
else
  standalone_manifest | fill >"$target/Cargo.toml"
  printf '/target\n' >"$target/.gitignore"
  cp -- "$repo/Cargo.lock" "$target/Cargo.lock"
  echo "created configurator-module-$name in $target, a crate of its own"
  echo "next: cd $target && cargo test && cargo build --release"
  echo "      then install target/release/libconfigurator_module_${name//-/_}.so as $name.so"
fi
