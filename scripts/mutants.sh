#!/usr/bin/env bash
# Mutation testing for the given source files, tuned for a small (2-core,
# shared) machine.
#
# Usage:
#   scripts/mutants.sh FILE...            e.g. scripts/mutants.sh src/quota/budget.rs
#   scripts/mutants.sh --iterate FILE...  re-test only what the last run did not catch
#
# Each file is tested with the library unit tests plus the integration test
# binaries that exercise it (table below); files of `crates/qoswatch-core`
# run `-p qoswatch-core`'s own tests. Files that share a test selection share
# one cargo-mutants run. One job at a time (`-j 1`).
#
# Results: target/mutants/<group>/mutants.out (cargo-mutants' own layout:
# caught.txt, missed.txt, timeout.txt, unviable.txt, outcomes.json), and a
# per-file summary line printed at the end.
#
# Builds go to a target directory of their own (target/mutants/target): a
# mutant's build must never land in the normal target/, where cargo would
# later take it for a fresh build of the unmutated sources. The first run
# seeds it with a copy of target/debug's dependency artifacts (~4 GB, about a
# minute) instead of building every dependency again.
#
# Run time here (2 shared cores): about 1.5 min for the unmutated build, then
# 15-40 s per mutant (a caught one usually fails in the unit tests and skips
# the 20 s api run). Measured: src/zoom/{budget,signature,mod}.rs (budget.rs now src/quota/budget.rs), 72 mutants,
# 17 min; src/backoff.rs, 7 mutants, 5 min. See docs/TESTING.md.
set -euo pipefail

cd "$(git rev-parse --show-toplevel)"

iterate=()
if [[ ${1:-} == --iterate ]]; then
    iterate=(--iterate)
    shift
fi
if [[ $# -eq 0 ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
fi

# Integration test binaries that cover each service file (beyond --lib).
service_tests() {
    case $1 in
    src/quota/budget.rs | src/zoom/*.rs | src/zoom/*/*.rs) echo "api" ;;
    src/backoff.rs) echo "api" ;;
    src/notify/* | src/notify/*/*) echo "api" ;;
    # The plan is pure arithmetic, the planner its live wrapper: unit tests.
    src/quota/plan.rs | src/quota/planner.rs | src/quota/forecast.rs) echo "" ;;
    src/watch/* | src/watch/*/* | src/alerting/rules_sink.rs | src/alerting/relay.rs | src/intake/* | src/startup/*) echo "api" ;;
    # Leases and the heartbeat: tests/processes/cluster (in-process lease
    # tests, then three replica processes; needs QOSWATCH_TEST_DATABASE_URL,
    # see scripts/test-postgres.sh).
    src/store/leases.rs | src/cluster/*) echo "processes" ;;
    # The store's logic has unit tests on a real SQLite file;
    # tests/processes/restart (real processes, ~30 s a run) covers its
    # wiring and runs in CI.
    src/store/*) echo "" ;;
    src/config/*) echo "api cli" ;;
    src/logging.rs) echo "adversarial" ;;
    src/alerting/live_rules.rs) echo "api cli" ;;
    src/demo/*) echo "cli" ;;
    # The alert board and the admin token are decided in pure code with
    # unit tests beside it (silence matching is in the core);
    # tests/api/status.rs and tests/processes/restart cover the wiring.
    src/status/board.rs | src/admin/auth.rs) echo "" ;;
    *) echo "ALL" ;;
    esac
}

# Group files by package and test selection: one cargo-mutants run per group.
declare -A group_files=()
declare -A group_args=()
for file in "$@"; do
    if [[ ! -f $file ]]; then
        echo "mutants.sh: no such file: $file" >&2
        exit 2
    fi
    case $file in
    crates/qoswatch-core/*)
        key=core
        args=(-p qoswatch-core --test-workspace=false)
        # `--file` is relative to the workspace root.
        ;;
    crates/*)
        pkg=${file#crates/}
        pkg=${pkg%%/*}
        key=$pkg
        args=(-p "$pkg" --test-workspace=false)
        ;;
    src/*)
        tests=$(service_tests "$file")
        key=service-${tests// /-}
        if [[ $tests == ALL ]]; then
            args=(-p qoswatch --test-workspace=false)
        else
            args=(-p qoswatch --test-workspace=false -- --lib)
            for t in $tests; do args+=(--test "$t"); done
        fi
        ;;
    *)
        echo "mutants.sh: $file is neither under src/ nor crates/" >&2
        exit 2
        ;;
    esac
    group_files[$key]+="$file "
    group_args[$key]="${args[*]}"
done

export CARGO_TARGET_DIR=${MUTANTS_TARGET_DIR:-$PWD/target/mutants/target}
if [[ ! -d $CARGO_TARGET_DIR/debug/deps && -d target/debug/deps ]]; then
    echo "mutants.sh: seeding $CARGO_TARGET_DIR from target/debug (dependencies only)" >&2
    mkdir -p "$CARGO_TARGET_DIR/debug"
    cp -a target/debug/.fingerprint target/debug/build target/debug/deps "$CARGO_TARGET_DIR/debug/"
fi

summaries=()
for key in "${!group_files[@]}"; do
    read -ra files <<<"${group_files[$key]}"
    read -ra args <<<"${group_args[$key]}"
    # cargo-mutants takes `--` cargo test args only at the end.
    pre=()
    post=()
    seen_dashes=false
    for a in "${args[@]}"; do
        if [[ $a == -- ]]; then
            seen_dashes=true
        elif $seen_dashes; then
            post+=("$a")
        else
            pre+=("$a")
        fi
    done
    file_args=()
    for f in "${files[@]}"; do file_args+=(-f "$f"); done
    out=target/mutants/$key
    mkdir -p "$out"
    echo "== mutants.sh: ${files[*]} (cargo test ${post[*]:-all tests})" >&2
    start=$(date +%s)
    # Exit status 2 means "some mutants missed", 3 "some timed out": the
    # summary below reports them; anything else is a real failure.
    status=0
    cargo mutants "${iterate[@]}" "${pre[@]}" "${file_args[@]}" \
        -j 1 \
        --timeout-multiplier 3 --minimum-test-timeout 60 \
        --build-timeout-multiplier 3 \
        --output "$out" \
        ${post[@]:+-- "${post[@]}"} || status=$?
    end=$(date +%s)
    if [[ $status -ne 0 && $status -ne 2 && $status -ne 3 ]]; then
        echo "mutants.sh: cargo mutants failed with status $status for ${files[*]}" >&2
        exit "$status"
    fi
    for f in "${files[@]}"; do
        summaries+=("$(jq -r --arg f "$f" --arg secs "$((end - start))" '
            [.outcomes[] | select(.scenario.Mutant?.file == $f) | .summary] as $s
            | ($s | map(select(. == "CaughtMutant")) | length) as $caught
            | ($s | map(select(. == "MissedMutant")) | length) as $missed
            | ($s | map(select(. == "Unviable")) | length) as $unviable
            | ($s | map(select(. == "Timeout")) | length) as $timeout
            | "\($f): caught \($caught), missed \($missed), unviable \($unviable), timeouts \($timeout)"
              + (if $caught + $missed > 0
                 then " (\(($caught * 1000 / ($caught + $missed) | floor) / 10)% caught)"
                 else "" end)
              + "; group run \($secs) s"
        ' "$out/mutants.out/outcomes.json")")
    done
    if [[ -s $out/mutants.out/missed.txt ]]; then
        echo "-- missed:" >&2
        sed 's/^/   /' "$out/mutants.out/missed.txt" >&2
    fi
    if [[ -s $out/mutants.out/timeout.txt ]]; then
        echo "-- timeouts:" >&2
        sed 's/^/   /' "$out/mutants.out/timeout.txt" >&2
    fi
done

echo
echo "mutants.sh summary:"
printf '  %s\n' "${summaries[@]}"
