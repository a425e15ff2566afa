#!/usr/bin/env bash
# The headline figures of BENCHMARKS.md ("Headline figures", issue 12), in
# one run. Not part of `cargo test`; CI only checks that the benches and
# examples build. Loopback only; needs python3, openssl, curl.
#
#   benches/run.sh                 # everything (about 25 minutes)
#   benches/run.sh http            # one part: http | watchers | detection | criterion
#   benches/run.sh callgrind       # not in "all": instructions per webhook (valgrind)
#   benches/run.sh qss             # not in "all": QSS-fed watchers against polled (issue 25)
#   benches/run.sh accounts        # not in "all": 20 accounts x 500 against 1 x 10,000 (issue 27)
#
# Settings (environment): ROUNDS=3 SECS=10 CONNS=32 RATE=1000
#   WATCHERS="1000 10000" WATCH_SECS=120 HISTORY=0 WARMUP_SECS=65 TRIALS=50
#   POLL_MODE=fixed|default STORE=memory|sqlite TRIM_PROBE=1 (watchers only)
#   HEAPTRACK=FILE (watchers only, one size): qoswatch runs under Debian's
#     heaptrack, its profile written to FILE.zst (`heaptrack_print FILE.zst`)
#
# Parts:
# 1. http: qoswatch `serve` (in-memory store, polling the simulator) and the
#    bare verify-and-parse handler (examples/bare_webhook.rs), each its own
#    process; oha sends a signed `participant_joined` (a participant already
#    watched: the steady state of Zoom's retries and duplicates) and
#    `GET /healthz`. Alternating rounds of: closed loop (CONNS connections,
#    SECS s) for req/s, then an open loop at RATE req/s for p50/p99 and the
#    server's CPU per request (utime + stime of /proc/PID/stat).
# 2. watchers: qoswatch `serve` against `qoswatch simulate` (both their own
#    process, polling.mode fixed, one poll a minute), N participants joined
#    through signed webhooks; RSS and CPU of qoswatch over WATCH_SECS after
#    every watcher had its first poll. HISTORY=120: every participant has
#    been in the meeting two hours already (answers of 120 samples, one new
#    a minute), as in the issue's "meetings two hours old".
# 3. detection: examples/detection_latency.rs, TRIALS trials.
# 4. criterion: benches/qos.rs (answer cost against series length),
#    benches/webhook.rs (verify + parse), benches/rules.rs.
# callgrind (only when asked for): qoswatch `serve` and the bare handler,
#    each under `valgrind --tool=callgrind`; after CG_WARMUP=300 signed
#    `participant_joined` the counters are zeroed, CG_REQUESTS=2000 more go
#    on one keep-alive connection, and the instructions per request are
#    printed (CG_KEEP=PREFIX keeps the dumps for callgrind_annotate). Stable
#    where wall time is not; valgrind's CPU has no SHA extensions, so the
#    HMAC weighs more than on the real CPU.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-10}
CONNS=${CONNS:-32}
RATE=${RATE:-1000}
WATCHERS=${WATCHERS:-"1000 10000"}
WATCH_SECS=${WATCH_SECS:-120}
HISTORY=${HISTORY:-0}
TRIALS=${TRIALS:-50}
PARTS=${1:-all}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
BIN=$CARGO_TARGET_DIR/release

want() { [ "$PARTS" = all ] || [ "$PARTS" = "$1" ]; }
CG_WARMUP=${CG_WARMUP:-300}
CG_REQUESTS=${CG_REQUESTS:-2000}

# accounts (only when asked for): examples/accounts_load.rs, the Zoom
#   simulator in the example's process and `qoswatch serve` (release) as a
#   child: ACC_PARTICIPANTS (10000) participants as one account, then spread
#   over ACC_ACCOUNTS (20), ACC_HISTORY (120) minutes into their meetings;
#   CPU, RSS and Zoom requests per participant-minute over ACC_WINDOW (60s)
#   after ACC_WARMUP (180s); ACC_ROUNDS (1) pairs of runs.
if [ "$PARTS" = accounts ]; then
  echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(uname -r); $(date -u +%FT%TZ)"
  [ -n "${NO_BUILD:-}" ] || cargo build --release --locked --bin qoswatch --example accounts_load
  "$BIN/examples/accounts_load" --bin "$BIN/qoswatch" \
    --participants "${ACC_PARTICIPANTS:-10000}" --accounts "${ACC_ACCOUNTS:-20}" \
    --history "${ACC_HISTORY:-120}" --warmup "${ACC_WARMUP:-180s}" \
    --window "${ACC_WINDOW:-60s}" --rounds "${ACC_ROUNDS:-1}"
  exit
fi

for tool in python3 openssl curl; do
  command -v "$tool" >/dev/null || { echo "benches/run.sh needs $tool" >&2; exit 1; }
done
# The qss part uses wrk (Debian `wrk`) where the others use oha.
if [ "$PARTS" = watchers ] || [ "$PARTS" = detection ]; then
  LOADGEN="no load generator (this part needs none)"
elif [ "$PARTS" = qss ]; then
  command -v wrk >/dev/null || echo "benches/run.sh qss: no wrk (apt-get install wrk): the throughput half is skipped" >&2
  LOADGEN=$( { wrk -v 2>&1 || true; } | head -1)
else
  if ! command -v oha >/dev/null; then
    echo "installing the load generator: cargo install oha --locked (a few minutes)"
    cargo install oha --locked
  fi
  OHA_JSON=(--output-format json)
  oha --help | grep -q -- '--output-format' || OHA_JSON=(--json)
  LOADGEN=$(oha --version)
fi

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(uname -r); $(date -u +%FT%TZ); $LOADGEN"
echo "== load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
# NO_BUILD=1 reuses the binaries already in $CARGO_TARGET_DIR/release.
[ -n "${NO_BUILD:-}" ] || cargo build --release --locked --bin qoswatch --example bare_webhook --example detection_latency

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# CPU ticks (user + system, USER_HZ = 100) of a process so far.
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
wait_http() { # URL: wait up to 30 s for any HTTP answer
  for _ in $(seq 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "no answer from $1" >&2; return 1
}

# Starts `qoswatch simulate` (load scenario, $1 meetings x $2 participants,
# sample period $3, optional history $4 in minutes); sets SIM_ENV (the
# settings that point qoswatch at it).
start_simulator() {
  local port history=${4:-0}; port=$(free_port)
  "$BIN/qoswatch" simulate --listen "127.0.0.1:$port" --scenario load \
    --meetings "$1" --participants "$2" --sample-period "$3" \
    --history "$history" --live-window "$(( history > 30 ? history : 30 ))" >"$WORK/sim.out" 2>"$WORK/sim.err" &
  PIDS+=($!); SIM_PID=$!
  for _ in $(seq 300); do grep -q ZOOM_CLIENT_SECRET "$WORK/sim.out" 2>/dev/null && break; sleep 0.1; done
  SIM_ENV=$(sed -n 's/^  \(QOSWATCH_ZOOM_[A-Z_]*=.*\|ZOOM_[A-Z_]*=.*\)$/\1/p' "$WORK/sim.out")
}

# Starts `qoswatch serve` with the simulator's settings and more (KEY=VALUE
# arguments); sets QW_PID, QW_URL (webhooks), QW_ADMIN (admin listener).
start_qoswatch() {
  local port admin; port=$(free_port); admin=$(free_port)
  # shellcheck disable=SC2086
  env $SIM_ENV ZOOM_WEBHOOK_SECRET_TOKEN="$SECRET" \
    QOSWATCH_LISTEN="127.0.0.1:$port" QOSWATCH_ADMIN_LISTEN="127.0.0.1:$admin" \
    QOSWATCH_DATA_DIR= QOSWATCH_RULES_FILE= QOSWATCH_LOG_FILTER=warn "$@" \
    ${HEAPTRACK:+heaptrack -o "$HEAPTRACK"} "$BIN/qoswatch" serve >"$WORK/qoswatch.out" 2>"$WORK/qoswatch.err" &
  PIDS+=($!); QW_PID=$!
  QW_URL="http://127.0.0.1:$port/webhooks/zoom"; QW_ADMIN="http://127.0.0.1:$admin"
  wait_http "$QW_ADMIN/healthz"
  # Under heaptrack the process measured is the script's child.
  if [ -n "${HEAPTRACK:-}" ]; then HT_PID=$QW_PID; QW_PID=$(pgrep -P "$HT_PID" -x qoswatch); fi
}

SECRET=$(openssl rand -hex 16)

# A signed participant_joined for meeting 0, participant 0 of the load
# scenario, written to $WORK/joined.json; prints the two headers' values.
sign_joined() {
  python3 - "$WORK/joined.json" <<'EOF'
import json, sys
body = json.load(open("tests/fixtures/meeting.participant_joined.json"))
body["payload"]["object"]["uuid"] = "/LoAd00000//mEeT+x=="
body["payload"]["object"]["id"] = 900000000
body["payload"]["object"]["participant"]["user_id"] = "20000000"
open(sys.argv[1], "w").write(json.dumps(body, separators=(",", ":")))
EOF
  local ts; ts=$(date +%s)
  SIG_TS=$ts
  SIG="v0=$({ printf 'v0:%s:' "$ts"; cat "$WORK/joined.json"; } | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)"
}

# oha against $1 (post|get) $2 (URL) with extra oha flags; prints
# "req/s p50_us p99_us ok_share"
run_oha() {
  local method=$1 url=$2; shift 2
  local args=(--no-tui "${OHA_JSON[@]}" "$@")
  if [ "$method" = post ]; then
    sign_joined
    args+=(-m POST -T application/json -H "x-zm-signature: $SIG" -H "x-zm-request-timestamp: $SIG_TS" -D "$WORK/joined.json")
  fi
  oha "${args[@]}" "$url" >"$WORK/oha.json"
  python3 - "$WORK/oha.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]; p = r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
ok = codes.get("200", 0) / max(1, sum(codes.values()))
print(f'{s["requestsPerSec"]:.0f} {p["p50"]*1e6:.0f} {p["p99"]*1e6:.0f} {ok:.3f}')
EOF
}

if want http; then
  echo
  echo "== 1. webhook path: qoswatch POST /webhooks/zoom and GET /healthz against the bare handler"
  start_simulator 1 1 60s
  start_qoswatch QOSWATCH_POLL_MODE=fixed
  bare_port=$(free_port)
  ZOOM_WEBHOOK_SECRET_TOKEN="$SECRET" "$BIN/examples/bare_webhook" "127.0.0.1:$bare_port" >"$WORK/bare.out" 2>&1 &
  PIDS+=($!); BARE_PID=$!
  BARE_URL="http://127.0.0.1:$bare_port/webhooks/zoom"
  sleep 1
  # The first join starts the watch; every request after is a duplicate.
  run_oha post "$QW_URL" -n 1 -c 1 >/dev/null
  printf '%-8s %-22s %10s %9s %9s %9s %12s\n' round target "req/s" "p50 us" "p99 us" "200s" "CPU us/req"
  for round in $(seq "$ROUNDS"); do
    for target in "qoswatch webhook" "qoswatch /healthz" "bare webhook"; do
      case $target in
        "qoswatch webhook") method=post url=$QW_URL pid=$QW_PID ;;
        "qoswatch /healthz") method=get url=$QW_ADMIN/healthz pid=$QW_PID ;;
        "bare webhook") method=post url=$BARE_URL pid=$BARE_PID ;;
      esac
      read -r rps _ _ ok < <(run_oha "$method" "$url" -z "${SECS}s" -c "$CONNS")
      before=$(cpu_ticks "$pid")
      read -r qrps p50 p99 qok < <(run_oha "$method" "$url" -z "${SECS}s" -c "$CONNS" -q "$RATE" --latency-correction)
      after=$(cpu_ticks "$pid")
      cpu=$(python3 -c "print(f'{($after - $before) * 10000 / max(1, $qrps * $SECS):.1f}')")
      printf '%-8s %-22s %10s %9s %9s %9s %12s\n' "$round" "$target" "$rps" "$p50" "$p99" "$ok/$qok" "$cpu"
      echo "$round|$target|$rps|$p50|$p99|$cpu" >>"$WORK/http.rows"
    done
  done
  python3 - "$WORK/http.rows" <<'EOF'
import statistics, sys
rows = [line.strip().split("|") for line in open(sys.argv[1])]
def med(target, col):
    return statistics.median(float(r[col]) for r in rows if r[1] == target)
w, h, b = "qoswatch webhook", "qoswatch /healthz", "bare webhook"
print(f"medians: webhook {med(w,2):.0f} req/s, /healthz {med(h,2):.0f} req/s, bare {med(b,2):.0f} req/s")
print(f"webhook / healthz throughput: {med(w,2)/med(h,2):.2f}  (target >= 0.6)")
print(f"webhook / bare CPU per request: {med(w,5):.1f} / {med(b,5):.1f} us = {med(w,5)/med(b,5):.2f}  (target <= 1.3)")
print(f"p50 / p99 at the fixed rate: webhook {med(w,3):.0f} / {med(w,4):.0f} us, bare {med(b,3):.0f} / {med(b,4):.0f} us, /healthz {med(h,3):.0f} / {med(h,4):.0f} us")
EOF
  for pid in "$QW_PID" "$SIM_PID" "$BARE_PID"; do kill "$pid"; done
  wait "$QW_PID" "$SIM_PID" "$BARE_PID" 2>/dev/null || true
fi

if want watchers; then
  echo
  # POLL_MODE=default: qoswatch's default polling (adaptive, list pages)
  # instead of fixed once a minute; STORE=sqlite: the durable store (a
  # SQLite file, default `synchronous: full`) instead of in memory.
  POLL_MODE=${POLL_MODE:-fixed}; STORE=${STORE:-memory}
  mode_env=(QOSWATCH_POLL_MODE=fixed QOSWATCH_POLL_INTERVAL=60s)
  [ "$POLL_MODE" = default ] && mode_env=()
  echo "== 2. watchers: qoswatch serve polling qoswatch simulate ($POLL_MODE polling), $STORE store, history $HISTORY min"
  qos_requests() { curl -s "$QW_ADMIN/metrics" | awk '/^qoswatch_zoom_qos_requests_total/ { s += $2 } END { print s + 0 }'; }
  printf '%-9s %-14s %-14s %-16s %-14s %-12s\n' watchers "RSS start" "RSS end" "CPU (% core)" "QoS requests" "CPU us/req"
  for n in $WATCHERS; do
    meetings=$(( (n + 9) / 10 ))
    start_simulator "$meetings" 10 60s "$HISTORY"
    store_env=()
    [ "$STORE" = sqlite ] && { mkdir -p "$WORK/data-$n"; store_env=(QOSWATCH_DATA_DIR="$WORK/data-$n"); }
    # QW_EXTRA_ENV: more settings for qoswatch (KEY=VALUE ...).
    # shellcheck disable=SC2206
    extra_env=(${QW_EXTRA_ENV:-})
    start_qoswatch "${mode_env[@]}" "${store_env[@]}" "${extra_env[@]}" \
      QOSWATCH_ZOOM_REQUESTS_PER_SECOND=1000 QOSWATCH_ZOOM_DAILY_LIMIT=100000000 \
      QOSWATCH_MAX_WATCHERS=$((n + 100))
    rss0=$(rss_kib "$QW_PID")
    # Every participant of the load scenario joins through a signed webhook.
    python3 - "$QW_URL" "$SECRET" "$meetings" 10 "$n" <<'EOF'
import hashlib, hmac, http.client, json, sys, time, urllib.parse
url, secret, meetings, size, n = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
u = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port)
sent = 0
for m in range(meetings):
    uuid = f"/LoAd{m:05}//mEeT+x==" if m % 3 == 0 else f"LoAd{m:05}mEeT/x+y=="
    for p in range(size):
        if sent == n:
            break
        body = json.dumps({"event": "meeting.participant_joined", "event_ts": int(time.time() * 1000),
            "payload": {"account_id": "simAccount0000000000001", "object": {"uuid": uuid, "id": 900000000 + m,
            "topic": f"Load meeting {m}", "participant": {"user_id": str(20000000 + m * 10000 + p),
            "user_name": f"Load User {m}-{p}"}}}}, separators=(",", ":")).encode()
        ts = str(int(time.time()))
        sig = "v0=" + hmac.new(secret, b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
        conn.request("POST", u.path, body, {"content-type": "application/json", "x-zm-signature": sig, "x-zm-request-timestamp": ts})
        r = conn.getresponse(); r.read()
        if r.status != 200:
            sys.exit(f"join answered {r.status}")
        sent += 1
EOF
    # Every watcher's first poll is a minute after its join; measure after
    # (WARMUP_SECS: longer with a HISTORY, whose first polls read the whole
    # series and take longer to drain).
    sleep "${WARMUP_SECS:-65}"
    q0=$(qos_requests); c0=$(cpu_ticks "$QW_PID")
    sleep "$WATCH_SECS"
    c1=$(cpu_ticks "$QW_PID"); q1=$(qos_requests); rss1=$(rss_kib "$QW_PID")
    cpu=$(python3 -c "print(f'{($c1 - $c0) / $WATCH_SECS:.1f}')")
    per=$(python3 -c "print(f'{($c1 - $c0) * 10000 / max(1, $q1 - $q0):.0f}')")
    printf '%-9s %-14s %-14s %-16s %-14s %-12s\n' "$n" "$((rss0 / 1024)) MiB" "$((rss1 / 1024)) MiB" "$cpu" "$((q1 - q0))" "$per"
    # The high-water mark (the first polls included) and where the
    # resident memory is (anonymous: the heap; file: the binary, SQLite).
    echo "   RSS peak (VmHWM): $(awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/$QW_PID/status") MiB; $(awk '/^(Anonymous|Rss|Pss_File|Pss_Anon):/ { printf "%s %d MiB  ", $1, $2 / 1024 }' "/proc/$QW_PID/smaps_rollup")"
    echo "   store writes so far (qoswatch_store_writes_total): $(curl -s "$QW_ADMIN/metrics" | awk '/^qoswatch_store_writes_total/ { s += $2 } END { print s + 0 }'); samples: $(curl -s "$QW_ADMIN/metrics" | awk '/^qoswatch_samples_total/ { s += $2 } END { print s + 0 }')"
    # TRIM_PROBE=1 (needs gdb): glibc's malloc_trim(0) in the process; what
    # it gives back was freed memory the allocator kept, not live data.
    if [ -n "${TRIM_PROBE:-}" ]; then
      gdb -p "$QW_PID" -batch -ex 'call (int) malloc_trim(0)' >/dev/null 2>&1 || echo "   (gdb failed)"
      echo "   RSS after malloc_trim(0): $(( $(rss_kib "$QW_PID") / 1024 )) MiB"
    fi
    kill "$QW_PID" "$SIM_PID"; wait "$QW_PID" "$SIM_PID" ${HT_PID:-} 2>/dev/null || true
  done
fi

if [ "$PARTS" = qss ]; then
  echo
  echo "== qss: N watchers fed by QSS events (one ~3 kB meeting.participant_qos per participant a minute) against polled once a minute"
  qos_requests() { curl -s "$QW_ADMIN/metrics" | awk '/^qoswatch_zoom_qos_requests_total/ { s += $2 } END { print s + 0 }'; }
  pushed() { curl -s "$QW_ADMIN/metrics" | awk '/^qoswatch_webhooks_total\{event="meeting.participant_qos"/ { s += $2 } END { print s + 0 }'; }
  printf '%-9s %-7s %-14s %-16s %-14s %-14s\n' watchers source "RSS end" "CPU (% core)" "QoS requests" "QSS events"
  for n in $WATCHERS; do
    for source in poll qss; do
      meetings=$(( (n + 9) / 10 ))
      start_simulator "$meetings" 10 60s
      start_qoswatch QOSWATCH_POLL_MODE=fixed QOSWATCH_POLL_INTERVAL=60s \
        QOSWATCH_ZOOM_REQUESTS_PER_SECOND=1000 QOSWATCH_ZOOM_DAILY_LIMIT=100000000 \
        QOSWATCH_MAX_WATCHERS=$((n + 100))
      python3 benches/qss_load.py join "$QW_URL" "$SECRET" "$meetings" 10 "$n"
      if [ "$source" = qss ]; then
        python3 benches/qss_load.py push "$QW_URL" "$SECRET" "$meetings" 10 "$n" &
        PIDS+=($!); PUSH_PID=$!
      fi
      sleep "${WARMUP_SECS:-65}"
      q0=$(qos_requests); e0=$(pushed); c0=$(cpu_ticks "$QW_PID")
      sleep "$WATCH_SECS"
      c1=$(cpu_ticks "$QW_PID"); q1=$(qos_requests); e1=$(pushed); rss1=$(rss_kib "$QW_PID")
      cpu=$(python3 -c "print(f'{($c1 - $c0) / $WATCH_SECS:.1f}')")
      printf '%-9s %-7s %-14s %-16s %-14s %-14s\n' "$n" "$source" "$((rss1 / 1024)) MiB" "$cpu" "$((q1 - q0))" "$((e1 - e0))"
      [ "$source" = qss ] && { kill "$PUSH_PID"; wait "$PUSH_PID" 2>/dev/null || true; }
      kill "$QW_PID" "$SIM_PID"; wait "$QW_PID" "$SIM_PID" 2>/dev/null || true
    done
  done
  if command -v wrk >/dev/null; then
    echo
    echo "== qss: POST /webhooks/zoom throughput, a ~3 kB QSS event (participant watched) against a participant_joined (a duplicate)"
    start_simulator 1 1 60s
    start_qoswatch QOSWATCH_POLL_MODE=fixed
    python3 benches/qss_load.py join "$QW_URL" "$SECRET" 1 1 1
    sign_joined
    python3 benches/qss_load.py body "$WORK/qss.json"
    qss_sig="v0=$({ printf 'v0:%s:' "$SIG_TS"; cat "$WORK/qss.json"; } | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)"
    printf '%-8s %-20s %10s %12s\n' round body "req/s" "CPU us/req"
    for round in $(seq "$ROUNDS"); do
      for body in joined qss; do
        if [ "$body" = joined ]; then sig=$SIG; else sig=$qss_sig; fi
        cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = io.open("$WORK/$body.json"):read("*a")
wrk.headers["content-type"] = "application/json"
wrk.headers["x-zm-signature"] = "$sig"
wrk.headers["x-zm-request-timestamp"] = "$SIG_TS"
LUA
        c0=$(cpu_ticks "$QW_PID")
        rps=$(wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$WORK/post.lua" "$QW_URL" | awk '/^Requests\/sec/ { print $2 }')
        c1=$(cpu_ticks "$QW_PID")
        per=$(python3 -c "print(f'{($c1 - $c0) * 10000 / max(1, $rps * $SECS):.0f}')")
        printf '%-8s %-20s %10s %12s\n' "$round" "$body ($(wc -c <"$WORK/$body.json") B)" "$rps" "$per"
      done
    done
    kill "$QW_PID" "$SIM_PID"; wait "$QW_PID" "$SIM_PID" 2>/dev/null || true
  fi
fi

if want detection; then
  echo
  echo "== 3. detection latency"
  "$BIN/examples/detection_latency" --trials "$TRIALS" --sample-period 500ms --poll-interval 500ms
fi

if [ "$PARTS" = callgrind ]; then
  echo
  echo "== callgrind: instructions per signed participant_joined (a duplicate), qoswatch against the bare handler"
  command -v valgrind >/dev/null || { echo "the callgrind part needs valgrind (apt-get install valgrind)" >&2; exit 1; }
  start_simulator 1 1 60s
  # Sends N signed joins of one participant on one connection; every answer must be 200.
  send_joins() {
    python3 - "$1" "$SECRET" "$2" <<'EOF'
import hashlib, hmac, http.client, sys, time, urllib.parse
url, secret, n = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
u = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
body = open("tests/fixtures/meeting.participant_joined.json", "rb").read()
for _ in range(n):
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(secret, b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    conn.request("POST", u.path, body, {"content-type": "application/json", "x-zm-signature": sig, "x-zm-request-timestamp": ts})
    r = conn.getresponse(); r.read()
    if r.status != 200:
        sys.exit(f"answered {r.status}")
EOF
  }
  # The instructions of a callgrind dump.
  total_ir() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }'; }
  for target in qoswatch bare; do
    port=$(free_port); admin=$(free_port)
    out="$WORK/callgrind.$target"
    case $target in
      qoswatch)
        # shellcheck disable=SC2086
        env $SIM_ENV ZOOM_WEBHOOK_SECRET_TOKEN="$SECRET" QOSWATCH_POLL_MODE=fixed \
          QOSWATCH_LISTEN="127.0.0.1:$port" QOSWATCH_ADMIN_LISTEN="127.0.0.1:$admin" \
          QOSWATCH_DATA_DIR= QOSWATCH_RULES_FILE= QOSWATCH_LOG_FILTER=warn \
          valgrind --tool=callgrind --callgrind-out-file="$out.%p" "$BIN/qoswatch" serve >"$WORK/cg.out" 2>"$WORK/cg.err" &
        ;;
      bare)
        ZOOM_WEBHOOK_SECRET_TOKEN="$SECRET" valgrind --tool=callgrind --callgrind-out-file="$out.%p" \
          "$BIN/examples/bare_webhook" "127.0.0.1:$port" >"$WORK/cg.out" 2>"$WORK/cg.err" &
        ;;
    esac
    pid=$!; PIDS+=("$pid")
    for _ in $(seq 600); do
      curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2
    done
    send_joins "http://127.0.0.1:$port/webhooks/zoom" "$CG_WARMUP"
    callgrind_control -z "$pid" >/dev/null
    send_joins "http://127.0.0.1:$port/webhooks/zoom" "$CG_REQUESTS"
    callgrind_control -d "$pid" >/dev/null
    dump=$(ls -t "$out.$pid".* | head -1)
    ir=$(total_ir "$dump")
    printf '%-10s %12s instructions per request\n' "$target" "$((ir / CG_REQUESTS))"
    echo "$target $((ir / CG_REQUESTS))" >>"$WORK/cg.rows"
    [ -z "${CG_KEEP:-}" ] || cp "$dump" "$CG_KEEP.$target"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
  awk '{ v[$1] = $2 } END { printf "qoswatch / bare: %.2f  (target <= 1.3)\n", v["qoswatch"] / v["bare"] }' "$WORK/cg.rows"
  kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true
fi

if want criterion; then
  echo
  echo "== 4. criterion benches"
  cargo bench --locked --bench qos -- --measurement-time 3 --warm-up-time 1 2>&1 | grep -E '^qos|time:'
  cargo bench --locked --bench webhook -- --measurement-time 3 --warm-up-time 1 2>&1 | grep -E '^webhook|time:'
  cargo bench --locked --bench rules -- --measurement-time 3 --warm-up-time 1 2>&1 | grep -E '^rules|time:|thrpt:'
fi
echo
echo "== load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
