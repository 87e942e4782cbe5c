#!/usr/bin/env python3
"""
A noisy quadratic trained by hand-written SGD (PyTorch's torch.optim.SGD rules,
in pure Python), streaming every FDR observable with fdr_stream.py.

It is the runnable twin of the PyTorch snippet in docs/python/README.md: the
same conventions (coupled weight decay inside d_p, the momentum buffer updated
before the parameters, the first buffer = d_p without dampening), the same
observables, computed the same way — only with lists instead of tensors, so it
runs with nothing but python3:

    python3 docs/python/example_quadratic.py --steps 20000 | npx fdr-monitor analyze -

Model (fdr-math.md §7): f(θ) = ½ Σ h_i (θ_i − θ*_i)², minibatch gradient
∇f_B(θ) = H(θ − θ*) + σ ξ with ξ standard normal, h_i log-spaced in
[hmin, hmax], θ* = offset·(1, …, 1).
"""

import argparse
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fdr_stream import CenterSchedule, FdrStream  # noqa: E402


def dot(a, b):
    return math.fsum(x * y for x, y in zip(a, b))


def sub(a, b):
    return [x - y for x, y in zip(a, b)]


def sgd_step(params, grad, state, lr, momentum, dampening, weight_decay):
    """torch.optim.SGD.step() for one parameter vector (nesterov=False).

    Returns (d_p, new_params): d_p is the gradient with weight decay coupled in,
    g_t of fdr-math.md §2. The momentum buffer in `state` is updated in place of
    torch's state["momentum_buffer"].
    """
    d_p = [g + weight_decay * p for g, p in zip(grad, params)] if weight_decay != 0 else list(grad)
    step_dir = d_p
    if momentum != 0:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = list(d_p)  # torch: the first buffer is a copy of d_p, no (1 − dampening)
            state["momentum_buffer"] = buf
        else:
            # In place, as torch does (buf.mul_(μ).add_(d_p, alpha=1 − δ)): a reference to
            # the buffer taken before the step sees buf_{t+1} after it.
            buf[:] = [momentum * b + (1 - dampening) * d for b, d in zip(buf, d_p)]
        step_dir = buf
    return d_p, [p - lr * s for p, s in zip(params, step_dir)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--hmin", type=float, default=0.5)
    ap.add_argument("--hmax", type=float, default=2.0)
    ap.add_argument("--offset", type=float, default=0.0, help="θ* = offset·(1,…,1)")
    ap.add_argument("--sigma", type=float, default=1.0, help="gradient noise scale")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--dampening", type=float, default=0.0)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--init-distance", type=float, default=0.0, help="start at θ* + this·(1,…,1)/√dim")
    ap.add_argument("--burn-in", type=int, default=0, help="steps run before the stream starts")
    ap.add_argument("--steps", type=int, default=20000, help="0 = until the monitor sends stop")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--center-block", type=int, default=256, help="0 = no centred observables")
    ap.add_argument("--out", help="write the stream to this file instead of stdout")
    ap.add_argument("--control", choices=["stdin", "file"], help="accept set_lr/stop from the monitor")
    ap.add_argument("--control-file", help='with --control file (default: <out>.control)')
    ap.add_argument("--sleep", type=float, default=0.0, help="seconds to wait after each step (live demo)")
    a = ap.parse_args(argv)

    rng = random.Random(a.seed)
    d = a.dim
    h = [a.hmin * (a.hmax / a.hmin) ** (i / max(d - 1, 1)) for i in range(d)]
    theta_star = [a.offset] * d
    theta = [ts + a.init_distance / math.sqrt(d) for ts in theta_star]
    state = {}
    lr = a.lr
    # torch ignores dampening without momentum; report what is in effect.
    dampening = a.dampening if a.momentum != 0 else 0.0

    def minibatch_grad(p):
        return [hi * (pi - si) + a.sigma * rng.gauss(0.0, 1.0) for hi, pi, si in zip(h, p, theta_star)]

    for _ in range(a.burn_in):
        _, theta = sgd_step(theta, minibatch_grad(theta), state, lr, a.momentum, dampening, a.weight_decay)

    stream = FdrStream(path=a.out, control=a.control, control_file=a.control_file) if a.out else FdrStream(
        control=a.control, control_file=a.control_file)
    meta = dict(run="python-quadratic", optimizer="sgd", params=d, dataset="noisy quadratic",
                backend="python", lr=lr, momentum=a.momentum, dampening=dampening,
                weight_decay=a.weight_decay)
    if a.center_block:
        meta["center_block"] = a.center_block
    stream.meta(**meta)

    sched = CenterSchedule(a.center_block) if a.center_block else None
    snapshots = {}
    step = 0
    while a.steps == 0 or step < a.steps:
        ctl = stream.poll_control(step, lr)
        if ctl.stop:
            break
        if ctl.lr is not None:
            lr = ctl.lr
        if sched is not None:
            new_id = sched.at_step(step, lr)
            if new_id is not None:
                snapshots[new_id] = list(theta)  # c = θ_S, before this step's update
                stream.event("center", step=step, center=new_id)
            active = sched.active()
            for cid in list(snapshots):
                if cid not in active:
                    del snapshots[cid]

        # --- the few lines that README.md shows for torch.optim.SGD ---
        grad = minibatch_grad(theta)  # p.grad after loss.backward()
        buf_t = state.get("momentum_buffer") or [0.0] * d  # buf_t (zero before the first step)
        loss = 0.5 * math.fsum(hi * (pi - si) ** 2 for hi, pi, si in zip(h, theta, theta_star))
        xs = {cid: sub(theta, c) for cid, c in sorted(snapshots.items())}  # θ_t − c, computed directly
        # The step updates the buffer in place: take buf_t's dot products before it.
        theta_dot_buf = dot(theta, buf_t)
        centred_dot_buf = {cid: dot(x, buf_t) for cid, x in xs.items()}
        d_p, theta_next = sgd_step(theta, grad, state, lr, a.momentum, dampening, a.weight_decay)
        buf_after = state["momentum_buffer"] if a.momentum != 0 else d_p  # buf_{t+1}
        update = sub(theta_next, theta)

        rec = dict(
            loss=loss,
            momentum=a.momentum,
            dampening=dampening,
            weight_decay=a.weight_decay,
            theta_dot_grad=dot(theta, d_p),
            buf_sq=dot(buf_after, buf_after),
            param_sq=dot(theta, theta),
            theta_dot_buf=theta_dot_buf,
            update_sq=dot(update, update),
            theta_dot_update=dot(theta, update),
            grad_sq=dot(d_p, d_p),
            time=time.time(),
        )
        if xs:  # never |θ|² − 2c·θ + |c|², which cancels catastrophically
            rec["centers"] = [dict(id=cid, param_sq=dot(x, x), theta_dot_grad=dot(x, d_p),
                                   theta_dot_buf=centred_dot_buf[cid], theta_dot_update=dot(x, update))
                              for cid, x in xs.items()]
        stream.step(step, lr, **rec)
        # ---------------------------------------------------------------

        theta = theta_next
        step += 1
        if a.sleep:
            time.sleep(a.sleep)
    stream.finish(step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
