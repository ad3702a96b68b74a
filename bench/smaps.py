#!/usr/bin/env python3
"""Breaks a process's /proc/PID/smaps down by mapping: one row per mapped file (all its segments
summed), the heap, and anonymous mappings (malloc arenas, thread stacks), biggest Rss first; then
the threads by name. Figures in KiB. docs/benchmarks.md, "Where tetherd's memory goes".

    sudo bench/smaps.py PID [--top=N]
"""
import collections
import os
import sys


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    pid = sys.argv[1]
    top = 40
    for a in sys.argv[2:]:
        if a.startswith("--top="):
            top = int(a.split("=", 1)[1])
    rows = collections.OrderedDict()
    cur = None
    keys = ("Rss", "Pss", "Private_Dirty", "Anonymous", "Size")
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                name = parts[5] if len(parts) > 5 else ""
                perms = parts[1]
                if not name:
                    # Heap arenas, thread stacks (8 MiB each) and other anonymous memory; their
                    # ---p parts (guard pages, reserved arena space) are never resident.
                    name = "[anon guard]" if perms == "---p" else "[anon]"
                base = os.path.basename(name) if name.startswith("/") else name
                cur = rows.setdefault(base, collections.Counter())
                cur["maps"] += 1
                continue
            if parts[0].rstrip(":") in keys:
                cur[parts[0].rstrip(":")] += int(parts[1])
    total = collections.Counter()
    for c in rows.values():
        total.update(c)
    order = sorted(rows.items(), key=lambda kv: -kv[1]["Rss"])
    print(f"{'mapping':44} {'maps':>4} {'Size':>8} {'Rss':>7} {'Pss':>7} {'PrivDirty':>9} {'Anon':>7}")
    rest = collections.Counter()
    for i, (name, c) in enumerate(order):
        if i >= top:
            rest.update(c)
            continue
        print(f"{name[:44]:44} {c['maps']:4} {c['Size']:8} {c['Rss']:7} {c['Pss']:7} "
              f"{c['Private_Dirty']:9} {c['Anonymous']:7}")
    if rest:
        print(f"{'(%d others)' % (len(order) - top):44} {rest['maps']:4} {rest['Size']:8} "
              f"{rest['Rss']:7} {rest['Pss']:7} {rest['Private_Dirty']:9} {rest['Anonymous']:7}")
    print(f"{'TOTAL':44} {total['maps']:4} {total['Size']:8} {total['Rss']:7} {total['Pss']:7} "
          f"{total['Private_Dirty']:9} {total['Anonymous']:7}")
    libs = sum(1 for n in rows if ".so" in n)
    tids = sorted(os.listdir(f"/proc/{pid}/task"), key=int)
    print(f"shared objects: {libs}; threads: {len(tids)}")
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            comm = "?"
        print(f"  thread {tid} {comm}")


if __name__ == "__main__":
    main()
