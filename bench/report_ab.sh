#!/usr/bin/env bash
# `cutover report` at scale, A/B (issue 12 goal 5): wall, CPU and max RSS of one or more builds side by side, builds
# interleaved within each round, on run directories synthesized by bench/gen_rows.py from a real 5 s run of
# scenarios/coze-migration.yaml (rendered by the first build); then callgrind instructions per row, and the max RSS of
# `cutover run` (load + its report) at two durations. Loopback only (the scenario's embedded mocks).
#
#   bench/report_ab.sh BIN [BIN ...] [--rows "1000000 10000000"] [--rounds 3] [--instr-rows 200000]
#                      [--run-durations "10 100"] [--keep DIR]
#
# Prints Markdown tables: medians over --rounds (and every round), per build and row count. --instr-rows 0 or
# --run-durations "" skip those parts. Each report renders into a fresh directory whose requests.csv is a hard link
# to the synthesized one (never rewritten), so every build reads the same bytes.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PY=${PYTHON:-python3}
ROWS="1000000 10000000" ROUNDS=3 IROWS=200000 DURS="10 100" KEEP="" BINS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rows) ROWS=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --instr-rows) IROWS=$2; shift ;;
        --run-durations) DURS=$2; shift ;;
        --keep) KEEP=$2; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) BINS+=("$(realpath "$1")") ;;
    esac
    shift
done
[[ ${#BINS[@]} -gt 0 ]] || { sed -n '2,12p' "$0"; exit 2; }

TMP=${KEEP:-$(mktemp -d)}
mkdir -p "$TMP"
[[ -n $KEEP ]] || trap 'rm -rf "$TMP"' EXIT
log() { echo "report_ab: $*" >&2; }

src=$(ls -d "$TMP"/src/*/ 2>/dev/null | head -1 || true)
if [[ -z $src ]]; then
    log "row source: a 5 s run of scenarios/coze-migration.yaml"
    "${BINS[0]}" run "$ROOT/scenarios/coze-migration.yaml" --out "$TMP/src" --duration 5 --quiet >"$TMP/src.out" 2>&1 || true
    src=$(ls -d "$TMP"/src/*/ | head -1)
fi
synth() { # N: a synthesized run dir of N rows (made once)
    [[ -f $TMP/big-$1/requests.csv ]] || $PY "$HERE/gen_rows.py" "$src" "$TMP/big-$1" "$1" >&2
    echo "$TMP/big-$1"
}
fresh() { # SRC DST: DST holds SRC's run.json and a hard link to its requests.csv
    rm -rf "$2"
    mkdir -p "$2"
    cp "$1/run.json" "$2/"
    ln "$1/requests.csv" "$2/requests.csv"
}

RES=$TMP/results.jsonl
: >"$RES"
for n in $ROWS; do
    big=$(synth "$n")
    for r in $(seq 1 "$ROUNDS"); do
        for i in "${!BINS[@]}"; do
            d=$TMP/r-$n-$i
            fresh "$big" "$d"
            log "rows $n round $r build $i"
            m=$($PY "$HERE/measure.py" --out "$d.out" --err "$d.err" -- "${BINS[$i]}" report "$d")
            echo "{\"rows\": $n, \"round\": $r, \"build\": $i, \"m\": $m}" >>"$RES"
        done
    done
done

if [[ $IROWS -gt 0 ]] && command -v valgrind >/dev/null; then
    half=$((IROWS / 2))
    for n in "$half" "$IROWS"; do synth "$n" >/dev/null; done
    for i in "${!BINS[@]}"; do
        for n in "$half" "$IROWS"; do
            d=$TMP/i-$n-$i
            fresh "$TMP/big-$n" "$d"
            log "callgrind: build $i, $n rows"
            valgrind --tool=callgrind --callgrind-out-file=/dev/null "${BINS[$i]}" report "$d" >/dev/null 2>"$d.cg" || true
            ins=$(grep -o 'Collected : [0-9]*' "$d.cg" | awk '{print $3}')
            echo "{\"instr_rows\": $n, \"build\": $i, \"instr\": $ins}" >>"$RES"
        done
    done
fi

for dur in $DURS; do
    for i in "${!BINS[@]}"; do
        d=$TMP/run-$dur-$i
        rm -rf "$d"
        log "cutover run, $dur s, build $i"
        m=$($PY "$HERE/measure.py" --out "$d.out" --err "$d.err" -- "${BINS[$i]}" run "$ROOT/scenarios/coze-migration.yaml" \
            --out "$d" --duration "$dur" --quiet)
        rows=$(($(wc -l <"$(ls -d "$d"/*/ | head -1)/requests.csv") - 1))
        echo "{\"run_s\": $dur, \"build\": $i, \"rows\": $rows, \"m\": $m}" >>"$RES"
    done
done

$PY - "$RES" "${BINS[@]}" <<'PYEOF'
import json, statistics, sys
res = [json.loads(l) for l in open(sys.argv[1])]
bins = sys.argv[2:]
med = statistics.median
print("\n| rows | build | runs | wall s | CPU s | CPU us/row | max RSS MB | rounds (wall / CPU / RSS) |")
print("|---:|---|---:|---:|---:|---:|---:|---|")
for n in sorted({r["rows"] for r in res if "round" in r}):
    for i, b in enumerate(bins):
        ms = [r["m"] for r in res if r.get("round") and r["rows"] == n and r["build"] == i]
        if not ms:
            continue
        w, c, m = [x["wall_s"] for x in ms], [x["cpu_s"] for x in ms], [x["max_rss_kb"] / 1024 for x in ms]
        rounds = ", ".join(f"{a:.2f}/{b_:.2f}/{c_:.0f}" for a, b_, c_ in zip(w, c, m))
        rc = {x["rc"] for x in ms}
        print(f"| {n:,} | {b} | {len(ms)} | {med(w):.2f} | {med(c):.2f} | {med(c) / n * 1e6:.2f} | {med(m):.1f} | {rounds} (rc {sorted(rc)}) |")
ins = [r for r in res if "instr" in r]
if ins:
    ns = sorted({r["instr_rows"] for r in ins})
    print(f"\n| build | instructions, {ns[0]:,} rows | {ns[-1]:,} rows | per row (difference) |")
    print("|---|---:|---:|---:|")
    for i, b in enumerate(bins):
        v = {r["instr_rows"]: r["instr"] for r in ins if r["build"] == i}
        if len(v) == 2:
            print(f"| {b} | {v[ns[0]]:,} | {v[ns[-1]]:,} | {(v[ns[-1]] - v[ns[0]]) / (ns[-1] - ns[0]):,.0f} |")
runs = [r for r in res if "run_s" in r]
if runs:
    print("\n| `cutover run` duration s | build | rows | wall s | CPU s | max RSS MB | exit |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in runs:
        m = r["m"]
        print(f"| {r['run_s']} | {bins[r['build']]} | {r['rows']:,} | {m['wall_s']:.2f} | {m['cpu_s']:.2f} | {m['max_rss_kb'] / 1024:.1f} | {m['rc']} |")
PYEOF
