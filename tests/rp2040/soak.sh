#!/usr/bin/env bash
# The gateway firmware soak (for tests/deep.sh; runnable on its own): one
# emulated hour on rp2040js with random sensor and host faults, the same
# invariants as the CI run (tests/rp2040/run.sh) plus the stack's
# high-water mark, and the firmware's defmt log decoded (tests/rp2040/defmt-log,
# the defmt-decoder crate) and checked against what the wires showed.
#
#   bash tests/rp2040/soak.sh                   # seed 18, 60 minutes
#   bash tests/rp2040/soak.sh --seed 7 --minutes 120
#
# Builds the firmware and the decoder (cargo, cached in their target/
# directories), installs rp2040js (npm ci), writes the raw and decoded log
# and the timeline to target/rp2040-soak/ (SOAK_OUT to change it). About
# 10 s of emulation; the first decoder build takes a few minutes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${SOAK_OUT:-$root/target/rp2040-soak}"
mkdir -p "$out"
(cd "$root/examples-rp2040" && cargo build --release --bin gateway)
(cd "$here/defmt-log" && cargo clippy --release --locked -- -D warnings && cargo build --release --locked)
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
cd "$here"
node soak.js "$root/examples-rp2040/target/thumbv6m-none-eabi/release/gateway" \
    --decoder "$here/defmt-log/target/release/defmt-log" \
    --defmt "$out/gateway.defmt" --log "$out/gateway.log" --timeline "$out/timeline.txt" "$@"
echo "soak: timeline, raw and decoded defmt log in $out"
