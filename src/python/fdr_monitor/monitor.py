"""Monitor: one object around a PyTorch optimizer that writes stream v1
(docs/protocol.md) and obeys the FDR monitor's learning-rate requests.

    mon = Monitor(opt, out="stdout", meta={"run": "my-run", "batch_size": 64})
    for x, y in loader:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if not mon.step(loss=loss):      # instead of opt.step()
            break                        # the monitor asked the run to stop
    mon.close()

Conventions are those of the TensorFlow.js kit (src/trainer/sgd.ts) and of
docs/math.md §2: for torch.optim.SGD (no Nesterov, one η, μ, δ over all
groups) g_t = ∇f_B(θ_t) + λθ_t, buf_{t+1} = μ buf_t + (1 − δ) g_t,
θ_{t+1} = θ_t − η buf_{t+1}, and the step record carries the Yaida form (§3)
and the pathwise-identity fields (§4). Any other optimizer (Nesterov, Adam,
AdamW, RMSprop, groups with different η or μ …) gets the generic form (§4.5):
|θ|², θ·Δ, |Δ|², centred. Centres follow docs/protocol.md "Centres".
"""

import atexit
import math
import os
import time
import weakref

import torch

from .control import DEFAULT_MAX_LR_RATIO, STDIN_ENV, ControlQueue, set_lr_refusal
from .observables import DEFAULT_CHUNK_CPU, DEFAULT_CHUNK_CUDA, FlatLayout, Reducer
from .stream import PROTOCOL_VERSION, FileSink, format_line, open_sink

__all__ = ["Monitor"]

# Optimizers whose `weight_decay` is coupled L2 (added to the gradient): g_t includes λθ_t.
_COUPLED_WD = ("SGD", "Adam", "Adagrad", "Adamax", "RMSprop", "NAdam", "RAdam", "ASGD")


def _is_power_of_two(x):
    return x >= 1 and (x & (x - 1)) == 0


class _NullSink:
    name = "none"
    failure = None

    def write(self, line):
        pass

    def close(self):
        pass


class Monitor:
    """Wraps ``optimizer``; call :meth:`step` instead of ``optimizer.step()``.

    out           "stdout" (default), a file path (the control file is
                  ``<out>.control``), or ``ws://host:port/?token=…`` (a monitor
                  listening for trainers; control arrives on the same socket).
    meta          extra fields for the ``meta`` record (run, batch_size, dataset …).
    center_block  B: centre snapshots at segment-relative steps B·2^k (0 = none).
    fdr2_every    k: FDR2 fields every k steps when ``loss_fn`` and
                  ``sample_batch`` are given (0 = never).
    loss_fn       ``loss_fn(batch) -> scalar loss`` at the current parameters
                  (for FDR2: evaluated on a second, independent minibatch).
    sample_batch  ``sample_batch() -> batch``: a minibatch drawn independently
                  of the step's own.
    stdin_control read control from stdin: None = when the environment has
                  FDR_MONITOR_STDIN_CONTROL=1 (the monitor sets it when it
                  launched the script and writes to its stdin).
    max_lr_ratio  a set_lr further than this factor from η needs "force".
    sharded       under torch.distributed: each rank holds a slice of the
                  parameters; the per-rank dot products are summed. Without it
                  every rank holds all parameters (DDP) and rank 0 measures.
    """

    def __init__(self, optimizer, out="stdout", meta=None, *, center_block=256, fdr2_every=50, loss_fn=None,
                 sample_batch=None, first_step=0, stdin_control=None, max_lr_ratio=DEFAULT_MAX_LR_RATIO, token=None,
                 chunk=None, sharded=False, process_group=None):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError("Monitor wraps a torch.optim.Optimizer, got %r" % (type(optimizer).__name__,))
        if int(center_block) != center_block or center_block < 0:
            raise ValueError("center_block must be an integer >= 0, got %r" % (center_block,))
        if int(fdr2_every) != fdr2_every or fdr2_every < 0:
            raise ValueError("fdr2_every must be an integer >= 0, got %r" % (fdr2_every,))
        if (loss_fn is None) != (sample_batch is None):
            raise ValueError("FDR2 needs both loss_fn(batch) and sample_batch()")
        self.opt = optimizer
        self.center_block = int(center_block)
        self.loss_fn, self.sample_batch = loss_fn, sample_batch
        self.fdr2_every = int(fdr2_every) if loss_fn is not None else 0
        self.max_lr_ratio = max_lr_ratio
        self._chunk = chunk
        lr = self._lr_now()
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError("the optimizer's learning rate must be a finite number > 0, got %r" % (lr,))

        # torch.distributed: every rank steps; rank 0 writes and reads control.
        import torch.distributed as dist

        self._dist = dist if dist.is_available() and dist.is_initialized() and dist.get_world_size(process_group) > 1 else None
        self._group = process_group
        self.rank = dist.get_rank(process_group) if self._dist else 0
        self.world = dist.get_world_size(process_group) if self._dist else 1
        self.sharded = bool(sharded) and self._dist is not None
        if self.sharded:
            self.fdr2_every = 0  # the Hessian-vector product across shards is not implemented
        self._measures = self.rank == 0 or self.sharded

        self._step = int(first_step)
        self._first_step = self._step
        self._steps_run = 0
        self._lr = lr
        self._segment_start = self._step
        self._next_center_id = 1
        self._centers = []  # [(id, flat tensor)], oldest first, at most two
        self._layout = None
        self._fdr2_pending = None  # pathwise FDR2 state between _fdr2 and _fdr2_after (one step)
        self._reducer = None
        self._stop_reason = None
        self._finished = False
        self.control = ControlQueue()
        self.sink = _NullSink()

        self._form = self._describe()
        record = dict(type="meta", version=PROTOCOL_VERSION, optimizer=self._form["optimizer"],
                      observables=self._form["kind"])
        if self._form["kind"] == "sgd":
            record.update(momentum=self._form["momentum"], dampening=self._form["dampening"])
        record.update(weight_decay=self._form["weight_decay"], center_block=self.center_block,
                      fdr2_every=self.fdr2_every, params=self._count_params(),
                      backend="pytorch-" + self._device_type(), torch=torch.__version__)
        if self._dist:
            record.update(world_size=self.world, sharded=self.sharded)
        if self.rank == 0:
            on_control = self.control.push_line
            self.sink = open_sink(out, on_control=on_control, token=token)
            channels = []
            if stdin_control is None:
                stdin_control = os.environ.get(STDIN_ENV) == "1"
            if stdin_control:
                self.control.attach_stdin()
            if isinstance(self.sink, FileSink):
                record["control_file"] = self.control.attach_control_file(self.sink.path + ".control")
            if self.sink.__class__.__name__ == "WebSocketSink":
                self.control.channels.append("ws")
            channels = list(self.control.channels)
            record["control"] = channels
        record.update(meta or {})
        self._write(record)
        ref = weakref.ref(self)
        atexit.register(lambda: ref() is not None and ref().close("process exiting"))

    # -- public ------------------------------------------------------------------------------
    @property
    def lr(self):
        """η of the first parameter group (the stream's `lr`)."""
        return self._lr_now()

    @property
    def step_index(self):
        """Index of the next step."""
        return self._step

    @property
    def stop_requested(self):
        return self._stop_reason is not None

    def step(self, loss=None, closure=None):
        """Runs ``optimizer.step()`` and writes the step's records.

        loss: the minibatch loss at θ_t (a float or a 0-d tensor: a tensor is
        read back together with the observables, one host sync per step).
        Returns False once the monitor asked the run to stop (the optimizer
        still steps: end your loop).
        """
        if self._finished:
            self.opt.step(closure) if closure is not None else self.opt.step()
            return False
        t = self._step
        events = []
        lr = self._lr_now()
        if lr != self._lr:  # the script's own schedule changed η: a new segment (announced)
            self._new_segment(t)
            events.append(dict(type="event", event="lr_set", step=t, lr=lr, source="schedule"))
            self._lr = lr
        form = self._describe()
        if form != self._form:
            self._form = form
        values, fdr2 = self._measure_step(t, form, loss, closure, events)
        self._steps_run += 1
        self._step = t + 1
        decision = self._control_decision()
        values = self._reduce(values, decision)
        # The record is read with this step's centres, before a set_lr starts a new segment.
        record = self._record(t, lr, form, values, loss, fdr2) if self.rank == 0 else None
        answers = self._apply_decision(decision)
        if self.rank == 0:
            for ev in events:
                self._write(ev)
            self._write(record)
            for ev in answers:
                self._write(ev)
        if self._stop_reason is not None:
            self._finish(self._stop_reason)
            return False
        return True

    def log(self, event="eval", **scalars):
        """Extra scalars (test loss, accuracy …) as an event at the last step run:
        ``{"type":"event","event":"eval","step":S, …}`` (the TensorFlow.js kit's `eval`)."""
        if self.rank == 0 and not self._finished:
            self._write(dict(type="event", event=event, step=max(self._step - 1, self._first_step), lr=self._lr, **scalars))

    def close(self, reason="completed"):
        """Ends the stream with a `finished` event (idempotent)."""
        self._finish(reason)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close("completed" if exc_type is None else "error: %s" % (exc,))
        return False

    # -- the optimizer, as the stream describes it -------------------------------------------
    def _lr_now(self):
        return self.opt.param_groups[0]["lr"]

    def _device_type(self):
        for g in self.opt.param_groups:
            for p in g["params"]:
                return p.device.type
        return "cpu"

    def _count_params(self):
        return sum(p.numel() for g in self.opt.param_groups for p in g["params"])

    def _describe(self):
        """Which form of the stream this optimizer allows: the Yaida form for plain
        torch.optim.SGD with one (η, μ, δ), else the generic form."""
        opt, groups = self.opt, self.opt.param_groups
        name = type(opt).__name__
        wd0 = float(groups[0].get("weight_decay", 0.0) or 0.0)
        same = lambda k: len({g.get(k) for g in groups}) == 1
        if type(opt) is torch.optim.SGD and not any(g.get("nesterov") or g.get("maximize") for g in groups) \
                and same("lr") and same("momentum") and same("dampening"):
            mu = float(groups[0]["momentum"])
            return dict(kind="sgd", optimizer="sgd", momentum=mu, dampening=float(groups[0]["dampening"]) if mu else 0.0,
                        weight_decay=wd0)
        label = name.lower() + ("-nesterov" if name == "SGD" and any(g.get("nesterov") for g in groups) else "")
        return dict(kind="generic", optimizer=label, weight_decay=wd0)

    def _coupled_wd(self, group):
        return float(group.get("weight_decay", 0.0) or 0.0) if type(self.opt).__name__ in _COUPLED_WD else 0.0

    def _params_now(self):
        ps, wd = [], []
        for g in self.opt.param_groups:
            lam = self._coupled_wd(g)
            for p in g["params"]:
                if p.grad is not None:
                    ps.append(p)
                    wd.append(lam)
        return ps, wd

    def _ensure_layout(self, t):
        ps, wd = self._params_now()
        key = tuple(id(p) for p in ps) + tuple(wd)
        if self._layout is None or key != self._layout_key:
            if self._layout is not None:
                self._new_segment(t)  # a different parameter vector: old centres mean nothing
            dev = ps[0].device if ps else torch.device("cpu")
            chunk = self._chunk or (DEFAULT_CHUNK_CUDA if dev.type == "cuda" else DEFAULT_CHUNK_CPU)
            self._layout = FlatLayout(ps, wd, chunk)
            self._layout_key = key
            self._reducer = Reducer(self._layout)
        return self._layout

    # -- segments and centres (docs/protocol.md "Centres") ------------------------------------
    def _new_segment(self, t):
        self._segment_start = t
        self._centers = []

    def _maybe_snapshot(self, t):
        rel = t - self._segment_start
        B = self.center_block
        if B <= 0 or rel < B or rel % B or not _is_power_of_two(rel // B):
            return None
        cid = self._next_center_id
        self._next_center_id += 1
        reuse = self._centers.pop(0)[1] if len(self._centers) == 2 else None
        self._centers.append((cid, self._reducer.snapshot(reuse)))
        return dict(type="event", event="center", step=t, center=cid)

    # -- one step -----------------------------------------------------------------------------
    def _measure_step(self, t, form, loss, closure, events):
        """opt.step() between the two reduction passes; returns the device vector and whether FDR2 ran."""
        opt = self.opt
        if not self._measures:
            opt.step(closure) if closure is not None else opt.step()
            return self._loss_vector(loss), False
        lay = self._ensure_layout(t)
        ev = self._maybe_snapshot(t)
        if ev:
            events.append(ev)
        centers = [c for _, c in self._centers]
        sgd = form["kind"] == "sgd"
        mu = form.get("momentum", 0.0)
        bufs = None
        if sgd and mu != 0:
            bufs = [opt.state.get(p, {}).get("momentum_buffer") for p in lay.params]
            if all(b is None for b in bufs):
                bufs = None
        with torch.no_grad():
            pre = self._reducer.before_step([p.grad for p in lay.params], bufs, centers)
        fdr2 = self.fdr2_every > 0 and t % self.fdr2_every == 0
        f2 = self._fdr2(lay, form, bufs) if fdr2 else None
        opt.step(closure) if closure is not None else opt.step()
        with torch.no_grad():
            bufs_next = None
            if sgd and mu != 0:
                bufs_next = [opt.state.get(p, {}).get("momentum_buffer") for p in lay.params]
            post = self._reducer.after_step(bufs_next, centers)
        R = 1 + len(centers)
        parts = [self._loss_vector(loss), pre["param_sq"], pre["theta_dot_grad"],
                 pre["theta_dot_buf"] if pre["theta_dot_buf"] is not None else torch.zeros(R, dtype=torch.float64, device=lay.device),
                 post["theta_dot_update"], pre["grad_sq"].reshape(1), post["update_sq"].reshape(1),
                 (post["buf_sq"] if post["buf_sq"] is not None else pre["grad_sq"]).reshape(1)]
        if f2 is not None:
            parts.append(f2)
            if self._fdr2_pending is not None:
                parts.append(self._fdr2_after(lay))
        return torch.cat(parts), fdr2

    def _loss_vector(self, loss):
        dev = self._layout.device if self._layout is not None else torch.device("cpu")
        if isinstance(loss, torch.Tensor):
            return loss.detach().reshape(1).to(device=dev, dtype=torch.float64)
        return torch.tensor([float("nan") if loss is None else float(loss)], dtype=torch.float64, device=dev)

    def _fdr2(self, lay, form, bufs):
        """docs/math.md §6 at θ_t, before the update, on a second minibatch B2:
        grad_dot_grad2 = g_{B1}·g_{B2} (both with the coupled λθ), and for the SGD
        form buf_h_buf = v·(∇²f_{B2} + λI)·v with v = buf_{t+1} (torch's rule: on
        the first step buf_1 = g_0). H is taken on B2 so it is independent of v,
        which contains g_{B1}. Hessian-vector product by double backward."""
        params = lay.params
        sgd = form["kind"] == "sgd"
        mu, damp = form.get("momentum", 0.0), form.get("dampening", 0.0)
        lam = self._per_param_wd(lay)
        self._fdr2_pending = None
        batch2 = self.sample_batch()
        with torch.enable_grad():
            loss2 = self.loss_fn(batch2)
            g2 = torch.autograd.grad(loss2, params, create_graph=sgd, allow_unused=True)
            with torch.no_grad():
                g1 = [p.grad + l * p if l else p.grad for p, l in zip(params, lam)]
                gdg = sum(((a.double() * ((b.detach() if b is not None else torch.zeros_like(p)) + l * p).double()).sum()
                           for a, b, p, l in zip(g1, g2, params, lam)), torch.zeros((), dtype=torch.float64, device=lay.device))
            if not sgd:
                return gdg.reshape(1)
            with torch.no_grad():
                if bufs is None or mu == 0:
                    v = g1
                else:
                    v = [(mu * b + (1 - damp) * g) if b is not None else g.clone() for b, g in zip(bufs, g1)]
            gv = sum(((b * x).sum() for b, x in zip(g2, v) if b is not None), torch.zeros((), device=lay.device, dtype=params[0].dtype))
            hv = torch.autograd.grad(gv, params, allow_unused=True) if gv.requires_grad else [None] * len(params)
        with torch.no_grad():
            zero = torch.zeros((), dtype=torch.float64, device=lay.device)
            vhv = sum(((h.double() * x.double()).sum() for h, x in zip(hv, v) if h is not None), zero)
            vv = sum((l * (x.double() * x.double()).sum() for x, l in zip(v, lam) if l), zero)
            # Pathwise FDR2 (docs/math.md §6.2): what _fdr2_after needs once θ has moved to θ_t − ηv.
            tvl = sum((l * (p.double() * x.double()).sum() for p, x, l in zip(params, v, lam) if l), zero)
            self._fdr2_pending = dict(batch=batch2, v=[x.detach().clone() for x in v], loss2=loss2.detach().double(),
                                      gv=gv.detach().double(), tvl=tvl, vvl=vv, mu=mu)
        return torch.stack([gdg, vhv + vv])

    def _fdr2_after(self, lay):
        """docs/math.md §6.2, after the update, on the same B2, for F_{B2} = f_{B2} + (λ/2)|θ|²
        (θ_{t+1} = θ_t − ηv; the λ parts in float64 from λθ_t·v and λ|v|²):
        loss2_delta = f_{B2}(θ_{t+1}) − f_{B2}(θ_t) − η λθ_t·v + ½η² λ|v|²,
        grad2_dot_buf = ∇f_{B2}(θ_t)·v + λθ_t·v, and with momentum
        grad2_next_dot_buf = ∇f_{B2}(θ_{t+1})·v + λθ_t·v − η λ|v|² (a gradient; else a forward pass only)."""
        st, self._fdr2_pending = self._fdr2_pending, None
        params, v, lr = lay.params, st["v"], float(self._lr)
        zero = torch.zeros((), dtype=torch.float64, device=lay.device)
        if st["mu"] != 0:
            with torch.enable_grad():
                loss_next = self.loss_fn(st["batch"])
                gn = torch.autograd.grad(loss_next, params, allow_unused=True)
            with torch.no_grad():
                gnv = sum(((a.double() * x.double()).sum() for a, x in zip(gn, v) if a is not None), zero)
        else:
            with torch.no_grad():
                loss_next = self.loss_fn(st["batch"])
            gnv = torch.full((), float("nan"), dtype=torch.float64, device=lay.device)
        with torch.no_grad():
            tvl, vvl = st["tvl"], st["vvl"]
            delta = (loss_next.detach().double() - st["loss2"]) - lr * tvl + 0.5 * lr * lr * vvl
            return torch.stack([delta, st["gv"] + tvl, gnv + tvl - lr * vvl])

    @staticmethod
    def _per_param_wd(lay):
        out = []
        for (off, length, pieces), lam in zip(lay.chunks, lay.chunk_wd):
            for i, a, b, o in pieces:
                if len(out) <= i:
                    out.append(float(lam) if not isinstance(lam, torch.Tensor) else float(lam[o]))
        return out

    def _record(self, t, lr, form, v, loss, fdr2):
        """The step record from the read-back vector (layout of _measure_step)."""
        R = 1 + len(self._centers)
        sq, tg, tb, tu = 1, 1 + R, 1 + 2 * R, 1 + 3 * R
        n = 1 + 4 * R
        rec = dict(type="step", step=t, lr=lr)
        sgd = form["kind"] == "sgd"
        mu = form.get("momentum", 0.0)
        if sgd:
            rec.update(momentum=mu, dampening=form["dampening"])
        rec["weight_decay"] = form["weight_decay"]
        if loss is not None:
            rec["loss"] = v[0]
        rec.update(time=time.time(), param_sq=v[sq])
        if sgd:
            rec["theta_dot_grad"] = v[tg]
            if mu != 0:
                rec["theta_dot_buf"] = v[tb]
            rec["buf_sq"] = v[n + 2]
        rec.update(update_sq=v[n + 1], theta_dot_update=v[tu], grad_sq=v[n])
        if self._centers:
            cs = []
            for k, (cid, _) in enumerate(self._centers):
                c = dict(id=cid, param_sq=v[sq + 1 + k])
                if sgd:
                    c["theta_dot_grad"] = v[tg + 1 + k]
                    if mu != 0:
                        c["theta_dot_buf"] = v[tb + 1 + k]
                c["theta_dot_update"] = v[tu + 1 + k]
                cs.append(c)
            rec["centers"] = cs
        if fdr2:
            rec["grad_dot_grad2"] = v[n + 3]
            if sgd:
                rec["buf_h_buf"] = v[n + 4]
                rec["loss2_delta"] = v[n + 5]
                rec["grad2_dot_buf"] = v[n + 6]
                if mu != 0:
                    rec["grad2_next_dot_buf"] = v[n + 7]
        return rec

    # -- control ------------------------------------------------------------------------------
    def _control_decision(self):
        """Rank 0: validates what arrived; returns (events, new lr or None, stop reason or None)."""
        if self.rank != 0:
            return None
        items = self.control.drain()
        if not items:
            return None
        events, lr, stop = [], None, None
        current = self._lr
        for c in items:
            base = dict(type="event", step=self._step)
            if c.get("request") is not None:
                base["request"] = c["request"]
            if c["kind"] == "invalid":
                events.append(dict(base, event="error", reason=c["reason"], source=c["source"]))
            elif c["kind"] == "stop":
                stop = stop or c.get("reason") or "stop requested (%s)" % c["source"]
            elif stop is not None:
                events.append(dict(base, event="error", reason="run is ending (%s); request not applied" % stop, source=c["source"]))
            else:
                why = set_lr_refusal(c["lr"], current, c["force"], self.max_lr_ratio)
                if why:
                    events.append(dict(base, event="error", reason="set_lr refused: " + why, source=c["source"]))
                    continue
                current = lr = c["lr"]
                events.append(dict(base, event="lr_set", lr=lr, source="monitor", via=c["source"]))
        return events, lr, stop

    def _reduce(self, values, decision):
        """Under torch.distributed: one all-reduce per step carries the loss (averaged
        over ranks), the sharded partial dot products (summed) and rank 0's control
        decision, so every rank applies a set_lr or stop at the same step."""
        if self._dist is None:
            return values.tolist()
        dev = values.device
        ctl = torch.zeros(3, dtype=torch.float64, device=dev)
        if decision is not None:
            _, lr, stop = decision
            ctl[0] = 1.0 if lr is not None else 0.0
            ctl[1] = lr if lr is not None else 0.0
            ctl[2] = 1.0 if stop else 0.0
        if self.sharded:
            vec = values.clone()
            vec[0] /= self.world
        else:
            vec = values[:1] / self.world
        both = torch.cat([ctl, vec])
        self._dist.all_reduce(both, group=self._group)
        out = both.tolist()
        self._dist_ctl = out[:3]
        if self.sharded:
            return out[3:]
        if self.rank == 0:
            local = values.tolist()
            local[0] = out[3]
            return local
        return out[3:]

    def _apply_decision(self, decision):
        """Applies the (all-reduced) decision; returns rank 0's answers to write."""
        if self._dist is None and decision is None:
            return []
        if self._dist is not None:
            has_lr, lr, stop = self._dist_ctl
            events = decision[0] if decision is not None and self.rank == 0 else []
            lr = lr if has_lr else None
            stop_reason = (decision[2] if decision is not None and self.rank == 0 else None) or ("stop requested" if stop else None)
        else:
            events, lr, stop_reason = decision
        if lr is not None:
            self._set_lr(lr)
        if stop_reason:
            self._stop_reason = stop_reason
        return events

    def _set_lr(self, lr):
        """η ← lr for the first group; every group scaled by the same factor (ratios stay);
        a new segment from the next step."""
        groups = self.opt.param_groups
        factor = lr / groups[0]["lr"]
        for g in groups[1:]:
            g["lr"] = g["lr"] * factor
        groups[0]["lr"] = lr
        self._lr = lr
        self._new_segment(self._step)

    # -- output -------------------------------------------------------------------------------
    def _write(self, record):
        self.sink.write(format_line(record))

    def _finish(self, reason):
        if self._finished:
            return
        self._finished = True
        if self.rank == 0:
            self.control.close()
            self._write(dict(type="event", event="finished", step=max(self._step - 1, self._first_step),
                             steps=self._steps_run, reason=reason))
            self.sink.close()
