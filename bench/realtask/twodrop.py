"""
Two-drop schedules with the first drop fixed (bench/realtask/twodrop.sh), beside ReduceLROnPlateau and
Yaida (policies.sh runs): per net, the final test loss (mean ± sd over seeds) of the single drop at F and of
every second drop S, and how far the best of them is from the better peer (docs/decisions.md).

    python3 bench/realtask/twodrop.py --two DIR --policies DIR2[,DIR3…] --steps 12000 \
        --runs "cnn:0.5:1:3000 cnn:0.5:2:3000 cnn:0.5:3:3000" --grid 6000,9000,10000,11000,11500
"""

import argparse
import os
import statistics

from report import read, trajectory  # the .ev reader of the outcome tables (same folder)


def final(path, steps):
    """The test loss at the budget's end, or None when the file is missing or the run is short."""
    rows = read(path)
    evals = trajectory(rows, steps)[0] if rows else []
    return evals[-1]["test_loss"] if evals and evals[-1]["step"] == steps else None


def mean_sd(xs):
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--two", required=True)
    ap.add_argument("--policies", required=True, help="comma-separated directories with <name>.<policy>.ev")
    ap.add_argument("--steps", type=int, default=12000)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--grid", required=True)
    a = ap.parse_args()
    grid = [int(s) for s in a.grid.split(",") if s]
    pdirs = a.policies.split(",")
    nets = {}
    for r in a.runs.split():
        net, mu, seed, first = r.split(":")
        nets.setdefault((net, mu, int(first)), []).append("%s-m%s-s%s" % (net, mu, seed))
    print("| net | first drop | second drop | final test loss | seeds | vs ReduceLROnPlateau | vs Yaida |")
    print("|---|---|---|---|---|---|---|")
    for (net, mu, first), names in nets.items():
        peers = {}
        for p in ("plateau", "yaida"):
            xs = [v for v in (next((final(os.path.join(d, "%s.%s.ev" % (n, p)), a.steps) for d in pdirs
                                    if os.path.exists(os.path.join(d, "%s.%s.ev" % (n, p)))), None) for n in names)
                  if v is not None]
            peers[p] = statistics.mean(xs) if len(xs) == len(names) else None
        rows = [("–", [final(os.path.join(a.two, "%s.first%d.ev" % (n, first)), a.steps) for n in names])]
        rows += [(str(s), [final(os.path.join(a.two, "%s.first%d.ev.drop%d" % (n, first, s)), a.steps) for n in names])
                 for s in grid if s > first]
        for second, xs in rows:
            xs = [x for x in xs if x is not None]
            if not xs:
                continue
            m, sd = mean_sd(xs)
            rel = lambda p: "%+.1f%%" % (100 * (m / peers[p] - 1)) if peers[p] else "–"
            print("| %s μ=%s | %d | %s | %.4f ± %.4f | %d | %s | %s |" % (net, mu, first, second, m, sd, len(xs),
                                                                     rel("plateau"), rel("yaida")))


if __name__ == "__main__":
    main()
