#!/usr/bin/env bash
# Is a run's memory flat as its length grows? (issue 12, goal 5: a 10x longer run uses the same RSS within 10%.)
# Runs the same fixed-rate scenario for D and 10 D seconds against nginx on loopback (one worker, `return 200`, or
# the zero-latency mock in its own process when nginx is missing) and prints the max RSS of the load phase (sampled
# by bench/measure.py up to D - 1 s, before the report is rendered), the max RSS of the whole command, and the
# long/short ratios. Loopback only; every run is bounded (arrivals for D or 10 D s, max_duration_s 120).
#
#   bench/flat.sh [--bin target/release/cutover] [--rate 2000] [--short 10] [--rounds 1] [--server nginx|mock]
#   bench/flat.sh --scenario scenarios/coze-migration.yaml   # a scenario as it is (its embedded mocks in-process)
#
# --short 10 means 10 s and 100 s runs (max_duration_s is 120, so --short stays <= 11).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PY=${PYTHON:-python3}
BIN=$ROOT/target/release/cutover RATE=2000 SHORT=10 ROUNDS=1 SERVER=nginx SCENARIO="" IN_FLIGHT=1024
while [[ $# -gt 0 ]]; do
    case $1 in
        --bin) BIN=$2; shift ;;
        --rate) RATE=$2; shift ;;
        --short) SHORT=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --server) SERVER=$2; shift ;;
        --scenario) SCENARIO=$(realpath "$2"); shift ;;
        -h | --help) sed -n 2,11p "$0"; exit 0 ;;
        *) echo "flat.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
BIN=$(realpath "$BIN")
((SHORT >= 2 && SHORT <= 11)) || { echo "flat.sh: --short must be 2..11 (the long run is 10x)" >&2; exit 2; }
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
. "$HERE/common.sh"
if [[ -z $SCENARIO ]]; then
    start_server "$BIN"
    SCENARIO=$(cutover_scenario "flat-$RATE" "$RATE" "$IN_FLIGHT" 0 "$PORT")
fi
RES=$TMP/res.jsonl
: >"$RES"
LONG=$((SHORT * 10))
for ((r = 1; r <= ROUNDS; r++)); do
    for d in $SHORT $LONG; do
        out=$TMP/run-$d-$r
        mkdir -p "$out"
        m=$($PY "$HERE/measure.py" --mark $((d - 1)) --out "$out.out" --err "$out.err" -- \
            "$BIN" run "$SCENARIO" --out "$out" --duration "$d" --quiet --allow-undecided)
        rows=$(($(cat "$out"/*/requests.csv | wc -l) - 1))
        echo "{\"d\": $d, \"round\": $r, \"rows\": $rows, \"m\": $m}" >>"$RES"
        rm -rf "$out"
    done
done
$PY - "$RES" "$SCENARIO" "$SERVER" "$SHORT" "$LONG" <<'PYEOF'
import json, statistics, sys
res, scenario, server, short, long_ = sys.argv[1:]
rows = [json.loads(l) for l in open(res)]
med = statistics.median
print(f"scenario: {scenario}; server: {server}\n")
print("| duration s | runs | rows | load-phase max RSS MB (to D - 1 s) | whole command max RSS MB | rounds (load RSS) |")
print("|---:|---:|---:|---:|---:|---|")
load = {}
for d in (int(short), int(long_)):
    rs = [r for r in rows if r["d"] == d]
    lr = [r["m"]["mark_rss_kb"] / 1024 for r in rs]
    load[d] = med(lr)
    print(f"| {d} | {len(rs)} | {med([r['rows'] for r in rs]):,.0f} | {med(lr):.1f} | "
          f"{med([r['m']['max_rss_kb'] / 1024 for r in rs]):.1f} | {', '.join(f'{x:.1f}' for x in lr)} |")
ratio = load[int(long_)] / load[int(short)]
print(f"\nload-phase RSS {long_} s / {short} s: {ratio:.3f}x ({'flat: within 10%' if ratio <= 1.10 else 'NOT flat'})")
PYEOF
