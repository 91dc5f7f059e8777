#!/usr/bin/env python3
"""Synthesize a large cutover run directory from a real one, for the report-at-scale bench: copies run.json and
writes N rows to requests.csv by cycling through the real rows, renumbering conversations and moving each copy's
instants later by one source window, so the big run looks like the real one repeated back to back. run.json's
accounting, window and elapsed time are rewritten to match the rows (the report's accounting identity holds).

usage: gen_rows.py SRC_RUN_DIR OUT_DIR N
"""
import csv
import json
import os
import sys
from collections import defaultdict


def main():
    src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    meta = json.load(open(f"{src}/run.json"))
    with open(f"{src}/requests.csv", newline="") as f:
        r = csv.reader(f)
        header = next(r)
        pool = list(r)
    if not pool:
        sys.exit(f"{src}/requests.csv: no rows to copy")
    col = {k: i for i, k in enumerate(header)}
    conv_i = col["conversation"]
    time_cols = [col[c] for c in ("scheduled_ms", "sent_ms")]
    window_ms = meta["scenario"]["traffic"]["duration_s"] * 1000.0
    n_conv = max(int(row[conv_i]) for row in pool) + 1
    acc = defaultdict(lambda: defaultdict(int))
    outcome_key = {"ok": "ok", "error": "errors", "cancelled": "cancelled", "not_sent": "not_sent"}
    copies = 0
    with open(f"{out}/requests.csv", "w", newline="", buffering=1 << 20) as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        written = 0
        while written < n:
            shift = copies * window_ms
            for row in pool:
                if written == n:
                    break
                row = list(row)
                row[conv_i] = str(int(row[conv_i]) + copies * n_conv)
                for c in time_cols:
                    if row[c]:
                        row[c] = f"{float(row[c]) + shift:.3f}"
                a = acc[row[col["target"]]]
                a["scheduled"] += 1
                a[outcome_key[row[col["outcome"]]]] += 1
                w.writerow(row)
                written += 1
            copies += 1
    span_s = copies * window_ms / 1000.0
    meta["scenario"]["traffic"]["duration_s"] = span_s
    meta["elapsed_s"] = span_s
    meta["accounting"] = [
        {"target": t, "scheduled": a["scheduled"], "ok": a["ok"], "errors": a["errors"],
         "cancelled": a["cancelled"], "not_sent": a["not_sent"]}
        for t, a in sorted(acc.items())
    ]
    json.dump(meta, open(f"{out}/run.json", "w"), indent=2)
    print(f"{out}: {n} rows, {copies} copies of {len(pool)} rows over {span_s:.0f} s")


if __name__ == "__main__":
    main()
