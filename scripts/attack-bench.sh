#!/usr/bin/env bash
# Runs issue 10's connection attacks (examples/attack.rs) against two
# qoswatch binaries, alternating, so that both are measured in one session
# on the same machine: BENCHMARKS.md "Hostile clients" was made with it.
#
#   scripts/attack-bench.sh BEFORE_BIN AFTER_BIN [ROUNDS]
#
# Build the two binaries first, e.g. the current tree and a baseline
# exported with `git archive <commit>` into a temporary directory and built
# with the same CARGO_TARGET_DIR (copy each binary aside: both are
# target/release/qoswatch):
#
#   cargo build --release --bin qoswatch --example attack
#
# Every run starts the binary with default settings on 127.0.0.1 and a
# temporary data directory; each prints the binary's peak RSS (VmHWM), the
# attacking connections, the signed webhooks' answers during the attack,
# and for the half-open attack the time from SIGTERM to exit.
set -euo pipefail

before=${1:?before binary}
after=${2:?after binary}
rounds=${3:-1}
attack=${ATTACK_EXAMPLE:-target/release/examples/attack}

run() {
    local label=$1
    shift
    for round in $(seq "$rounds"); do
        for side in before after; do
            local bin=$before
            [[ $side == after ]] && bin=$after
            echo "### $label — $side (round $round)"
            "$attack" --bin "$bin" "$@"
            echo
        done
    done
}

run "slowloris: 500 connections, a header line every 5 s, 30 s" \
    --attack slowloris --connections 500 --every 5s --duration 30s
run "idle flood: 1,100 connections under a 1,024 open-file limit, 20 s" \
    --attack idle-flood --connections 1100 --nofile 1024 --duration 20s
run "idle flood: 2,000 connections under a 1,024 open-file limit, 20 s" \
    --attack idle-flood --connections 2000 --nofile 1024 --duration 20s
run "idle flood: 4,000 bare connections, default limits, 20 s" \
    --attack idle-flood --connections 4000 --duration 20s
run "half-open: GET /healthz HTTP/1.1\\r\\n and nothing more, SIGTERM after 3 s" \
    --attack half-open --duration 3s --exit-wait 40s
# The same with a header timeout longer than the grace: the deadline cuts it.
run "half-open, QOSWATCH_HEADER_READ_TIMEOUT=60s: SIGTERM after 3 s" \
    --attack half-open --duration 3s --exit-wait 40s --env QOSWATCH_HEADER_READ_TIMEOUT=60s
