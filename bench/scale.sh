#!/bin/bash
# Multi-core scaling of kaigi's media workers: for each W:MODE given
# (MODE proc or thread), starts kaigi --workers W on 127.0.0.1 and runs
# kaigi-bench against it, printing one line of the JSON report per run.
#   ROOMS=40 BP=8 bench/scale.sh 1:proc 2:proc 2:thread
# KAIGI and BENCH default to the build tree; ROOMS (x 8 participants) and
# BP (bench processes) set the load. Loopback only; each run is bounded
# by kaigi-bench's --warmup 10 --duration 10.
set -u
cd "$(dirname "$0")/.."
KAIGI=${KAIGI:-build/kaigi}
BENCH=${BENCH:-build/bench/kaigi-bench}
OUT=${OUT:-/tmp}
ROOMS=${ROOMS:-40}
for spec in "$@"; do
    W=${spec%:*}
    MODE=${spec#*:}
    extra=""
    [ "$MODE" = thread ] && extra="--worker-threads"
    data=$(mktemp -d /tmp/kaigi-scale-XXXXXX)
    "$KAIGI" --listen 127.0.0.1:18080 --udp 127.0.0.1:30000 --data "$data" \
        --open-rooms --workers "$W" $extra >"$data/kaigi.log" 2>&1 &
    kp=$!
    sleep 1
    "$BENCH" --server ws://127.0.0.1:18080/ws --pid $kp --rooms "$ROOMS" \
        --participants 8 --duration 10 --warmup 10 --processes "${BP:-8}" \
        --json >"$OUT/bench-$W-$MODE.json" 2>"$data/bench.err"
    kill -INT $kp
    wait $kp
    python3 - "$OUT/bench-$W-$MODE.json" "$W $MODE" <<'PY'
import json, sys
k = json.load(open(sys.argv[1]))["kaigi"]
keys = ["clients_connected", "forwarded_pps", "cpu_pct", "cpu_us_per_packet",
        "loss_pct", "latency_ms", "bench_cpu_max_pct"]
print(sys.argv[2], {x: k.get(x) for x in keys})
PY
    rm -rf "$data"
done
