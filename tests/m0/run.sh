#!/usr/bin/env bash
# Run every fusebox scenario, and the thumbv6m size table, on an emulated
# Cortex-M0: `qemu-system-arm -machine microbit` (no compare-and-swap, like
# the RP2040's cores). Exits with QEMU's status: 0 only if every check
# passed and the closing `m0: N passed, 0 failed` line was printed.
#
# Needs: `rustup target add thumbv6m-none-eabi`, and qemu-system-arm
# (Debian: `apt-get install -y qemu-system-arm`). Honours CARGO_TARGET_DIR;
# by default builds in tests/m0/target.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    target_dir="$(mkdir -p "$CARGO_TARGET_DIR" && cd "$CARGO_TARGET_DIR" && pwd)"
else
    target_dir="$here/target"
fi
export CARGO_TARGET_DIR="$target_dir"

if ! command -v qemu-system-arm >/dev/null; then
    echo "m0: qemu-system-arm not found (Debian: apt-get install -y qemu-system-arm)" >&2
    exit 2
fi

cd "$here"
# Not --locked: a dependency added to fusebox (or its scenarios) adds entries
# to this workspace's own Cargo.lock, which is then to be committed.
elf="$target_dir/thumbv6m-none-eabi/release/fusebox-m0"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# The scenarios in two halves (fusebox_scenarios::M0_PARTS): the microbit's
# 256 KiB of flash hold one half at a time. Each half is a build and a run.
status=0
for features in "" "part2"; do
    cargo build --release --features "$features"
    set +e
    timeout 60 qemu-system-arm -cpu cortex-m0 -machine microbit -nographic \
        -semihosting-config enable=on,target=native -kernel "$elf" </dev/null | tee "$log"
    part_status=${PIPESTATUS[0]}
    set -e
    if [[ $part_status -eq 124 ]]; then
        echo "m0: timed out after 60 s (a scenario loops, or a fault handler was bypassed)" >&2
    elif [[ $part_status -gt 128 ]]; then
        echo "m0: QEMU died with signal $((part_status - 128)) (a CPU lockup: a fault in the fault handler, or a stack overflow past the RAM)" >&2
    elif [[ $part_status -eq 0 ]] && ! grep -Eq '^m0: [1-9][0-9]* passed, 0 failed' "$log"; then
        echo "m0: QEMU exited 0 without the closing 'm0: N passed, 0 failed' line" >&2
        part_status=1
    fi
    if [[ $part_status -ne 0 ]]; then status=$part_status; fi
done
exit "$status"
