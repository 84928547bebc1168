#!/usr/bin/env bash
# Builds the bundled modules under plugins/ and installs each one into a plugin directory as
# <module-name>.so, replacing any previous copy by rename.
#
# Usage: scripts/install-plugins.sh DIR [--debug]
#
# The crate configurator-module-NAME becomes NAME.so (configurator-module-hosts -> hosts.so).
# Each library is copied to a temporary file in DIR and renamed over the final name, because
# overwriting a .so that a running host has mapped crashes that host. The build output is found
# through `cargo metadata`, which honours CARGO_TARGET_DIR.
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

# Collect the package name of every crate under plugins/ from its manifest's first `name`.
packages=()
for manifest in "$repo"/plugins/*/Cargo.toml; do
  [[ -e $manifest ]] || continue
  name=$(sed -n 's/^name *= *"\(.*\)"$/\1/p' "$manifest" | head -n 1)
  case $name in
    "$package_prefix"?*) packages+=("$name") ;;
    *) fail "$manifest: package name '$name' does not start with '$package_prefix'" ;;
  esac
done
((${#packages[@]})) || fail "no module crates found under $repo/plugins"

build_args=(build --manifest-path "$repo/Cargo.toml")
[[ $profile == release ]] && build_args+=(--release)
for package in "${packages[@]}"; do
  build_args+=(-p "$package")
done
cargo "${build_args[@]}"

target_dir=$(cargo metadata --manifest-path "$repo/Cargo.toml" --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[[ -n $target_dir ]] || target_dir=${CARGO_TARGET_DIR:-$repo/target}
output_dir=$target_dir/$profile

mkdir -p -- "$dest"

# Remove a half-copied temporary file when the script stops early.
temp=
trap '[[ -z $temp ]] || rm -f -- "$temp"' EXIT

for package in "${packages[@]}"; do
  module=${package#"$package_prefix"}
  library=$output_dir/lib${package//-/_}.so
  [[ -f $library ]] || fail "$library not found after the build; is $package a cdylib crate?"

  temp=$(mktemp -- "$dest/.$module.so.XXXXXX")
  cp -- "$library" "$temp"
  chmod 0755 -- "$temp"
  mv -f -- "$temp" "$dest/$module.so"
  temp=
  echo "installed $dest/$module.so"
done
