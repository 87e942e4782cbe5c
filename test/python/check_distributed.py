"""fdr_monitor under torch.distributed: two CPU processes, gloo (run by test/python/distributed.test.ts).

ddp:     every rank holds the whole MLP (DistributedDataParallel); rank 0 writes
         the stream; a set_lr and a stop appended to rank 0's control file are
         applied by both ranks at the same step, with one acknowledgement.
sharded: each rank's optimizer holds half of a quadratic's parameter vector;
         the per-rank dot products are summed before rank 0 writes them.

Each rank writes what it saw (per step: its η, |θ_t|² of its own parameters)
to <dir>/rank<r>.json; the parent checks them against the stream and prints
"N passed, N failed".
"""

import json
import os
import sys
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from fdr_monitor import Monitor

from checks import run_checks

STEPS = 40
SET_AT, STOP_AT = 9, 25


def control(log, line):
    with open(log + ".control", "a") as f:
        f.write(json.dumps(line) + "\n")


def worker(rank, world, mode, d):
    dist.init_process_group("gloo", init_method="file://" + os.path.join(d, "store"), rank=rank, world_size=world)
    torch.manual_seed(0)
    log = os.path.join(d, "run.jsonl")
    seen = []
    if mode == "ddp":
        net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).double()
        model = torch.nn.parallel.DistributedDataParallel(net)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.5, weight_decay=0.01)
        gen = torch.Generator().manual_seed(100 + rank)  # each rank its own minibatches
        X, Y = torch.randn(200, 8, dtype=torch.float64, generator=gen), torch.randint(0, 3, (200,), generator=gen)
        crit = torch.nn.CrossEntropyLoss()

        def loss_fn(b):
            return crit(net(b[0]), b[1])

        def sample():
            i = torch.randint(0, 200, (20,), generator=gen)
            return X[i], Y[i]

        mon = Monitor(opt, out=log, center_block=4, loss_fn=loss_fn, sample_batch=sample, fdr2_every=5)

        def batch_loss():
            i = torch.randint(0, 200, (20,), generator=gen)
            return crit(model(X[i]), Y[i])
    else:
        d_all = 10
        h = torch.linspace(0.5, 2.0, d_all, dtype=torch.float64)
        lo, hi = (0, 4) if rank == 0 else (4, d_all)  # unequal slices
        theta = torch.nn.Parameter(torch.full((hi - lo,), 2.0, dtype=torch.float64))
        opt = torch.optim.SGD([theta], lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)
        gen = torch.Generator().manual_seed(7 + rank)
        mon = Monitor(opt, out=log, center_block=4, sharded=True)

        def batch_loss():
            xi = torch.randn(hi - lo, generator=gen, dtype=torch.float64)
            return 0.5 * (h[lo:hi] * theta ** 2).sum() + (xi * theta).sum()
    params = [p for g in opt.param_groups for p in g["params"]]
    for t in range(STEPS):
        if rank == 0 and t == SET_AT:
            control(log, dict(type="control", command="set_lr", lr=0.02, request="d1"))
        if rank == 0 and t == STOP_AT:
            control(log, dict(type="control", command="stop"))
        opt.zero_grad()
        loss = batch_loss()
        loss.backward()
        sq = float(sum((p.detach() ** 2).sum() for p in params))
        seen.append(dict(step=t, lr=opt.param_groups[0]["lr"], param_sq=sq, loss=loss.item()))
        if not mon.step(loss=loss):
            break
    mon.close()
    with open(os.path.join(d, "rank%d.json" % rank), "w") as f:
        json.dump(seen, f)
    dist.destroy_process_group()
    # torch 1.13: dropping the DDP model at return can deadlock (the reducer's destructor joins
    # gloo's worker thread while holding the GIL, and that thread waits for the GIL to free a
    # tensor; seen once in about ten suite runs under load). Everything is written: end here.
    sys.stdout.flush()
    os._exit(0)


def run(mode):
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(worker, args=(2, mode, d), nprocs=2, join=True)
        with open(os.path.join(d, "run.jsonl")) as f:
            recs = [json.loads(line) for line in f]
        ranks = []
        for r in range(2):
            with open(os.path.join(d, "rank%d.json" % r)) as f:
                ranks.append(json.load(f))
    return recs, ranks


def check_common(recs, ranks):
    st = [r for r in recs if r.get("type") == "step"]
    acks = [r for r in recs if r.get("event") == "lr_set"]
    # The request written before step SET_AT is read after that step: it takes effect at SET_AT + 1.
    assert len(acks) == 1 and acks[0]["step"] == SET_AT + 1 and acks[0]["lr"] == 0.02, acks
    for seen in ranks:
        assert [s["lr"] for s in seen] == [0.05] * (SET_AT + 1) + [0.02] * (len(seen) - SET_AT - 1), [s["lr"] for s in seen]
        assert len(seen) == STOP_AT + 1, "every rank stopped after step %d (ran %d)" % (STOP_AT, len(seen))
    assert [s["step"] for s in st] == list(range(STOP_AT + 1))
    fin = recs[-1]
    assert fin["event"] == "finished" and fin["step"] == STOP_AT, fin
    meta = recs[0]
    assert meta["world_size"] == 2 and meta["control"] == ["file"], meta
    # The stream's loss is the mean over ranks.
    for s in st:
        want = (ranks[0][s["step"]]["loss"] + ranks[1][s["step"]]["loss"]) / 2
        assert abs(s["loss"] - want) <= 1e-12 * abs(want), (s["loss"], want)
    return st


def identity(st, s, e, yaida=True):
    """docs/math.md §4 residuals over [s, e), relative to the summed absolute terms."""
    eta, mu, dmp = st[s]["lr"], st[s].get("momentum", 0.0), st[s].get("dampening", 0.0)
    olor = sum(st[t]["theta_dot_grad"] - eta / 2 * (1 + mu) / (1 - dmp) * st[t]["buf_sq"] for t in range(s, e))
    scale = sum(abs(st[t]["theta_dot_grad"]) + eta / 2 * (1 + mu) / (1 - dmp) * st[t]["buf_sq"] for t in range(s, e))
    a = lambda i: st[i]["param_sq"]
    b = lambda i: st[i].get("theta_dot_buf", 0.0)
    boundary = (-(1 - mu) * (a(e) - a(s)) / (2 * eta) + mu * (b(e) - b(s))) / (1 - dmp)
    gen = sum(st[t]["theta_dot_update"] + 0.5 * st[t]["update_sq"] for t in range(s, e)) - 0.5 * (a(e) - a(s))
    return abs(olor - boundary) / scale, abs(gen) / scale


def ddp():
    recs, ranks = run("ddp")
    st = check_common(recs, ranks)
    assert recs[0]["sharded"] is False
    for s in st:  # rank 0 measured; both ranks hold the same θ
        for seen in ranks:
            want = seen[s["step"]]["param_sq"]
            assert abs(s["param_sq"] - want) <= 1e-12 * want, (s["step"], s["param_sq"], want)
    assert [s["step"] for s in st if "buf_h_buf" in s] == [0, 5, 10, 15, 20, 25]
    y, g = identity(st, 1, SET_AT + 1)
    assert y < 1e-10 and g < 1e-10, (y, g)


def sharded():
    recs, ranks = run("sharded")
    st = check_common(recs, ranks)
    assert recs[0]["sharded"] is True and recs[0]["params"] == 4, "meta params is this rank's slice: %r" % recs[0]["params"]
    for s in st:  # the partial dot products of the two slices, summed
        want = ranks[0][s["step"]]["param_sq"] + ranks[1][s["step"]]["param_sq"]
        assert abs(s["param_sq"] - want) <= 1e-12 * want, (s["step"], s["param_sq"], want)
    assert any("centers" in s for s in st)
    for s, e in ((1, SET_AT + 1), (SET_AT + 1, STOP_AT)):
        y, g = identity(st, s, e)
        assert y < 1e-10 and g < 1e-10, (s, e, y, g)


def main():
    return run_checks((ddp, sharded))


if __name__ == "__main__":
    sys.exit(main())
