"""Cost of fdr_monitor against the bare training loop, in the same process (ratios, CPU).

    PYTHONPATH=src/python nice /usr/bin/python3 bench/torch/overhead.py [--steps N] [--rounds R]

Models: the MLP 784-200-200-10 (batch 100) and a small CNN (two 3×3 conv
layers, 28×28 inputs, batch 100); torch.optim.SGD μ 0.5, λ 0.01. Per model,
rounds alternate: bare loop (opt.step()), FDR1 + centres (Monitor, FDR2 off),
FDR1 + centres + FDR2 every 50 (Monitor with loss_fn). Each round runs N
steps per variant; the medians of the per-step times give the ratios. The
stream goes to /dev/null (a real pipe write per step, as in use). Memory: the
Monitor's own buffers (θ_t copy, centres, scratch) counted from its tensors.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "python"))
from fdr_monitor import Monitor  # noqa: E402


def mlp():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 200), torch.nn.ReLU(), torch.nn.Linear(200, 200),
                               torch.nn.ReLU(), torch.nn.Linear(200, 10))


def cnn():
    return torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                               torch.nn.Flatten(), torch.nn.Linear(16 * 7 * 7, 10))


def bench(name, make, steps, rounds, chunk=None):
    torch.manual_seed(0)
    model = make()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.5, weight_decay=0.01)
    crit = torch.nn.CrossEntropyLoss()
    X = torch.rand(2000, 1, 28, 28)
    Y = torch.randint(0, 10, (2000,))
    gen = torch.Generator().manual_seed(1)

    def batch():
        i = torch.randint(0, 2000, (100,), generator=gen)
        return X[i], Y[i]

    def loss_fn(b):
        return crit(model(b[0]), b[1])

    sink = open(os.devnull, "w")
    variants = {
        "bare": None,
        "fdr1+centres": dict(center_block=16),
        "fdr1+centres+fdr2/50": dict(center_block=16, loss_fn=loss_fn, sample_batch=batch, fdr2_every=50),
    }
    mons = {k: Monitor(opt, out=sink, chunk=chunk, **v) for k, v in variants.items() if v is not None}
    times = {k: [] for k in variants}
    for _ in range(3):  # warm-up
        for k in variants:
            opt.zero_grad()
            loss_fn(batch()).backward()
            mons[k].step(loss=0.0) if k in mons else opt.step()
    for _ in range(rounds):
        for k in variants:
            mon = mons.get(k)
            t0 = time.perf_counter()
            for _ in range(steps):
                opt.zero_grad()
                loss = loss_fn(batch())
                loss.backward()
                if mon is None:
                    opt.step()
                    loss.item()  # the bare loop reads its loss too
                else:
                    mon.step(loss=loss)
            times[k].append((time.perf_counter() - t0) / steps)
    base = statistics.median(times["bare"])
    n = sum(p.numel() for p in model.parameters())
    mon = mons["fdr1+centres"]
    kept = mon._reducer.theta_t.numel() + sum(c.numel() for _, c in mon._centers)
    scratch = mon._reducer.X.numel() * 2 + mon._reducer.P.numel() * 2 + mon._reducer.V.numel() * 2  # float64 = 2 float32
    out = dict(model=name, params=n, bare_ms=base * 1e3)
    for k in variants:
        if k != "bare":
            out[k] = statistics.median(times[k]) / base
    out["memory_kept_x_params"] = kept / n
    out["memory_scratch_x_params"] = scratch / n
    for m in mons.values():
        m.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=None, help="Monitor(chunk=…): elements per reduction chunk")
    ap.add_argument("--models", default="mlp,cnn", help="which models: mlp, cnn")
    a = ap.parse_args()
    print("torch %s, %d thread(s)" % (torch.__version__, torch.get_num_threads()))
    models = [(k, n, m) for k, n, m in (("mlp", "mlp 784-200-200-10", mlp), ("cnn", "cnn 2×conv3x3", cnn)) if k in a.models.split(",")]
    for _, name, make in models:
        r = bench(name, make, a.steps, a.rounds, a.chunk)
        # The FDR2 fields (two-batch + pathwise, docs/math.md §6.2) against bare training, amortised: aim ≤ 10%.
        r["fdr2_of_bare"] = r["fdr1+centres+fdr2/50"] - r["fdr1+centres"]
        print("%-20s %7d params  bare %.2f ms/step  FDR1+centres ×%.3f  +FDR2/50 ×%.3f  (FDR2 fields %+.1f%% of bare)"
              "  kept %.1f× params, scratch %.2f× params" % (
                  r["model"], r["params"], r["bare_ms"], r["fdr1+centres"], r["fdr1+centres+fdr2/50"],
                  100 * r["fdr2_of_bare"], r["memory_kept_x_params"], r["memory_scratch_x_params"]))
        print(json.dumps(r))


if __name__ == "__main__":
    main()
