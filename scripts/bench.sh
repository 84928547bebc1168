#!/usr/bin/env bash
# Runs the scheduler benchmarks in release mode and prints the machine they ran on, with the
# load average before and after, because other processes on the machine skew the timings.
#
# Usage: scripts/bench.sh [overhead] [length]
#   overhead  scheduling overhead per module: 10,000 no-op modules against a bare rayon scope
#   length    run length / lower bound for graphs of sleeping modules, batches and eager
# With no argument both run. docs/benchmarks.md describes them and records results.
set -euo pipefail
cd "$(dirname "$0")/.."

for argument in "$@"; do
  case $argument in
    overhead|length) ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown benchmark '$argument' (try --help)" >&2; exit 2 ;;
  esac
done

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
echo "machine: $(nproc) threads (nproc), $cpu_model"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench -p configurator --bench scheduler -- "$@"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
