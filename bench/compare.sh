#!/usr/bin/env bash
# Side-by-side benchmark of cutover against oha and wrk (issue 12). Loopback only; every run bounded in time.
#
#   bench/compare.sh                 # 3 interleaved rounds of 10 s + memory + report-at-scale + instruction counts
#   bench/compare.sh --rounds 5 --duration 15
#   bench/compare.sh --smoke         # ~5 s of load in all (CI): 1 round of 1 s runs, no memory/report/instructions
#   bench/compare.sh --server mock   # the load server is `cutover mock bench/mock-zero.yaml` instead of nginx
#
# What it does (idempotent: installs only what is missing, every temp file under one mktemp dir, removed at exit):
#  1. nginx-light and wrk (apt-get), oha (cargo install oha --locked); builds cutover with --release.
#  2. nginx on 127.0.0.1:<free port> with ONE worker answering `return 200` with bench/body.json (or, with
#     --server mock or without nginx, `cutover mock bench/mock-zero.yaml` in its own process).
#  3. Per round, in a rotating order: saturation (64 connections / 64 in flight, --duration s) for oha, wrk and
#     cutover; then a fixed 20,000 req/s for oha (-q) and cutover (uniform arrivals at that rate), cutover twice:
#     with the default timer slack (50 us) and with traffic.timer_slack_us 1000 (oha's 1 ms timer).
#     cutover's saturation is its closed model (traffic.closed.vus = connections); --sat-open runs the old
#     open-model approximation instead (--sat-rate arrivals/s with max_in_flight = connections).
#     Per run: req/s, p50, p99, CPU (user+sys; cutover's taken at the end of its load phase, before it renders its
#     report), max RSS, and for cutover the send lag (sent_ms - scheduled_ms) and rows == requests.
#  4. Memory: cutover holding --streams concurrent SSE streams of a slow embedded mock (separate process), at
#     streams/10 and streams: max RSS and the per-stream slope.
#  5. Reports at scale: requests.csv of 1,000,000 and 10,000,000 rows synthesized from a real run
#     (bench/gen_rows.py); wall, CPU and max RSS of `cutover report DIR`.
#  6. Instructions per request (valgrind callgrind: this machine's perf has no hardware counters): the difference
#     between a 2N and an N request run, for cutover (minus its report's share) and oha.
#  7. --profile: perf record (cpu-clock, DWARF call graphs) of cutover at saturation; flat and per-library profiles
#     saved next to --out (or in the temp dir with --keep).
# Prints one Markdown table of medians and the ratios cutover/oha; --out FILE also writes it there.
set -euo pipefail

ROUNDS=3
DURATION=10
CONNS=64
RATE=20000
SAT_RATE=60000
STREAMS=10000
REPORT_ROWS="1000000 10000000"
INSTR_N=1000
INSTR_RATE=200
SAT_OPEN=0
DO_SAT=1 DO_FIXED=1 DO_MEM=1 DO_REPORT=1 DO_INSTR=1 DO_PROFILE=0 BUILD=1 INSTALL=1 KEEP=0
OUT=""
SERVER=nginx

usage() { sed -n '2,22p' "$0"; exit "${1:-0}"; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) ROUNDS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --connections) CONNS=$2; shift ;;
        --rate) RATE=$2; shift ;;
        --sat-rate) SAT_RATE=$2; shift ;;
        --streams) STREAMS=$2; shift ;;
        --report-rows) REPORT_ROWS=$2; shift ;;
        --instr-requests) INSTR_N=$2; shift ;;
        --instr-rate) INSTR_RATE=$2; shift ;;
        --no-saturation) DO_SAT=0 ;;
        --sat-open) SAT_OPEN=1 ;;
        --no-fixed) DO_FIXED=0 ;;
        --no-memory) DO_MEM=0 ;;
        --no-report) DO_REPORT=0 ;;
        --no-instructions) DO_INSTR=0 ;;
        --no-build) BUILD=0 ;;
        --no-install) INSTALL=0 ;;
        --profile) DO_PROFILE=1 ;;
        --keep) KEEP=1 ;;
        --out) OUT=$2; shift ;;
        --server) SERVER=$2; shift ;;
        --smoke) ROUNDS=1 DURATION=1 DO_MEM=0 DO_REPORT=0 DO_INSTR=0 ;;
        -h|--help) usage 0 ;;
        *) echo "compare.sh: unknown argument $1" >&2; usage 2 ;;
    esac
    shift
done

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BIN=$ROOT/target/release/cutover
PY=${PYTHON:-python3}
TMP=$(mktemp -d /tmp/cutover-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [[ $KEEP == 1 ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# --- 1. tools -------------------------------------------------------------------------------------------------------
export PATH="$PATH:/usr/sbin:$HOME/.cargo/bin"
ensure_tools() {
    local missing=()
    command -v nginx >/dev/null || missing+=(nginx-light)
    command -v wrk >/dev/null || missing+=(wrk)
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "installing ${missing[*]}"
        apt-get install -y "${missing[@]}" >/dev/null 2>&1 ||
            { apt-get update >/dev/null 2>&1 && apt-get install -y "${missing[@]}" >/dev/null 2>&1; } ||
            log "could not install ${missing[*]}: skipped"
    fi
    if ! command -v oha >/dev/null; then
        log "installing oha (cargo install oha --locked; minutes on 2 cores)"
        nice -n 10 cargo install oha --locked >"$TMP/oha-install.log" 2>&1 || log "could not install oha: skipped"
    fi
}
[[ $INSTALL == 0 ]] || ensure_tools
HAVE_OHA=$(command -v oha >/dev/null && echo 1 || echo 0)
HAVE_WRK=$(command -v wrk >/dev/null && echo 1 || echo 0)
if [[ $BUILD == 1 ]]; then
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet)
fi
[[ -x $BIN ]] || { echo "compare.sh: $BIN missing (drop --no-build)" >&2; exit 2; }

. "$HERE/common.sh"
wait_http() { # wait_http URL: until it answers, at most 10 s
    for _ in $(seq 100); do
        curl -s -o /dev/null -X POST "$1" -d '{}' && return 0
        sleep 0.1
    done
    echo "compare.sh: $1 does not answer" >&2
    exit 3
}

BODY=$(tr -d '\n' <"$HERE/request.json")
RES=$TMP/results.jsonl
: >"$RES"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- 2. the server: nginx, or the embedded mock ------------------------------------------------------------------------
if [[ $SERVER == nginx ]] && ! command -v nginx >/dev/null; then
    log "nginx not installed: the embedded zero-latency mock serves instead"
    SERVER=mock
fi
# The embedded mock runs in its own process: ~1 ms per request (tokio timer), see bench/mock-zero.yaml.
start_server "$BIN"
wait_http "$URL"
if [[ $SERVER == mock ]]; then
    log "cutover mock bench/mock-zero.yaml on 127.0.0.1:$PORT; tmp $TMP"
else
    log "nginx $(nginx -v 2>&1 | sed 's/.*\///') on 127.0.0.1:$PORT (1 worker); tmp $TMP"
fi

# --- 3. interleaved runs --------------------------------------------------------------------------------------------
# emit MODE TOOL ROUND MEASURE_JSON FIGURES_JSON: one results line with the derived figures.
emit() {
    $PY - "$@" >>"$RES" <<'PYEOF'
import json, sys
mode, tool, rnd, m, f = sys.argv[1:]
m, f = json.loads(m), json.loads(f)
cpu = m.get("mark_cpu_s") if m.get("mark_cpu_s") is not None else m["cpu_s"]
rss = m.get("mark_rss_kb") or m["max_rss_kb"]
r = {"mode": mode, "tool": tool, "round": int(rnd), **f, "cpu_s": cpu, "rss_mb": rss / 1024,
     "cpu_total_s": m["cpu_s"], "rss_total_mb": m["max_rss_kb"] / 1024, "wall_s": m["wall_s"], "rc": m["rc"]}
n = f.get("ok") or f.get("requests")
r["cpu_us_per_req"] = cpu * 1e6 / n if n else None
if tool.startswith("cutover"):
    r["rps"] = f["ok"] / f["window_s"]
    r["p50_ms"], r["p99_ms"] = f["lat_p50_ms"], f["lat_p99_ms"]
    r["not_sent"] = f["outcomes"].get("not_sent", 0)
print(json.dumps(r))
PYEOF
}

run_oha() { # MODE ROUND [extra oha args]
    local mode=$1 rnd=$2 o=$TMP/oha-$1-$2
    shift 2
    local m
    m=$($PY "$HERE/measure.py" --out "$o.json" --err "$o.err" -- oha --no-tui --output-format json \
        -z "${DURATION}s" -c "$CONNS" -m POST -H 'content-type: application/json' -d "$BODY" "$@" "$URL")
    emit "$mode" oha "$rnd" "$m" "$($PY "$HERE/tally.py" oha "$o.json")"
}

run_wrk() { # MODE ROUND
    local mode=$1 rnd=$2 o=$TMP/wrk-$1-$2 m
    m=$(BENCH_BODY=$BODY $PY "$HERE/measure.py" --out "$o.txt" --err "$o.err" -- wrk -t "$(nproc)" -c "$CONNS" \
        -d "${DURATION}s" --latency -s "$HERE/wrk-post.lua" "$URL")
    emit "$mode" wrk "$rnd" "$m" "$($PY "$HERE/tally.py" wrk "$o.txt")"
}

# sat_vus: the saturation run's virtual users (empty: the open-model approximation, --sat-open)
sat_vus() { [[ $SAT_OPEN == 1 ]] || echo "$CONNS"; }

run_cutover() { # MODE ROUND RATE [VUS] [TOOL NAME] [TRAFFIC LINE]
    local mode=$1 rnd=$2 rate=$3 tool=${5:-cutover} out=$TMP/runs/$1-$2-${5:-cutover} scn m
    scn=$(cutover_scenario "bench-$mode" "$rate" "$CONNS" 0 "$PORT" "${4:-}" "${6:-}")
    mkdir -p "$out"
    m=$($PY "$HERE/measure.py" --mark "$(awk "BEGIN{print $DURATION + 0.4}")" --out "$out.out" --err "$out.err" -- \
        "$BIN" run "$scn" --out "$out" --duration "$DURATION" --quiet)
    local dir
    dir=$(ls -d "$out"/*/ | head -1)
    emit "$mode" "$tool" "$rnd" "$m" "$($PY "$HERE/csvstats.py" "$dir")"
    [[ $KEEP == 1 ]] || rm -rf "$out"
}

TOOLS=(oha wrk cutover)
for ((r = 1; r <= ROUNDS; r++)); do
    if [[ $DO_SAT == 1 ]]; then
        for ((k = 0; k < 3; k++)); do
            t=${TOOLS[$(((r - 1 + k) % 3))]}
            log "round $r/$ROUNDS saturation: $t"
            case $t in
                oha) [[ $HAVE_OHA == 1 ]] && run_oha saturation "$r" ;;
                wrk) [[ $HAVE_WRK == 1 ]] && run_wrk saturation "$r" ;;
                cutover) run_cutover saturation "$r" "$SAT_RATE" "$(sat_vus)" ;;
            esac
        done
    fi
    if [[ $DO_FIXED == 1 ]]; then
        for ((k = 0; k < 3; k++)); do
            case $(((r - 1 + k) % 3)) in
                0)
                    log "round $r/$ROUNDS fixed $RATE/s: oha"
                    [[ $HAVE_OHA == 1 ]] && run_oha "fixed-$RATE" "$r" -q "$RATE"
                    ;;
                1)
                    log "round $r/$ROUNDS fixed $RATE/s: cutover"
                    run_cutover "fixed-$RATE" "$r" "$RATE"
                    ;;
                2)
                    log "round $r/$ROUNDS fixed $RATE/s: cutover, timer_slack_us 1000"
                    run_cutover "fixed-$RATE" "$r" "$RATE" "" cutover-slack1000 "timer_slack_us: 1000"
                    ;;
            esac
        done
    fi
done

TABLE=$TMP/table.md
: >"$TABLE"
[[ ! -s $RES ]] || {
    echo "## Load ($SERVER): medians of $ROUNDS interleaved rounds, $DURATION s each, $CONNS connections / in flight"
    echo
    $PY "$HERE/tally.py" table "$RES"
    echo
    if [[ $SAT_OPEN == 1 ]]; then
        echo "cutover saturation = open model at $SAT_RATE arrivals/s with limits.max_in_flight: $CONNS (overflow rows are"
        echo "'not sent'); cutover CPU and RSS are taken at the end of the load phase (its report rendering excluded)."
    else
        echo "cutover saturation = closed model, traffic.closed.vus: $CONNS (each user sends when its previous answer"
        echo "arrived); cutover CPU and RSS are taken at the end of the load phase (its report rendering excluded)."
    fi
} >"$TABLE"

# --- 4. memory: concurrent SSE streams ------------------------------------------------------------------------------
if [[ $DO_MEM == 1 ]]; then
    MPORT=$(free_port)
    "$BIN" mock "$HERE/mock-slow-sse.yaml" --port "$MPORT" >"$TMP/mock.out" 2>&1 &
    MOCK=$!
    PIDS+=($MOCK)
    wait_http "http://127.0.0.1:$MPORT/v1/chat/completions"
    {
        echo
        echo "## Memory: concurrent SSE streams (mock: TTFT 3 s, 20 tokens 0.5 s apart; arrivals over 2 s)"
        echo
        echo "| streams | ok | max RSS MB | CPU s |"
        echo "|---:|---:|---:|---:|"
    } >>"$TABLE"
    rss=()
    for n in $((STREAMS / 10)) "$STREAMS"; do
        log "memory: $n streams"
        scn=$(cutover_scenario "bench-sse-$n" "$((n / 2))" "$((n + 1000))" 1 "$MPORT")
        out=$TMP/runs/sse-$n
        mkdir -p "$out"
        m=$($PY "$HERE/measure.py" --out "$out.out" --err "$out.err" -- "$BIN" run "$scn" --out "$out" --duration 2 --quiet)
        dir=$(ls -d "$out"/*/ | head -1)
        f=$($PY "$HERE/csvstats.py" "$dir")
        line=$($PY -c 'import json,sys; m,f=json.loads(sys.argv[1]),json.loads(sys.argv[2]); print(m["max_rss_kb"], f["ok"], m["cpu_s"])' "$m" "$f")
        read -r kb ok cpu <<<"$line"
        rss+=("$kb")
        echo "| $n | $ok | $(awk "BEGIN{printf \"%.1f\", $kb / 1024}") | $cpu |" >>"$TABLE"
        [[ $KEEP == 1 ]] || rm -rf "$out"
    done
    per=$(awk "BEGIN{printf \"%.0f\", (${rss[1]} - ${rss[0]}) * 1024 / ($STREAMS - $STREAMS / 10)}")
    echo >>"$TABLE"
    echo "Per stream (slope between the two runs): $per bytes" >>"$TABLE"
    kill "$MOCK" 2>/dev/null || true
fi

# --- 5. reports at scale --------------------------------------------------------------------------------------------
if [[ $DO_REPORT == 1 ]]; then
    log "report bench: a real 5 s run of scenarios/coze-migration.yaml as the row source"
    "$BIN" run "$ROOT/scenarios/coze-migration.yaml" --out "$TMP/src" --duration 5 --quiet >"$TMP/src.out" 2>&1 || true
    src=$(ls -d "$TMP"/src/*/ | head -1)
    {
        echo
        echo "## Reports at scale: \`cutover report DIR\` on synthesized requests.csv"
        echo
        echo "| rows | CSV MB | wall s | CPU s | max RSS MB | exit |"
        echo "|---:|---:|---:|---:|---:|---:|"
    } >>"$TABLE"
    for n in $REPORT_ROWS; do
        log "report bench: $n rows"
        big=$TMP/big-$n
        $PY "$HERE/gen_rows.py" "$src" "$big" "$n" >&2
        mb=$(($(stat -c %s "$big/requests.csv") / 1048576))
        m=$($PY "$HERE/measure.py" --out "$big.out" --err "$big.err" -- "$BIN" report "$big")
        $PY -c 'import json,sys; m=json.loads(sys.argv[1]); print("| {:,} | {} | {:.2f} | {:.2f} | {:.1f} | {} |".format(int(sys.argv[2]), sys.argv[3], m["wall_s"], m["cpu_s"], m["max_rss_kb"] / 1024, m["rc"]))' \
            "$m" "$n" "$mb" >>"$TABLE"
        rm -rf "$big"
    done
fi

# --- 6. instructions per request (callgrind) ------------------------------------------------------------------------
if [[ $DO_INSTR == 1 ]] && command -v valgrind >/dev/null; then
    collected() { grep -o 'Collected : [0-9]*' "$1" | awk '{print $3}'; }
    cg() { # OUTFILE cmd...: instructions executed by cmd (all threads)
        local o=$1
        shift
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" >/dev/null 2>"$o" || true
        collected "$o"
    }
    declare -A I
    for k in 1 2; do
        n=$((k * INSTR_N))
        log "callgrind: cutover and oha, $n requests"
        # Both paced at INSTR_RATE req/s, slow enough for valgrind to keep up after its slow start (whose extra
        # connections are the same in both runs and cancel out in the difference); no in-flight cap, so every
        # arrival is sent. The table shows the ok rows the cutover figure is divided by.
        scn=$(cutover_scenario "bench-instr-$k" "$INSTR_RATE" "$((4 * INSTR_N))" 0 "$PORT")
        out=$TMP/runs/instr-$k
        mkdir -p "$out"
        I[run$k]=$(cg "$TMP/cg-run-$k" "$BIN" run "$scn" --out "$out" --quiet \
            --duration "$(awk "BEGIN{print $n / $INSTR_RATE}")")
        dir=$(ls -d "$out"/*/ | head -1)
        I[rows$k]=$($PY "$HERE/csvstats.py" "$dir" | $PY -c 'import json,sys; print(json.load(sys.stdin)["ok"])')
        I[rep$k]=$(cg "$TMP/cg-rep-$k" "$BIN" report "$dir")
        [[ $HAVE_OHA == 1 ]] && I[oha$k]=$(cg "$TMP/cg-oha-$k" oha --no-tui --output-format json -n "$n" -c "$CONNS" -q "$INSTR_RATE" \
            -m POST -H 'content-type: application/json' -d "$BODY" "$URL")
    done
    {
        echo
        echo "## Instructions per request (valgrind --tool=callgrind, all threads; difference of a $((2 * INSTR_N)) and a $INSTR_N request run, both paced at $INSTR_RATE req/s)"
        echo
        $PY - "${I[run1]}" "${I[run2]}" "${I[rep1]}" "${I[rep2]}" "${I[rows1]}" "${I[rows2]}" "${I[oha1]:-0}" "${I[oha2]:-0}" "$INSTR_N" <<'PYEOF'
import sys
r1, r2, p1, p2, n1, n2, o1, o2, n = map(int, sys.argv[1:])
dn = n2 - n1
run = (r2 - r1) / dn
rep = (p2 - p1) / dn
print("| figure | instructions |")
print("|---|---:|")
print(f"| cutover run, per ok request (ok rows {n1} -> {n2} of {n} -> {2 * n} arrivals) | {run:,.0f} |")
print(f"| of which its report, per row (cutover report, same dirs) | {rep:,.0f} |")
print(f"| cutover load only, per request | {run - rep:,.0f} |")
if o2:
    oha = (o2 - o1) / n
    print(f"| oha, per request | {oha:,.0f} |")
    print(f"| ratio cutover load / oha | {(run - rep) / oha:.2f}x |")
print(f"| totals: cutover run {r1:,} / {r2:,}; report {p1:,} / {p2:,}; oha {o1:,} / {o2:,} | |")
PYEOF
    } >>"$TABLE"
fi

# --- 7. profile at saturation (perf) -------------------------------------------------------------------------------
if [[ $DO_PROFILE == 1 ]] && command -v perf >/dev/null; then
    log "perf record: cutover at saturation, $DURATION s"
    scn=$(cutover_scenario bench-profile "$SAT_RATE" "$CONNS" 0 "$PORT" "$(sat_vus)")
    out=$TMP/runs/profile
    mkdir -p "$out"
    # Attach to the running process after its start-up and detach before its report: the load phase only.
    "$BIN" run "$scn" --out "$out" --duration "$DURATION" --quiet >"$TMP/perf.out" 2>&1 &
    cpid=$!
    sleep 0.5
    perf record -e cpu-clock -F 999 --call-graph dwarf,16384 -p "$cpid" -o "$TMP/perf.data" -- \
        sleep "$(awk "BEGIN{print $DURATION - 1}")" >"$TMP/perf.record.log" 2>&1 || true
    wait "$cpid" || true
    PROF=${OUT:+${OUT%.md}}
    PROF=${PROF:-$TMP/profile}
    perf report -i "$TMP/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25 \
        >"$PROF.dso.txt" || true
    perf report -i "$TMP/perf.data" --stdio --no-children --sort symbol -g none 2>/dev/null | grep -v '^#' |
        grep -v '^$' | head -80 >"$PROF.symbols.txt" || true
    perf report -i "$TMP/perf.data" --stdio --children --sort symbol -g none 2>/dev/null | grep -v '^#' |
        grep -v '^$' | head -120 >"$PROF.children.txt" || true
    perf script -i "$TMP/perf.data" 2>/dev/null | $PY "$HERE/perfsum.py" >"$PROF.summary.txt" || true
    log "profiles: $PROF.{summary,dso,symbols,children}.txt"
fi

cat "$TABLE"
[[ -z $OUT ]] || cp "$TABLE" "$OUT"
