#!/usr/bin/env bash
# The gateway firmware on an emulated RP2040 (rp2040js), against a scripted
# TMP102 and uplink host: 32 s of emulated time, the timeline, the checks
# (after a self-test of the harness's fault watch).
# CI runs it after the firmware's release build (.ci/run); on its own:
#
#   (cd examples-rp2040 && cargo build --release --bin gateway)
#   bash tests/rp2040/run.sh                      # Node 20+; installs rp2040js with npm ci
#   bash tests/rp2040/run.sh --decoder tests/rp2040/defmt-log/target/release/defmt-log
#
# Exits non-zero if a check fails or the firmware faults.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
elf="$here/../../examples-rp2040/target/thumbv6m-none-eabi/release/gateway"
if [ ! -f "$elf" ]; then
    echo "no firmware at $elf: build it first (cd examples-rp2040 && cargo build --release --bin gateway)" >&2
    exit 2
fi
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
args=()
for a in "$@"; do
    # Paths given relative to the caller's directory.
    if [ -e "$a" ]; then args+=("$(cd "$(dirname "$a")" && pwd)/$(basename "$a")"); else args+=("$a"); fi
done
cd "$here"
node selftest.js "$elf"
echo
node gateway.js "$elf" "${args[@]}"
