# Shell helpers shared by bench/compare.sh and bench/lag.sh (sourced; needs $PY).

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
