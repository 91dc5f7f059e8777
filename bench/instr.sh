#!/usr/bin/env bash
# Instructions per request of cutover's closed (or open) model (issue 12), for one or more builds, A/B style: valgrind
# callgrind counts instructions, not seconds, so the figure holds on a shared, noisy machine. Loopback only (nginx,
# one worker, `return 200`, or the embedded zero-latency mock); every run is bounded by limits.max_requests (closed)
# or by its duration (open).
#
#   bench/instr.sh BIN [BIN ...] [--reps 3] [--requests 1000] [--users 8] [--server nginx|mock] [--open RATE]
#
# --open RATE: the open model instead (a conversation task and a timer wake-up per arrival), arrivals paced at RATE/s
# for N / RATE and 2 N / RATE seconds, slow enough for valgrind to keep up (200 is; compare.sh section 6 uses it).
#
# Per build and repetition: a closed run of --users virtual users capped at N and at 2N requests (each user stops
# at its first max_requests refusal, so exactly N are sent), and `cutover report` of both run directories. Per
# request = (run(2N) - run(N)) / N minus the same for the report: what the load path costs, its report excluded.
# Prints one Markdown table of the medians over --reps repetitions (builds interleaved), with every repetition.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PY=${PYTHON:-python3}
REPS=3 N=1000 USERS=8 SERVER=nginx OPEN="" BINS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --reps) REPS=$2; shift ;;
        --requests) N=$2; shift ;;
        --users) USERS=$2; shift ;;
        --server) SERVER=$2; shift ;;
        --open) OPEN=$2; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) BINS+=("$(realpath "$1")") ;;
    esac
    shift
done
[[ ${#BINS[@]} -gt 0 ]] || { sed -n '2,15p' "$0"; exit 2; }
command -v valgrind >/dev/null || { echo "instr.sh: valgrind is needed (apt-get install valgrind)" >&2; exit 2; }

TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
. "$HERE/common.sh"
start_server "${BINS[0]}"

for n in "$N" "$((2 * N))"; do
    if [[ -n $OPEN ]]; then
        # No in-flight cap to speak of, so every arrival is sent; the run lasts n / OPEN seconds.
        f=$(cutover_scenario "closed-$n" "$OPEN" "$((4 * N))" 0 "$PORT")
        sed -i "s/^  duration_s: .*/  duration_s: $(awk "BEGIN{print $n / $OPEN}")/" "$f"
    else
        f=$(cutover_scenario "closed-$n" 1000 "$((USERS * 2))" 0 "$PORT" "$USERS")
        sed -i "s/^  duration_s: .*/  duration_s: 600/; s/^  max_requests: .*/  max_requests: $n/" "$f"
    fi
done

refs() { grep -o 'refs: *[0-9,]*' "$1" | tr -d ', ' | cut -d: -f2; }
RES=$TMP/res.txt
for ((r = 1; r <= REPS; r++)); do
    for i in "${!BINS[@]}"; do
        bin=${BINS[$i]}
        line="$i $r"
        for n in "$N" "$((2 * N))"; do
            o=$TMP/run-$i-$r-$n
            mkdir -p "$o"
            valgrind --tool=callgrind --callgrind-out-file="$o.cg" "$bin" run "$TMP/closed-$n.yaml" --out "$o" \
                --quiet --allow-undecided >"$o.log" 2>&1 || true
            d=$(ls -d "$o"/*/ | head -1)
            valgrind --tool=callgrind --callgrind-out-file="$o.rcg" "$bin" report "$d" >"$o.rlog" 2>&1 || true
            line="$line $(refs "$o.log") $(refs "$o.rlog")"
            rm -rf "$o" "$o.cg" "$o.rcg"
        done
        echo "$line" >>"$RES"
        echo "[$(date +%T)] build $i rep $r done" >&2
    done
done
$PY - "$RES" "$N" "$SERVER" "$USERS" "${OPEN:-0}" "${BINS[@]}" <<'PYEOF'
import statistics, sys
res, n, server, users, open_rate, *bins = sys.argv[1:]
open_rate = float(open_rate)
n = int(n)
per = {}
for line in open(res):
    i, r, run1, rep1, run2, rep2 = line.split()
    load = ((int(run2) - int(run1)) - (int(rep2) - int(rep1))) / n
    report = (int(rep2) - int(rep1)) / n
    per.setdefault(int(i), []).append((load, report))
model = f"open, {open_rate}/s" if open_rate else f"closed, {users} users"
print(f"server: {server}; {model}; N = {n} and {2 * n} requests\n")
print("| build | load instructions per request, median | every repetition | report per row, median |")
print("|---|---:|---|---:|")
for i, b in enumerate(bins):
    xs = per.get(i, [])
    if not xs:
        continue
    print(f"| {b} | {statistics.median(x[0] for x in xs):,.0f} | {', '.join(f'{x[0]:,.0f}' for x in xs)} | "
          f"{statistics.median(x[1] for x in xs):,.0f} |")
PYEOF
