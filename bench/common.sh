# Shell helpers shared by bench/compare.sh, bench/lag.sh and bench/instr.sh (sourced; needs $PY).

# free_port: a free TCP port on 127.0.0.1.
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# render TEMPLATE OUT KEY=VALUE...: replace __KEY__ by VALUE.
render() {
    $PY - "$@" <<'PYEOF'
import sys
src, dst, *kv = sys.argv[1:]
t = open(src).read()
for pair in kv:
    k, v = pair.split("=", 1)
    t = t.replace(f"__{k}__", v)
open(dst, "w").write(t)
PYEOF
}

# start_server MOCK_BIN: the load server on a free port of 127.0.0.1: nginx (one worker, `return 200` of
# bench/body.json) when $SERVER is nginx and nginx is installed, else `MOCK_BIN mock bench/mock-zero.yaml`. Sets
# PORT, URL and SERVER, adds the server's pid to PIDS, and waits (at most 10 s) until it answers. Needs TMP and HERE.
start_server() {
    PORT=$(free_port)
    URL=http://127.0.0.1:$PORT/v1/chat/completions
    if [[ $SERVER == nginx ]] && command -v nginx >/dev/null; then
        mkdir -p "$TMP/nginx"
        render "$HERE/nginx.conf" "$TMP/nginx/nginx.conf" "TMP=$TMP/nginx" "PORT=$PORT" \
            "BODY=$(tr -d '\n' <"$HERE/body.json")"
        nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" &
    else
        SERVER=mock
        "$1" mock "$HERE/mock-zero.yaml" --port "$PORT" >"$TMP/mock.out" 2>&1 &
    fi
    PIDS+=($!)
    for _ in $(seq 100); do curl -s -o /dev/null -X POST "$URL" -d '{}' && break; sleep 0.1; done
}

# cutover_scenario NAME RATE IN_FLIGHT STREAM PORT [VUS] -> path of bench/scenarios/openai-bench.yaml rendered into
# $TMP/NAME.yaml: open-model arrivals at RATE/s, or closed with VUS virtual users. Needs TMP, HERE and ROOT.
cutover_scenario() {
    local f=$TMP/$1.yaml closed="# open model: arrivals at time_scale/s"
    [[ -z ${6:-} ]] || closed="closed: {vus: $6}"
    # A 7th argument: another `traffic` line in the closed-model line's place (e.g. `timer_slack_us: 1000`).
    [[ -z ${7:-} ]] || closed=$7
    render "$HERE/scenarios/openai-bench.yaml" "$f" "NAME=$1" "PORT=$5" "RATE=$2" \
        "IN_FLIGHT=$3" "STREAM=$4" "ROOT=$ROOT" "CLOSED=$closed"
    echo "$f"
}
