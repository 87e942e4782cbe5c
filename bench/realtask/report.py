"""
Outcome table of the real-network harness (docs/decisions.md): per net and
policy, the first-drop step, the final test loss and accuracy (mean ± sd over
seeds) and the first step at which the test loss is within 2% of the best
policy's final value (per seed; mean over seeds).

    python3 bench/realtask/report.py --streams DIR --policies DIR --steps 12000 \
        --runs "mlp:0.5:1 mlp:0.5:2 mlp:0.5:3" [--grid 2000,4000,6000,9000]

never and the single-drop grid come from record.sh (<name>.ev, <name>.ev.drop<S>),
Yaida / plateau / monitor from policies.sh (<name>.<policy>.ev).
"""

import argparse
import json
import os
import statistics


def read(path):
    if not os.path.exists(path):
        return None
    rows = [json.loads(l) for l in open(path) if l.strip()]
    return rows


def trajectory(rows, budget):
    evals = [r for r in rows if "test_loss" in r and r["step"] <= budget]
    drops = [r["step"] for r in rows if r.get("event") == "lr_change" and r["step"] <= budget]
    return evals, drops


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", required=True)
    ap.add_argument("--policies", required=True)
    ap.add_argument("--steps", type=int, default=12000)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--grid", default="2000,4000,6000,9000")
    a = ap.parse_args()
    grid = [int(s) for s in a.grid.split(",") if s]
    by_net = {}
    for r in a.runs.split():
        net, mu, seed = r.split(":")
        by_net.setdefault("%s μ=%s" % (net, mu), []).append("%s-m%s-s%s" % (net, mu, seed))
    for net, names in by_net.items():
        per = {}  # policy -> list of (first drop, final loss, final acc, evals)
        for name in names:
            never = read(os.path.join(a.streams, name + ".ev"))
            if never is None:
                continue
            ne, _ = trajectory(never, a.steps)
            if not ne or ne[-1]["step"] != a.steps:
                continue
            runs = {"never": (None, ne)}
            for s in grid:
                b = read(os.path.join(a.streams, "%s.ev.drop%d" % (name, s)))
                if b is None:
                    continue
                be, _ = trajectory(b, a.steps)
                runs["drop@%d" % s] = (s, [e for e in ne if e["step"] < s] + be)
            for p in ("yaida", "plateau", "monitor", "monitor-budget", "monitor-last"):
                rows = read(os.path.join(a.policies, "%s.%s.ev" % (name, p)))
                if rows is None:
                    continue
                pe, pd = trajectory(rows, a.steps)
                if not pe or pe[-1]["step"] != a.steps:
                    continue
                runs[p] = (pd[0] if pd else None, pe, pd)
            best = min(r[1][-1]["test_loss"] for r in runs.values())
            for k, r in runs.items():
                ev = r[1]
                within = next((e["step"] for e in ev if e["test_loss"] <= 1.02 * best), None)
                drops = r[2] if len(r) > 2 else ([r[0]] if r[0] is not None else [])
                per.setdefault(k, []).append((r[0], ev[-1]["test_loss"], ev[-1]["test_acc"], within, drops))
        print("\n### %s, %d steps (%d seeds: %s)\n" % (net, a.steps, len(names), ", ".join(names)))
        print("| policy | drops (per seed; the first is the first drop) | final test loss | final test acc | steps to within 2% of the seed's best final |")
        print("|---|---|---|---|---|")

        def ms(xs, f):
            n = len(xs)
            xs = [x for x in xs if x is not None]
            if not xs:
                return "never"
            out = f % xs[0] if len(xs) == 1 else (f + " ± " + f) % (statistics.mean(xs), statistics.stdev(xs))
            return out if len(xs) == n else "%s (%d of %d seeds; the others never)" % (out, len(xs), n)

        order = ["never"] + ["drop@%d" % s for s in grid] + ["yaida", "plateau", "monitor", "monitor-budget", "monitor-last"]
        grid_means = {k: statistics.mean(x[1] for x in per[k]) for k in per if k.startswith("drop@")}
        oracle = min(grid_means, key=grid_means.get) if grid_means else None
        for k in order:
            if k not in per:
                continue
            v = per[k]
            label = {"yaida": "Yaida (every 1000 steps, \\|OL/OR − 1\\| < 0.01)", "plateau": "ReduceLROnPlateau (torch defaults)",
                     "monitor": "monitor advice (`watch --auto-apply`)",
                     "monitor-budget": "monitor advice, budget stated (`total_steps`)",
                     "monitor-last": "monitor advice, budget stated, last call (`--last-call 500`)"}.get(k, k)
            if k == oracle:
                label += " (oracle: best grid)"
            alld = "; ".join(", ".join(str(d) for d in x[4]) or "none" for x in v)
            print("| %s | %s | %s | %s | %s |" % (label, alld, ms([x[1] for x in v], "%.4f"), ms([x[2] for x in v], "%.4f"),
                                                ms([x[3] for x in v], "%.0f")))


if __name__ == "__main__":
    main()
