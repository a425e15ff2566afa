#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time and fails on any crash.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 12 s, all)
#
# Targets (fuzz/fuzz_targets/): webhook (signature verification + event
# parsing), qos_answer (Zoom's QoS answers), rules (the rules compiler),
# test_rules (the test-rules file reader), retry_after (Retry-After parsing).
# Seeds: fuzz/corpus/TARGET (from tests/fixtures and the example rules; kept
# in the repository). New inputs found go to a temporary directory, so a run
# never changes the repository; a crashing input is saved under
# fuzz/artifacts/TARGET/ and its path printed, to be turned into a test.
#
# The code is safe Rust (`unsafe_code = "forbid"`), so the targets are built
# without a sanitizer (`-s none`): coverage guidance without ASan's cost.
# cargo-fuzz needs a nightly compiler: the nightly toolchain when installed,
# else the stable one with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

seconds=${1:-12}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(webhook qos_answer rules test_rules retry_after)
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked --quiet
fi
if rustup run nightly rustc --version >/dev/null 2>&1; then
    fuzz=(rustup run nightly cargo fuzz)
else
    echo "fuzz.sh: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1" >&2
    fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz)
fi

# One build of every target (release, coverage instrumentation).
"${fuzz[@]}" build -s none
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for target in "${targets[@]}"; do
    mkdir -p "$scratch/$target"
    echo "fuzz.sh: $target for ${seconds}s"
    if ! "${fuzz[@]}" run -s none "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$scratch/$target.log" 2>&1; then
        status=1
        echo "fuzz.sh: $target FAILED; reproducing input(s):" >&2
        ls -1 "fuzz/artifacts/$target/" >&2 || true
        tail -40 "$scratch/$target.log" >&2
    else
        grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$scratch/$target.log" | sed "s/^/  $target /" || true
    fi
done
exit $status
