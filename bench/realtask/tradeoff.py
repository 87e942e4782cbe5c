"""
What the first drop alone decides (docs/decisions.md): for each rule's first
drop in an offline table (offline.ts with FDR_TABLE), the final test loss of a
single ×0.1 drop at that step, interpolated between the seed's single-drop
grid runs (<name>.ev.drop<S> of record.sh; before the first grid point: the
first, after the last: the last; never = the never-drop run <name>.ev).
Mean over the seeds of each net.

    python3 bench/realtask/tradeoff.py --table OFFLINE.md --streams DIR [--steps 12000]
"""

import argparse
import glob
import json
import os
import re
import statistics


def final(path, budget):
    ev = [r for r in (json.loads(l) for l in open(path) if l.strip()) if "test_loss" in r and r["step"] <= budget]
    return ev[-1]["test_loss"]


def interpolate(pts, x):
    if x <= pts[0][0]:
        return pts[0][1]
    if x >= pts[-1][0]:
        return pts[-1][1]
    for (a, ya), (b, yb) in zip(pts, pts[1:]):
        if a <= x <= b:
            return ya + (yb - ya) * (x - a) / (b - a)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", required=True)
    ap.add_argument("--streams", required=True)
    ap.add_argument("--steps", type=int, default=12000)
    a = ap.parse_args()
    lines = [l.strip() for l in open(a.table) if l.startswith("| ")]
    cols = [c.strip() for c in lines[0][2:-2].split(" | ")][2:]
    per = {}
    for l in lines[1:]:
        cells = [c.strip() for c in l[2:-2].split(" | ")]
        name = cells[0]
        net = name.rsplit("-s", 1)[0]
        pts = sorted((int(re.search(r"drop(\d+)$", p).group(1)), final(p, a.steps))
                     for p in glob.glob(os.path.join(a.streams, name + ".ev.drop*")))
        never = final(os.path.join(a.streams, name + ".ev"), a.steps)
        for c, v in zip(cols, cells[2:]):
            d = None if v == "never" or int(v) > a.steps else int(v)
            per.setdefault((net, c), []).append((d, never if d is None else interpolate(pts, d)))
    print("| net | rule | first drops (per seed) | single drop there: final test loss (est., mean) |")
    print("|---|---|---|---|")
    for (net, c), v in per.items():
        ds = ", ".join("never" if d is None else str(d) for d, _ in v)
        print("| %s | %s | %s | %.4f |" % (net, c.replace("|", " \\| "), ds, statistics.mean(y for _, y in v)))


if __name__ == "__main__":
    main()
