#!/usr/bin/env python3
"""Summarise `perf script` output (cpu-clock samples with call graphs) into where the time goes: self time by leaf
category (kernel/syscalls, malloc/free, memcpy/memmove, ...) and inclusive time by component (every sample whose
stack contains a frame of that component), as percentages of all samples.

usage: perf script -i perf.data | perfsum.py
"""
import re
import sys
from collections import Counter

LEAF = [  # first match wins, on the leaf frame (symbol, dso)
    ("kernel (syscalls, network stack, scheduler)", lambda s, d: "kernel" in d),
    ("malloc/free/realloc", lambda s, d: re.search(r"malloc|free|realloc|unlink_chunk|memalign|__rust_(alloc|dealloc|realloc)", s)),
    ("memcpy/memmove/memset", lambda s, d: re.search(r"mem(cpy|move|set)", s)),
    ("memcmp/strlen", lambda s, d: re.search(r"memcmp|strlen|bcmp", s)),
    ("tokio runtime", lambda s, d: s.startswith("tokio::") or "tokio::runtime" in s),
    ("hyper/reqwest/http", lambda s, d: re.match(r"<?(hyper|hyper_util|reqwest|http|h2|httparse|url|tower)", s)),
    ("csv/serde/ryu/itoa", lambda s, d: re.match(r"<?(&mut )?(csv|serde|ryu|itoa|core::num::dec2flt)", s)),
    ("cutover code", lambda s, d: "cutover::" in s),
]
COMPONENTS = [  # inclusive: any frame matching
    ("sink: requests.csv writer (sink::write_records)", r"cutover::sink::write_records"),
    ("csv serialization (csv::*serializ*)", r"csv::serializer|csv::writer"),
    ("runner::request (incl. HTTP send)", r"cutover::runner::request"),
    ("runner::conversation", r"cutover::runner::conversation"),
    ("runner dispatcher (runner::run closure: spawn, sleep_until, reap)", r"cutover::runner::run::\{\{closure\}\}::\{\{closure\}\}$"),
    ("runner::not_sent_conversation", r"not_sent_conversation"),
    ("runner::base_record", r"base_record"),
    ("runner::emit (mpsc send)", r"cutover::runner::emit"),
    ("protocol::Endpoint::openai_turn (body JSON, parse)", r"openai_turn"),
    ("serde_json (request build + response parse)", r"serde_json::"),
    ("reqwest", r"reqwest::"),
    ("hyper / hyper_util", r"hyper(_util)?::"),
    ("tokio JoinSet / spawn", r"JoinSet|task::spawn"),
    # Not tokio::time::Timeout: its poll wraps the whole request future.
    ("tokio timer wheel (register, fire, reregister)", r"tokio::runtime::time::|TimerEntry|tokio::time::sleep::Sleep::new"),
    ("memcpy/memmove, all callers (large futures moved by spawn and take_output)", r"^__mem(cpy|move)_.*"),
    ("governor rate limiter", r"governor::"),
    ("syscall entry (entry_SYSCALL_64)", r"entry_SYSCALL_64"),
    ("writev/sendmsg/write (tcp send)", r"^(ksys_write|do_writev|vfs_writev|__sys_sendto|__sys_sendmsg)$"),
    ("recvfrom/read (tcp receive)", r"^(__sys_recvfrom|ksys_read|__sys_recvmsg)$"),
    ("epoll_wait", r"epoll_wait"),
    ("page faults (first touch of new heap pages)", r"^asm_exc_page_fault$"),
    ("futex (thread wake/park)", r"futex"),
]


def samples(stream):
    frames = []
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if frames:
                yield frames
            frames = []
            continue
        if line.startswith("\t") or line.startswith(" "):
            m = re.match(r"\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)$", line)
            if m:
                sym = re.sub(r"\+0x[0-9a-f]+$", "", m.group(1))
                frames.append((sym, m.group(2)))
    if frames:
        yield frames


def main():
    leaf = Counter()
    comp = Counter()
    n = 0
    for frames in samples(sys.stdin):
        n += 1
        s = frames[0][0]
        # An inlined leaf names the inlined function; its library is that of the first real frame below it.
        d = next((fd for _, fd in frames if fd != "inlined"), "")
        for name, f in LEAF:
            if f(s, d):
                leaf[name] += 1
                break
        else:
            m = re.match(r"<?(?:&mut |&)?([A-Za-z_][A-Za-z0-9_]*)::", s)
            leaf["other: " + (m.group(1) if m else d.rsplit("/", 1)[-1])] += 1
        for name, rx in COMPONENTS:
            if any(re.search(rx, fs) for fs, _ in frames):
                comp[name] += 1
    print(f"{n} samples\n\nSelf time by leaf frame:")
    for k, v in leaf.most_common():
        print(f"  {100 * v / n:5.1f}%  {k}")
    print("\nInclusive time by component (stack contains):")
    for k, _ in COMPONENTS:
        print(f"  {100 * comp[k] / n:5.1f}%  {k}")


if __name__ == "__main__":
    main()
