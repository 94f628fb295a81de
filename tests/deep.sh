#!/usr/bin/env bash
# Deep, random exploration: what `cargo test` (fixed seed, committed case
# counts) does not try. Run it before calling an issue resolved:
#
#   bash tests/deep.sh                         # every part, default budgets (under 20 min)
#   DEEP_PROPTEST_SECS=120 bash tests/deep.sh  # a short run
#   DEEP_PARTS="soak" bash tests/deep.sh       # some parts only (names below)
#
# It runs in parts, each with its own time budget in seconds; a part starts
# rounds until its budget is spent (the round running at the end is cut, not
# counted as a finding). Each part prints what it ran: seeds, cases, time.
#
#   part       budget (env, default)        what a round is
#   proptest   DEEP_PROPTEST_SECS (660)     every test binary in tests/tests/
#                                           but the soak (built with the `deep`
#                                           profile: optimised, overflow checks
#                                           on), a fresh random seed, each
#                                           property test's committed case
#                                           count times DEEP_PROPTEST_SCALE (20)
#   fuzz       DEEP_FUZZ_SECS (180)         every cargo-fuzz target in fuzz/
#                                           (libFuzzer, optimised, debug
#                                           assertions and overflow checks
#                                           on), the budget split evenly,
#                                           starting from the committed corpus
#   rp2040     DEEP_RP2040_MINUTES (60)     the gateway firmware on rp2040js, random
#                                           sensor and host faults (tests/rp2040/soak.sh);
#                                           emulated minutes, about 40 s of wall time
#   soak       DEEP_SOAK_SECS (180)         the soak under injected faults
#                                           (tests/tests/soak.rs, `deep` profile):
#                                           a random seed, DEEP_SOAK_ROUND_SECS (60)
#                                           of load (the last round shortened to
#                                           fit), DEEP_SOAK_CLIENTS (3000) clients
#
# Default budgets: 660 + 180 + about 40 + 180 s, about 18 min with warm
# builds (each part prints its time, builds included, and the script its
# total); keep their sum so when a part is added or grown.
# Later parts (soaks) are added the same way: a function
# `part_NAME BUDGET` and a line in PARTS below.
#
# A part stops after the round in which it finds something, unless
# DEEP_KEEP_GOING=1. Exits 0 when nothing was found, 1 on a finding (a failing test: a fault in
# fusebox or in a reference model, to be judged), 2 on a usage or build
# error. On a finding it prints the failing test's output (proptest's
# minimal input) and the steps that turn it into a committed regression.
# Logs: target/deep-logs/<UTC time>/.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

read -r -a PARTS <<<"${DEEP_PARTS:-proptest fuzz rp2040 soak}"
proptest_secs="${DEEP_PROPTEST_SECS:-660}"
proptest_scale="${DEEP_PROPTEST_SCALE:-20}"
fuzz_secs="${DEEP_FUZZ_SECS:-180}"
# The firmware soak: emulated minutes (one hour by default, about 10 s of
# wall time once built) and a random seed per run.
rp2040_secs="${DEEP_RP2040_MINUTES:-60}"
# DEEP_KEEP_GOING=1: after a round with a finding, keep starting rounds
# until the budget is spent (to see whether there is more than one fault).
keep_going="${DEEP_KEEP_GOING:-0}"
soak_secs="${DEEP_SOAK_SECS:-180}"
soak_round_secs="${DEEP_SOAK_ROUND_SECS:-60}"
soak_clients="${DEEP_SOAK_CLIENTS:-3000}"
for v in "$proptest_secs" "$proptest_scale" "$fuzz_secs" "$rp2040_secs" "$soak_secs" \
    "$soak_round_secs" "$soak_clients"; do
    if ! [[ "$v" =~ ^[0-9]+$ ]]; then
        echo "deep: budgets and scales are whole numbers (got '$v')" >&2
        exit 2
    fi
done

logs="target/deep-logs/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$logs"
start=$SECONDS
findings=0
say() { printf '[deep %4ss] %s\n' "$((SECONDS - start))" "$*"; }

random_seed() { od -An -N8 -tu8 /dev/urandom | tr -d ' '; }

# part_proptest BUDGET: rounds of every property test under random seeds.
# One round = one fresh seed through every test binary in tests/tests/, one
# binary after another (so the budget cuts at most one binary's run).
part_proptest() {
    local budget=$1 round=0 seed left rc log t0 bin name passed
    say "proptest: building the test binaries (profile deep: optimised, overflow checks on; not counted in the budget)"
    if ! cargo test -q --profile deep -p fusebox-tests --tests --no-run >"$logs/proptest-build.log" 2>&1; then
        cat "$logs/proptest-build.log" >&2
        echo "deep: the tests do not build" >&2
        return 2
    fi
    say "proptest: budget ${budget} s; cases per property test = committed count x ${proptest_scale}; committed counts:"
    local f
    for f in tests/tests/*.rs; do
        local counts
        counts=$(grep -Eo 'proptest_config\((if cfg!\(miri\) \{ [0-9]+ \} else \{ )?[0-9]+' "$f" |
            grep -Eo '[0-9]+$' | tr '\n' ' ')
        [[ -n "$counts" ]] && printf '    %-28s %s\n' "$f" "$counts"
    done
    local part_start=$SECONDS cut=false
    while ! $cut; do
        left=$((budget - (SECONDS - part_start)))
        ((left > 0)) || break
        round=$((round + 1))
        seed=$(random_seed)
        say "proptest: round $round, PROPTEST_RNG_SEED=$seed FUSEBOX_PROPTEST_SCALE=$proptest_scale"
        local failed=()
        for bin in tests/tests/*.rs; do
            name=$(basename "$bin" .rs)
            # The soak has its own part, with its own budget.
            [[ "$name" == soak ]] && continue
            left=$((budget - (SECONDS - part_start)))
            if ((left <= 0)); then cut=true; break; fi
            log="$logs/proptest-round-$round-$name.log"
            t0=$SECONDS
            PROPTEST_RNG_SEED=$seed FUSEBOX_PROPTEST_SCALE=$proptest_scale \
                timeout --kill-after=10 "$left" \
                cargo test -q --profile deep -p fusebox-tests --test "$name" >"$log" 2>&1
            rc=$?
            if ((rc == 124 || rc == 137)); then
                say "    $name: cut at the budget after $((SECONDS - t0)) s (not a finding)"
                cut=true
                break
            fi
            passed=$(awk '/^test result:/ { n += $4 } END { print n + 0 }' "$log")
            if ((rc == 0)); then
                say "    $name: $passed tests passed in $((SECONDS - t0)) s"
            else
                say "    $name: FAILED after $((SECONDS - t0)) s (log: $log)"
                failed+=("$name")
                report_proptest_finding "$seed" "$name" "$log"
            fi
        done
        if ((${#failed[@]} > 0)); then
            findings=$((findings + ${#failed[@]}))
            [[ "$keep_going" == 1 ]] || break
        fi
    done
    say "proptest: $round round(s) in $((SECONDS - part_start)) s"
}

report_proptest_finding() {
    local seed=$1 name=$2 log=$3
    echo
    echo "---- $name: the failure (proptest's minimal input: 'minimal failing input') ----"
    sed -n '/^failures:$/,/^test result:/p' "$log" | grep -v '^   *[0-9]*: \|^ *at ' | head -n 150
    echo "----"
    cat <<EOF

To reproduce it (same seed, same cases):

    PROPTEST_RNG_SEED=$seed FUSEBOX_PROPTEST_SCALE=$proptest_scale cargo test --profile deep -p fusebox-tests --test $name

To turn it into a committed regression:
  1. proptest appended the failing case to tests/tests/$name.proptest-regressions
     (\`git diff tests/tests\`); plain \`cargo test\` replays it first on every
     run. Commit that line.
  2. Write the minimal input above as an explicit timeline test in
     tests/tests/$name.rs (named for what it shows, rates and times stated),
     and in tests/scenarios if the Cortex-M0 runner should replay it.
  3. Fix the fault (in fusebox, or in the reference model if the model is
     wrong), then run \`cargo test\` and this script again.

EOF
}

# part_fuzz BUDGET: libFuzzer on every target of fuzz/ (one per primitive,
# &mut and shared; the logic is in tests/fuzz), BUDGET / targets seconds
# each. New inputs go to fuzz/corpus-explore/ (ignored by git): the
# committed seeds in fuzz/corpus/ stay small.
part_fuzz() {
    local budget=$1 t n each rc log execs
    if ! command -v cargo-fuzz >/dev/null; then
        echo "deep: part fuzz needs cargo-fuzz: cargo install --locked cargo-fuzz" >&2
        return 2
    fi
    local targets
    mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
    n=${#targets[@]}
    each=$((budget / (n > 0 ? n : 1)))
    ((each > 0)) || each=1
    say "fuzz: building ${n} targets (not counted in the budget)"
    if ! (cd fuzz && cargo +nightly fuzz build -O -a) >"$logs/fuzz-build.log" 2>&1; then
        cat "$logs/fuzz-build.log" >&2
        echo "deep: the fuzz targets do not build" >&2
        return 2
    fi
    say "fuzz: budget ${budget} s, ${each} s per target"
    for t in "${targets[@]}"; do
        log="$logs/fuzz-$t.log"
        mkdir -p "fuzz/corpus-explore/$t"
        (cd fuzz && cargo +nightly fuzz run -O -a "$t" "corpus-explore/$t" "corpus/$t" -- \
            -max_total_time="$each" -print_final_stats=1) >"$log" 2>&1
        rc=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        if ((rc == 0)); then
            say "    $t: ${execs:-?} executions in ${each} s, no crash"
        else
            say "    $t: CRASH (log: $log)"
            findings=$((findings + 1))
            report_fuzz_finding "$t" "$log"
            [[ "$keep_going" == 1 ]] || break
        fi
    done
}

report_fuzz_finding() {
    local t=$1 log=$2
    echo
    echo "---- $t: the failure ----"
    grep -E 'panicked|assertion|Test unit written|==ERROR' "$log" | head -n 40
    echo "----"
    cat <<EOF

To reproduce it: (cd fuzz && cargo +nightly fuzz run -O -a $t artifacts/$t/crash-...)
To turn it into a committed regression:
  1. (cd fuzz && cargo +nightly fuzz tmin -O -a $t artifacts/$t/crash-...), then
     copy the minimised input to fuzz/regressions/$t/ (named for what it
     shows); \`cargo test -p fusebox-fuzz\` replays it on every run.
  2. Fix the fault (in fusebox, or in the target's check if the check is
     wrong), then run \`cargo test\` and this script again.

EOF
}

# part_rp2040 MINUTES: one soak of the gateway firmware with a random seed
# (emulated MINUTES, random sensor and host faults, stack high-water mark).
part_rp2040() {
    local minutes=$1 seed=$((RANDOM % 1000 + 1)) log
    # The soak compares its first and last ten minutes: 20 at least.
    ((minutes >= 20)) || minutes=20
    log="$logs/rp2040-soak.log"
    say "rp2040: soak, seed $seed, $minutes emulated minutes"
    if bash "$(dirname "$0")/rp2040/soak.sh" --seed "$seed" --minutes "$minutes" >"$log" 2>&1; then
        say "rp2040: passed (log $log)"
    else
        findings=$((findings + 1))
        say "rp2040: FAILED with seed $seed (log $log); replay: bash tests/rp2040/soak.sh --seed $seed --minutes $minutes"
    fi
}

# part_soak BUDGET: rounds of the soak under injected faults
# (tests/tests/soak.rs), each with a fresh random seed and
# DEEP_SOAK_ROUND_SECS of load, the last one shortened to fit the budget.
# A round that does not end within its load plus 90 s is a finding (the
# soak bounds itself: its drain and its end take a few seconds).
part_soak() {
    local budget=$1 round=0 seed left secs rc log t0
    say "soak: building (profile deep; not counted in the budget)"
    if ! cargo test -q --profile deep -p fusebox-tests --test soak --no-run >"$logs/soak-build.log" 2>&1; then
        cat "$logs/soak-build.log" >&2
        echo "deep: the soak does not build" >&2
        return 2
    fi
    say "soak: budget ${budget} s, rounds of ${soak_round_secs} s of load, ${soak_clients} clients"
    local part_start=$SECONDS
    while true; do
        left=$((budget - (SECONDS - part_start)))
        # The soak's own end (drain, breaker recovery) takes a few seconds.
        secs=$((left - 10))
        ((secs > soak_round_secs)) && secs=$soak_round_secs
        ((secs >= 10)) || break
        round=$((round + 1))
        seed=$(random_seed)
        log="$logs/soak-round-$round.log"
        t0=$SECONDS
        FUSEBOX_SOAK_SEED=$seed FUSEBOX_SOAK_SECS=$secs FUSEBOX_SOAK_CLIENTS=$soak_clients \
            timeout --kill-after=10 $((secs + 90)) \
            cargo test -q --profile deep -p fusebox-tests --test soak -- --nocapture >"$log" 2>&1
        rc=$?
        if ((rc == 0)); then
            say "    round $round: seed $seed, ${secs} s of load, passed in $((SECONDS - t0)) s"
            grep -E '^soak: [0-9]+ requests|^    upstream:|^    memory:' "$log" | sed 's/^/        /'
        else
            ((rc == 124 || rc == 137)) && echo "        (no end within $((secs + 90)) s: a hang)"
            say "    round $round: seed $seed, FAILED after $((SECONDS - t0)) s (log: $log)"
            grep -E '^soak|^    |panicked|assert' "$log" | head -n 40
            echo
            echo "To replay its script: FUSEBOX_SOAK_SEED=$seed FUSEBOX_SOAK_SECS=$secs FUSEBOX_SOAK_CLIENTS=$soak_clients cargo test --profile deep -p fusebox-tests --test soak -- --nocapture"
            echo "(the seed fixes the fault script; which request meets which fault depends on timing)"
            echo
            findings=$((findings + 1))
            [[ "$keep_going" == 1 ]] || break
        fi
    done
    say "soak: $round round(s) in $((SECONDS - part_start)) s"
}

say "parts: ${PARTS[*]}; logs in $logs"
status=0
for part in "${PARTS[@]}"; do
    if ! declare -F "part_$part" >/dev/null; then
        echo "deep: no part '$part' (parts: proptest fuzz rp2040 soak)" >&2
        status=2
        continue
    fi
    budget_var="${part}_secs"
    part_t0=$SECONDS
    "part_$part" "${!budget_var}"
    rc=$?
    ((rc == 2)) && status=2
    say "part $part: $((SECONDS - part_t0)) s, builds included"
done
say "done in $((SECONDS - start)) s: $findings finding(s)"
if ((status == 2)); then exit 2; fi
((findings == 0)) || exit 1
