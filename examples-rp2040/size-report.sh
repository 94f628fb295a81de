#!/usr/bin/env bash
# Build every RP2040 binary in release (thumbv6m-none-eabi, lto = "fat",
# opt-level = "s") and print its flash and static RAM, then what fusebox
# itself costs: size_probe (every primitive, the async retry runner and
# I2C bus included) and size_probe_core (the sans-IO primitives only) minus
# size_baseline, binaries that differ only in the fusebox calls.
#
# Part of each difference is not fusebox's code but compiler-builtins
# routines it makes the linker pull in (64-bit division, the multiply
# helpers, memset): they are shared with the rest of a real firmware (the
# gateway and breaker binaries link them anyway, through embassy-time's
# conversions), so they are shown apart as "builtins".
#
#   flash      = .text + .rodata          (code and constants)
#   static RAM = .data + .bss             (initialised and zeroed statics)
#   .uninit    = statics never initialised (defmt-rtt's 1 KiB buffer); RAM too
# Not counted: .vector_table (192 B) and .boot2 (256 B), fixed, and the
# .data initialisers that are also stored in flash.
#
# Fails if the sans-IO primitives' own flash (size_probe_core - baseline,
# without the builtins) exceeds FUSEBOX_FLASH_BUDGET (default 8192).
#
# Then compares the README's firmware size table (between the
# "size-report: begin" and "size-report: end" markers in ../README.md) with
# this run's and fails on a difference, printing the fresh table; with
# `--update-readme` it writes the fresh table into the README instead:
#
#   bash examples-rp2040/size-report.sh --update-readme
#
# Needs `rustup target add thumbv6m-none-eabi` and `size` (binutils) or
# `llvm-size`. Honours CARGO_TARGET_DIR; by default builds in
# examples-rp2040/target.
set -euo pipefail

update_readme=false
case "${1:-}" in
    "") ;;
    --update-readme) update_readme=true ;;
    *) echo "usage: bash examples-rp2040/size-report.sh [--update-readme]" >&2; exit 2 ;;
esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    target_dir="$(mkdir -p "$CARGO_TARGET_DIR" && cd "$CARGO_TARGET_DIR" && pwd)"
else
    target_dir="$here/target"
fi
export CARGO_TARGET_DIR="$target_dir"
# Where the sources lie changes the code: cargo hashes a path package's
# location into its symbols' names (-C metadata), which reorders the linked
# code and the defmt indices (a clone at /check/work/main built a gateway 4 B
# larger than one at /work/main). So the firmware is built from a copy of
# the tree at one fixed path, FUSEBOX_SIZE_SRC (default
# /tmp/fusebox-size-src), and any Cargo.lock change is copied back.
# Panic locations keep source paths in .rodata (fusebox's, the registry
# crates', build-script output): remap them, so the sizes are the same
# whatever the cargo home and the target directory are.
repo="$(cd "$here/.." && pwd)"
src="${FUSEBOX_SIZE_SRC:-/tmp/fusebox-size-src}"
rm -rf "$src"
mkdir -p "$src"
# The whole tree but the build outputs, the git store and the fuzz corpora:
# the core inherits from the root workspace, whose members must be there.
tar -C "$repo" --exclude=target --exclude=node_modules --exclude=./.git \
    --exclude=./fuzz -cf - . | tar -C "$src" -xf -
cargo_home="$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd)"
export RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$src=/fusebox --remap-path-prefix=$target_dir=/target"

size_tool="${SIZE:-$(command -v size || command -v llvm-size || true)}"
nm_tool="${NM:-$(command -v nm || command -v llvm-nm || true)}"
if [[ -z "$size_tool" || -z "$nm_tool" ]]; then
    echo "size-report: size/nm (binutils) or llvm-size/llvm-nm needed" >&2
    exit 2
fi

cd "$src/examples-rp2040"
# Not --locked: a dependency added to fusebox adds entries to this
# workspace's own Cargo.lock, which is then to be committed.
cargo build --release --bins
if ! cmp -s Cargo.lock "$here/Cargo.lock"; then
    cp Cargo.lock "$here/Cargo.lock"
    echo "size-report: examples-rp2040/Cargo.lock changed by this build; commit it" >&2
fi
cd "$here"

bins=(gateway breaker size_probe size_probe_core size_baseline)
declare -A text rodata data bss uninit built

for bin in "${bins[@]}"; do
    elf="$target_dir/thumbv6m-none-eabi/release/$bin"
    # `size -A`: one "section size address" line per section.
    read -r t r d b u < <("$size_tool" -A "$elf" | awk '
        $1 == ".text"   { t = $2 } $1 == ".rodata" { r = $2 }
        $1 == ".data"   { d = $2 } $1 == ".bss"    { b = $2 }
        $1 == ".uninit" { u = $2 }
        END { print t + 0, r + 0, d + 0, b + 0, u + 0 }')
    if [[ "$t" -eq 0 ]]; then
        echo "size-report: no .text in $elf" >&2
        exit 1
    fi
    text[$bin]=$t rodata[$bin]=$r data[$bin]=$d bss[$bin]=$b uninit[$bin]=$u
done

row() { printf '%-40s %7s %7s %7s %7s %7s %11s %8s\n' "$@"; }
echo
echo "RP2040 release sizes in bytes (thumbv6m-none-eabi, lto=fat, opt-level=s, codegen-units=1)"
row binary .text .rodata flash .data .bss "static RAM" .uninit
for bin in "${bins[@]}"; do
    row "$bin" "${text[$bin]}" "${rodata[$bin]}" $(( text[$bin] + rodata[$bin] )) \
        "${data[$bin]}" "${bss[$bin]}" $(( data[$bin] + bss[$bin] )) "${uninit[$bin]}"
done
rel="$target_dir/thumbv6m-none-eabi/release"
# Bytes of compiler-builtins code in $1 and not in size_baseline.
builtins() {
    "$nm_tool" --radix=d -S "$rel/$1" | awk -v base_syms="$base_syms" '
        BEGIN { while ((getline l < base_syms) > 0) seen[l] = 1 }
        ($3 == "t" || $3 == "T") && !($4 in seen) && ($4 ~ /^__/ || $4 ~ /compiler_builtins/) { n += $2 + 0 }
        END { print n + 0 }'
}
base_syms="$(mktemp)"
trap 'rm -f "$base_syms"' EXIT
"$nm_tool" "$rel/size_baseline" | awk '{ print $NF }' > "$base_syms"
b=size_baseline
for p in size_probe size_probe_core; do
    label="fusebox: all"
    [[ $p == size_probe_core ]] && label="fusebox: sans-IO"
    row "$label ($p - base)" \
        $(( text[$p] - text[$b] )) $(( rodata[$p] - rodata[$b] )) \
        $(( text[$p] + rodata[$p] - text[$b] - rodata[$b] )) \
        $(( data[$p] - data[$b] )) $(( bss[$p] - bss[$b] )) \
        $(( data[$p] + bss[$p] - data[$b] - bss[$b] )) $(( uninit[$p] - uninit[$b] ))
    built[$p]=$(builtins "$p")
    row "  of which builtins" "${built[$p]}" "" "${built[$p]}" "" "" "" ""
done
echo "(flash = .text + .rodata; static RAM = .data + .bss; size tool: $size_tool)"

# Issue 6's target: fusebox's primitives together under 8 KiB of flash.
budget="${FUSEBOX_FLASH_BUDGET:-8192}"
p=size_probe_core
cost=$(( text[$p] + rodata[$p] - text[$b] - rodata[$b] ))
own=$(( cost - built[$p] ))
p=size_probe
all=$(( text[$p] + rodata[$p] - text[$b] - rodata[$b] ))
echo "fusebox: sans-IO primitives $cost B of flash ($own B without the builtins); with the retry runner and the I2C bus $all B"

# The README's table, from this run. Sizes grouped by thousands as the README
# writes them ("36 844 B").
group() { printf '%s' "$1" | rev | sed 's/\([0-9]\{3\}\)/\1 /g' | rev | sed 's/^ //'; }
flash() { group $(( text[$1] + rodata[$1] )); }
ram() { group $(( data[$1] + bss[$1] )); }
p=size_probe_core
core_ram=$(group $(( data[$p] + bss[$p] - data[$b] - bss[$b] )))
p=size_probe
all_ram=$(group $(( data[$p] + bss[$p] - data[$b] - bss[$b] )))
rust="$(rustc --version | sed -n 's/^rustc \([0-9]*\.[0-9]*\).*/\1/p')"
embassy_rp="$(grep -A1 '^name = "embassy-rp"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')"
table="Rust $rust, embassy-rp $embassy_rp:

| binary | flash | static RAM |
|---|---:|---:|
| \`gateway\` (5 tasks, I2C, UART, defmt) | $(flash gateway) B | $(ram gateway) B |
| \`breaker\` (2 tasks, GPIO, defmt) | $(flash breaker) B | $(ram breaker) B |
| **fusebox, sans-IO primitives**: breaker, both bulkheads, AIMD limit, backoff, retry budget, dedup table, token bucket | **$(group "$cost") B** ($(group "$own") B + $(group "${built[size_probe_core]}") B of compiler-builtins routines) | $core_ram B |
| **fusebox, everything**: + the async retry runner and the resilient I2C bus | **$(group "$all") B** | $all_ram B |"
readme="$here/../README.md"
begin='<!-- size-report: begin'
end='<!-- size-report: end -->'
current="$(awk -v b="$begin" -v e="$end" '
    index($0, e) == 1 { on = 0 } on { print } index($0, b) == 1 { on = 1 }' "$readme")"
if [[ "$current" == "$table" ]]; then
    echo "fusebox: README.md's firmware size table matches this run"
elif [[ "$update_readme" == true ]]; then
    fresh="$(mktemp)"
    awk -v b="$begin" -v e="$end" -v t="$table" '
        index($0, e) == 1 { print t; on = 0 } !on { print } index($0, b) == 1 { on = 1 }' \
        "$readme" > "$fresh"
    cat "$fresh" > "$readme"
    rm -f "$fresh"
    echo "fusebox: README.md's firmware size table updated from this run"
else
    echo "size-report: README.md's firmware size table differs from this run's:" >&2
    diff <(printf '%s\n' "$current") <(printf '%s\n' "$table") >&2 || true
    echo "The table from this run (or run: bash examples-rp2040/size-report.sh --update-readme):" >&2
    printf '%s\n' "$table" >&2
    status=1
fi

if (( own > budget )); then
    echo "size-report: the sans-IO primitives' own code is $own B of flash, over the $budget B budget (FUSEBOX_FLASH_BUDGET)" >&2
    exit 1
fi
echo "fusebox: the sans-IO primitives' own code is within the $budget B budget"
exit "${status:-0}"
