#!/usr/bin/env python3
"""Figures of one cutover run directory, from its requests.csv and run.json: rows, outcomes, latency of ok requests,
send lag behind schedule (sent_ms - scheduled_ms of every sent request) and the accounting check (rows in the CSV ==
scheduled in run.json == ok + errors + cancelled + not_sent). Prints one JSON object.

Quantiles are nearest-rank (the smallest value with at least q of the sample at or below it), as cutover's report.
usage: csvstats.py RUN_DIR
"""
import csv
import json
import math
import sys
from collections import Counter


def q(sorted_vals, p):
    if not sorted_vals:
        return None
    k = max(1, math.ceil(p * len(sorted_vals)))
    return sorted_vals[k - 1]


def main():
    d = sys.argv[1]
    meta = json.load(open(f"{d}/run.json"))
    rows = 0
    outcomes = Counter()
    reasons = Counter()
    lat, lag = [], []
    with open(f"{d}/requests.csv", newline="") as f:
        r = csv.reader(f)
        h = next(r)
        i_out, i_ns = h.index("outcome"), h.index("not_sent_reason")
        i_sch, i_sent, i_lat = h.index("scheduled_ms"), h.index("sent_ms"), h.index("latency_ms")
        for row in r:
            rows += 1
            o = row[i_out]
            outcomes[o] += 1
            if o == "not_sent":
                reasons[row[i_ns]] += 1
            if row[i_sent]:
                lag.append(float(row[i_sent]) - float(row[i_sch]))
            if o == "ok" and row[i_lat]:
                lat.append(float(row[i_lat]))
    lat.sort()
    lag.sort()
    acc = meta.get("accounting", [])
    sched = sum(a["scheduled"] for a in acc)
    parts = sum(a["ok"] + a["errors"] + a["cancelled"] + a["not_sent"] for a in acc)
    window = meta["scenario"]["traffic"]["duration_s"]
    out = {
        "rows": rows,
        "outcomes": dict(outcomes),
        "not_sent_reasons": dict(reasons),
        "ok": outcomes.get("ok", 0),
        "ok_per_s": outcomes.get("ok", 0) / window,
        "window_s": window,
        "elapsed_s": meta.get("elapsed_s"),
        "lat_p50_ms": q(lat, 0.5),
        "lat_p99_ms": q(lat, 0.99),
        "lag_p50_ms": q(lag, 0.5),
        "lag_p90_ms": q(lag, 0.9),
        "lag_p99_ms": q(lag, 0.99),
        "lag_p999_ms": q(lag, 0.999),
        "lag_max_ms": lag[-1] if lag else None,
        "accounting_exact": rows == sched == parts
        and outcomes.get("ok", 0) == sum(a["ok"] for a in acc)
        and outcomes.get("not_sent", 0) == sum(a["not_sent"] for a in acc),
    }
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
