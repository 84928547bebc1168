#!/usr/bin/env bash
# Builds Configurator and the bundled modules in release mode, installs the modules into a
# plugin directory and runs them against a sandbox root seeded from this machine's /etc/hosts,
# /etc/group and /etc/passwd. Nothing outside the sandbox is written.
#
# Usage: scripts/demo.sh [--fresh] [-- EXTRA RUN OPTIONS]
#   --fresh  seed the sandbox root again, discarding the previous demo run's changes
#
# The sandbox lives in $CARGO_TARGET_DIR/demo (by default target/demo). Run the script twice to
# see the second run report every module unchanged.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$repo/target}
demo_dir=$target_dir/demo
plugin_dir=$demo_dir/modules
root=$demo_dir/root
# The host's plugin scan cache goes to the sandbox too, not to ~/.cache or /var/cache.
export XDG_CACHE_HOME=$demo_dir/cache

fresh=false
extra=()
while (($#)); do
  case $1 in
    --fresh) fresh=true ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

cargo build --release --manifest-path "$repo/Cargo.toml" -p configurator
"$repo/scripts/install-plugins.sh" "$plugin_dir"

if $fresh || [[ ! -d $root ]]; then
  rm -rf "$root"
  mkdir -p "$root/etc"
  for file in hosts group passwd; do
    cp "/etc/$file" "$root/etc/$file"
  done
  echo "seeded sandbox root $root from this machine's /etc/hosts, /etc/group and /etc/passwd"
fi

echo
echo "configurator list:"
"$target_dir/release/configurator" list --plugins "$plugin_dir" --config "$repo/examples/configurator.toml"
echo
echo "configurator plan:"
"$target_dir/release/configurator" plan --plugins "$plugin_dir" --config "$repo/examples/configurator.toml"
echo
echo "configurator run --root $root:"
exec "$target_dir/release/configurator" run \
  --plugins "$plugin_dir" \
  --config "$repo/examples/configurator.toml" \
  --root "$root" \
  "${extra[@]}"
