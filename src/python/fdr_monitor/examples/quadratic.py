"""A noisy quadratic (docs/math.md §7) trained by a torch optimizer under a Monitor.

    PYTHONPATH=src/python /usr/bin/python3 -m fdr_monitor.examples.quadratic --steps 20000 | fdr-monitor analyze -

Model: f_B(θ) = ½ Σ h_i (θ_i − θ*_i)² + σ ξ·θ with ξ standard normal per
minibatch, so ∇f_B = H(θ − θ*) + σξ and the Hessian is exactly H = diag(h)
(h log-spaced in [hmin, hmax], θ* = offset·(1, …, 1)). Small, exact and fast:
the tests use it to check the observables against a float64 recomputation,
FDR2 against the exact Hessian, and the control paths.
"""

import argparse
import math
import sys
import time

import torch

from fdr_monitor import Monitor

OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw", "rmsprop")


def make_optimizer(name, params, lr, momentum, dampening, weight_decay):
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay)
    if name == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=momentum or 0.9, nesterov=True, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--groups", type=int, default=1, help="split θ into this many parameter tensors (one group each)")
    ap.add_argument("--hmin", type=float, default=0.5)
    ap.add_argument("--hmax", type=float, default=2.0)
    ap.add_argument("--offset", type=float, default=0.0, help="θ* = offset·(1,…,1)")
    ap.add_argument("--sigma", type=float, default=1.0, help="gradient noise scale")
    ap.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--dampening", type=float, default=0.0)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    ap.add_argument("--init-distance", type=float, default=0.0, help="start at θ* + this·(1,…,1)/√dim")
    ap.add_argument("--burn-in", type=int, default=0, help="steps run before the stream starts")
    ap.add_argument("--steps", type=int, default=20000, help="0 = until the monitor sends stop")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--center-block", type=int, default=256, help="0 = no centred observables")
    ap.add_argument("--fdr2-every", type=int, default=50, help="0 = no FDR2 fields")
    ap.add_argument("--out", default="stdout", help="stdout, a file (control: <file>.control) or ws://…")
    ap.add_argument("--sleep", type=float, default=0.0, help="seconds to wait after each step (live demo)")
    a = ap.parse_args(argv)

    torch.manual_seed(a.seed)
    dtype = getattr(torch, a.dtype)
    d = a.dim
    h = torch.tensor([a.hmin * (a.hmax / a.hmin) ** (i / max(d - 1, 1)) for i in range(d)], dtype=dtype)
    star = torch.full((d,), a.offset, dtype=dtype)
    start = star + a.init_distance / math.sqrt(d)
    cuts = torch.linspace(0, d, a.groups + 1).round().long().tolist()
    params = [torch.nn.Parameter(start[cuts[k]:cuts[k + 1]].clone()) for k in range(a.groups)]
    groups = [dict(params=[p]) for p in params]
    opt = make_optimizer(a.optimizer, groups, a.lr, a.momentum, a.dampening, a.weight_decay)
    gen = torch.Generator().manual_seed(a.seed + 1)

    def noise():
        return torch.randn(d, generator=gen, dtype=dtype)

    def loss_fn(xi):
        theta = torch.cat(params)
        return 0.5 * (h * (theta - star) ** 2).sum() + a.sigma * (xi * theta).sum()

    def train_step():
        opt.zero_grad()
        loss = loss_fn(noise())
        loss.backward()
        return loss

    for _ in range(a.burn_in):
        train_step()
        opt.step()

    meta = dict(run="python-quadratic", dataset="noisy quadratic", dim=d, hmin=a.hmin, hmax=a.hmax,
                offset=a.offset, sigma=a.sigma)
    mon = Monitor(opt, out=a.out, meta=meta, center_block=a.center_block, fdr2_every=a.fdr2_every,
                  loss_fn=loss_fn if a.fdr2_every else None, sample_batch=noise if a.fdr2_every else None)
    step = 0
    while a.steps == 0 or step < a.steps:
        loss = train_step()
        if not mon.step(loss=loss):
            break
        step += 1
        if a.sleep:
            time.sleep(a.sleep)
    mon.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
