#!/usr/bin/env python3
"""Run one command and measure it: wall time, user+sys CPU and max RSS (getrusage of the child), plus the same figures
at a mark (seconds after start) sampled from /proc every 50 ms, so the load phase of `cutover run` can be told apart
from the report it renders afterwards. Prints one JSON object on stdout; the command's own stdout/stderr go to files.

usage: measure.py --out FILE --err FILE [--mark S] -- cmd args...
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def proc_sample(pid):
    """(cpu seconds, rss bytes) of pid from /proc, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/status") as f:
            rss = next((int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:")), 0)
    except (OSError, StopIteration, IndexError):
        return None
    # fields[0] is state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / TICK, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--err", required=True)
    ap.add_argument("--mark", type=float, default=None)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    with open(a.out, "wb") as out, open(a.err, "wb") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err)
        mark_cpu = mark_rss = None
        peak_before_mark = 0
        while p.poll() is None:
            s = proc_sample(p.pid)
            now = time.monotonic() - t0
            if s is not None and (a.mark is None or now <= a.mark):
                mark_cpu = s[0]
                peak_before_mark = max(peak_before_mark, s[1])
            time.sleep(0.05)
        rc = p.returncode
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = {
        "rc": rc,
        "wall_s": round(wall, 3),
        "user_s": round(after.ru_utime - before.ru_utime, 3),
        "sys_s": round(after.ru_stime - before.ru_stime, 3),
        # ru_maxrss of children is the largest of any child so far: measure.py runs one command per process.
        "max_rss_kb": after.ru_maxrss,
    }
    res["cpu_s"] = round(res["user_s"] + res["sys_s"], 3)
    if a.mark is not None:
        res["mark_cpu_s"] = mark_cpu
        res["mark_rss_kb"] = peak_before_mark // 1024
    json.dump(res, sys.stdout)
    print()


if __name__ == "__main__":
    main()
