#!/usr/bin/env bash
# Builds the bundled modules under plugins/ and installs each one into a plugin directory as
# <module-name>.so, replacing any previous copy by rename.
#
# Usage: scripts/install-plugins.sh DIR [--debug]
#
# The crate configurator-module-NAME becomes NAME.so (configurator-module-hosts -> hosts.so).
# Only cdylib packages with that prefix are modules. Other packages under plugins/, such as the
# libraries the modules share, are skipped. Each library is copied to a temporary file in DIR and
# renamed over the final name, because overwriting a .so that a running host has mapped crashes
# that host. The build output is found through `cargo metadata`, which honours CARGO_TARGET_DIR.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/install-plugins.sh DIR [--debug]

Builds the bundled modules under plugins/ and installs each one into DIR as <module-name>.so.

  DIR      plugin directory to install into; created when missing
  --debug  build and install the debug profile instead of release
  --help   print this message
USAGE
}

# Reports an invalid invocation with the usage message and exits with status 2.
usage_error() {
  usage >&2
  echo "install-plugins.sh: $*" >&2
  exit 2
}

# Reports a failure and exits with status 1.
fail() {
  echo "install-plugins.sh: $*" >&2
  exit 1
}

repo=$(cd "$(dirname "$0")/.." && pwd)
package_prefix=configurator-module-

dest=
profile=release
while (($#)); do
  case $1 in
    --debug) profile=debug ;;
    -h|--help) usage; exit 0 ;;
    -*) usage_error "unknown option '$1'" ;;
    *)
      [[ -z $dest ]] || usage_error "more than one DIR given: '$dest' and '$1'"
      dest=$1
      ;;
  esac
  shift
done
[[ -n $dest ]] || usage_error "missing DIR, the plugin directory to install into"

# Prints "PACKAGE LIBRARY-TARGET" for every package under the plugins directory (argv[1]) whose
# name starts with the module prefix (argv[2]) and that has a cdylib target, sorted by package.
# It reads the output of `cargo metadata` on stdin.
list_modules='
import json, os, sys

plugins_dir, prefix = os.path.realpath(sys.argv[1]), sys.argv[2]
modules = []
for package in json.load(sys.stdin)["packages"]:
    package_dir = os.path.dirname(os.path.realpath(package["manifest_path"]))
    name = package["name"]
    if os.path.dirname(package_dir) != plugins_dir:
        continue
    if not name.startswith(prefix) or name == prefix:
        continue
    for target in package["targets"]:
        if "cdylib" in target["kind"]:
            modules.append((name, target["name"]))
for name, target in sorted(modules):
    print(name, target)
'

metadata=$(cargo metadata --manifest-path "$repo/Cargo.toml" --format-version 1 --no-deps)
module_list=$(python3 -c "$list_modules" "$repo/plugins" "$package_prefix" <<<"$metadata")
[[ -n $module_list ]] || fail "no cdylib packages named '$package_prefix*' found under $repo/plugins"

packages=()
library_targets=()
while read -r package target; do
  packages+=("$package")
  library_targets+=("$target")
done <<<"$module_list"

build_args=(build --manifest-path "$repo/Cargo.toml")
[[ $profile == release ]] && build_args+=(--release)
for package in "${packages[@]}"; do
  build_args+=(-p "$package")
done
cargo "${build_args[@]}"

target_dir=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' \
  <<<"$metadata")
output_dir=$target_dir/$profile

mkdir -p -- "$dest"

# Remove a half-copied temporary file when the script stops early.
temp=
trap '[[ -z $temp ]] || rm -f -- "$temp"' EXIT

for index in "${!packages[@]}"; do
  package=${packages[index]}
  module=${package#"$package_prefix"}
  library=$output_dir/lib${library_targets[index]}.so
  [[ -f $library ]] || fail "$library not found after building $package"

  temp=$(mktemp -- "$dest/.$module.so.XXXXXX")
  cp -- "$library" "$temp"
  chmod 0755 -- "$temp"
  mv -f -- "$temp" "$dest/$module.so"
  temp=
  echo "installed $dest/$module.so"
done
