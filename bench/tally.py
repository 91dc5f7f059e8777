#!/usr/bin/env python3
"""Helpers of compare.sh.

  tally.py oha FILE        -> JSON {rps, p50_ms, p99_ms, ok, requests} from `oha --output-format json`
  tally.py wrk FILE        -> JSON {rps, p50_ms, p99_ms, requests, errors} from `wrk --latency` text
  tally.py table FILE      -> the table of medians (one row per mode x tool) and ratios cutover/oha, in Markdown,
                              from the JSON lines compare.sh appended to FILE (one line per run)
"""
import json
import re
import statistics
import sys
from collections import defaultdict


def parse_oha(path):
    j = json.load(open(path))
    s = j["summary"]
    pct = j.get("latencyPercentiles", {})
    codes = j.get("statusCodeDistribution", {})
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    err = sum(j.get("errorDistribution", {}).values())
    return {
        "rps": s["requestsPerSec"],
        "p50_ms": pct.get("p50", 0) * 1000 if pct.get("p50") is not None else None,
        "p99_ms": pct.get("p99", 0) * 1000 if pct.get("p99") is not None else None,
        "ok": ok,
        "requests": ok + sum(v for k, v in codes.items() if not k.startswith("2")) + err,
        "errors": err,
    }


UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * UNIT[m.group(2)]


def parse_wrk(path):
    t = open(path).read()
    out = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))}
    out["requests"] = int(re.search(r"(\d+) requests in", t).group(1))
    for p in ("50", "99"):
        m = re.search(rf"^\s+{p}(?:\.000)?%\s+(\S+)", t, re.M)
        out[f"p{p}_ms"] = wrk_ms(m.group(1)) if m else None
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    out["errors"] = (sum(int(x) for x in errs.groups()) if errs else 0) + (int(non2xx.group(1)) if non2xx else 0)
    out["ok"] = out["requests"] - out["errors"]
    return out


COLS = [
    ("rps", "req/s", "{:,.0f}"),
    ("p50_ms", "p50 ms", "{:.3f}"),
    ("p99_ms", "p99 ms", "{:.3f}"),
    ("cpu_s", "CPU s", "{:.2f}"),
    ("cpu_us_per_req", "CPU us/req", "{:.1f}"),
    ("rss_mb", "max RSS MB", "{:.1f}"),
    ("lag_p50_ms", "lag p50 ms", "{:.3f}"),
    ("lag_p99_ms", "lag p99 ms", "{:.3f}"),
    ("not_sent", "not sent", "{:,.0f}"),
    ("accounting_exact", "rows==requests", "{}"),
]


def median(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    if all(isinstance(v, bool) for v in vals):
        return all(vals)
    return statistics.median(vals)


TOOLS = ("oha", "wrk", "cutover", "cutover-slack1000")


def table(path):
    runs = [json.loads(l) for l in open(path) if l.strip()]
    groups = defaultdict(list)
    for r in runs:
        groups[(r["mode"], r["tool"])].append(r)
    modes = list(dict.fromkeys(r["mode"] for r in runs))
    print("| mode | tool | runs | " + " | ".join(c[1] for c in COLS) + " |")
    print("|---|---|---:|" + "---:|" * len(COLS))
    med = {}
    for mode in modes:
        for tool in TOOLS:
            g = groups.get((mode, tool))
            if not g:
                continue
            m = {k: median([r.get(k) for r in g]) for k, _, _ in COLS}
            med[(mode, tool)] = m
            cells = ["-" if m[k] is None else f.format(m[k]) for k, _, f in COLS]
            print(f"| {mode} | {tool} | {len(g)} | " + " | ".join(cells) + " |")
    print()
    print("Ratios cutover / oha (medians; per round first, then the median of the per-round ratios):")
    print()
    print("| mode | figure | median of ratios | per round |")
    print("|---|---|---:|---|")
    for mode in modes:
        by_round = defaultdict(dict)
        for r in runs:
            if r["mode"] == mode:
                by_round[r["round"]][r["tool"]] = r
        for tool in TOOLS[2:]:
            for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "rss_mb"):
                rs = []
                for rnd in sorted(by_round):
                    c, o = by_round[rnd].get(tool), by_round[rnd].get("oha")
                    if c and o and c.get(k) and o.get(k):
                        rs.append(c[k] / o[k])
                if rs:
                    per = ", ".join(f"{x:.2f}" for x in rs)
                    name = k if tool == "cutover" else f"{k} ({tool})"
                    print(f"| {mode} | {name} | {statistics.median(rs):.2f}x | {per} |")


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "oha":
        print(json.dumps(parse_oha(path)))
    elif cmd == "wrk":
        print(json.dumps(parse_wrk(path)))
    elif cmd == "table":
        table(path)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
