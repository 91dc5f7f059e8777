#!/usr/bin/env bash
# Send lag behind schedule, A/B (issue 12, goal 3): two cutover binaries, interleaved, on the same fixed-rate
# scenario against nginx (one worker, `return 200`) or the embedded zero-latency mock. Loopback only; every run is
# bounded (--duration s of arrivals, max_duration_s 120).
#
#   bench/lag.sh BIN_A BIN_B [--rates "2000 20000 50000"] [--rounds 3] [--duration 5] [--server nginx|mock]
#
# Per run: achieved ok/s, send lag p50 / p90 / p99 / p99.9 / max (sent_ms - scheduled_ms of every sent request,
# from requests.csv by bench/csvstats.py), CPU per ok request during the load phase (bench/measure.py), not sent, and
# whether the accounting was exact. Prints one Markdown table
# of the medians per (rate, binary) and the per-round B/A ratio of the lag p99.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PY=${PYTHON:-python3}
[[ $# -ge 2 ]] || { sed -n 2,10p "$0"; exit 2; }
A=$(realpath "$1") B=$(realpath "$2")
shift 2
RATES="2000 20000" ROUNDS=3 DURATION=5 SERVER=nginx IN_FLIGHT=1024
while [[ $# -gt 0 ]]; do
    case $1 in
        --rates) RATES=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --server) SERVER=$2; shift ;;
        --in-flight) IN_FLIGHT=$2; shift ;;
        *) echo "lag.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
. "$HERE/common.sh"
start_server "$A"
RES=$TMP/res.jsonl
: >"$RES"
for ((r = 1; r <= ROUNDS; r++)); do
    for rate in $RATES; do
        order=(A B)
        ((r % 2 == 0)) && order=(B A)
        for which in "${order[@]}"; do
            bin=$A
            [[ $which == B ]] && bin=$B
            scn=$(cutover_scenario "lag-$rate" "$rate" "$IN_FLIGHT" 0 "$PORT") out=$TMP/run-$which-$rate-$r
            mkdir -p "$out"
            m=$($PY "$HERE/measure.py" --mark "$(awk "BEGIN{print $DURATION + 0.4}")" --out "$out.out" \
                --err "$out.err" -- "$bin" run "$scn" --out "$out" --duration "$DURATION" --quiet --allow-undecided)
            ls -d "$out"/*/ >/dev/null 2>&1 ||
                { echo "lag.sh: $which at $rate/s failed: $(tail -3 "$out.err")" >&2; continue; }
            f=$($PY "$HERE/csvstats.py" "$(ls -d "$out"/*/ | head -1)")
            echo "{\"bin\": \"$which\", \"rate\": $rate, \"round\": $r, \"f\": $f, \"m\": $m}" >>"$RES"
            rm -rf "$out"
        done
    done
done
$PY - "$RES" "$A" "$B" "$SERVER" <<'PYEOF'
import json, statistics, sys
res, a, b, server = sys.argv[1:]
rows = [json.loads(l) for l in open(res)]
med = lambda xs: statistics.median(xs) if xs else None
print(f"server: {server}; A = {a}; B = {b}\n")
print("| rate/s | bin | runs | ok/s | lag p50 ms | p90 | p99 | p99.9 | max | CPU us/req | not sent | exact |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
def cpu_us(r):
    m, ok = r["m"], r["f"]["outcomes"].get("ok", 0)
    cpu = m.get("mark_cpu_s") if m.get("mark_cpu_s") is not None else m["cpu_s"]
    return cpu * 1e6 / ok if ok else None
rates = sorted({r["rate"] for r in rows})
for rate in rates:
    for which in "AB":
        full = [r for r in rows if r["rate"] == rate and r["bin"] == which]
        rs = [r["f"] for r in full]
        if not rs:
            continue
        cpu = med([c for c in map(cpu_us, full) if c is not None])
        m = lambda k: med([x[k] for x in rs if x[k] is not None])
        ns = med([x["outcomes"].get("not_sent", 0) for x in rs])
        print(f"| {rate:,} | {which} | {len(rs)} | {m('ok_per_s'):,.0f} | {m('lag_p50_ms'):.3f} | {m('lag_p90_ms'):.3f} | "
              f"{m('lag_p99_ms'):.3f} | {m('lag_p999_ms'):.3f} | {m('lag_max_ms'):.1f} | {cpu:.1f} | {ns:,.0f} | "
              f"{all(x['accounting_exact'] for x in rs)} |")
print("\n| rate/s | lag p50 B/A | lag p99 B/A (median of per-round ratios) |\n|---:|---:|---:|")
for rate in rates:
    ratios = {}
    for k in ("lag_p50_ms", "lag_p99_ms"):
        per = []
        for rnd in sorted({r["round"] for r in rows}):
            x = {r["bin"]: r["f"][k] for r in rows if r["rate"] == rate and r["round"] == rnd}
            if x.get("A") and x.get("B") is not None:
                per.append(x["B"] / x["A"])
        ratios[k] = med(per)
    fmt = lambda v: "-" if v is None else f"{v:.2f}x"
    print(f"| {rate:,} | {fmt(ratios['lag_p50_ms'])} | {fmt(ratios['lag_p99_ms'])} |")
PYEOF
