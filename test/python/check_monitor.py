"""Python-side checks of fdr_monitor against real torch (run by test/python/monitor.test.ts).

Every observable of every step is recomputed independently in float64 from
copies of θ_t, the gradient, the momentum buffer and θ_{t+1} taken around the
Monitor's step, and compared; FDR2 is checked against the exact Hessian of a
quadratic; multi-group learning-rate requests, parameters without gradients
and the script's own schedule are checked on the stream.

Prints one line per check and, last, "N passed, N failed"; exits 1 on any failure.
"""

import io
import json
import math
import os
import sys
import tempfile

import torch

from fdr_monitor import Monitor

from checks import run_checks

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def records(buf):
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def steps_of(recs):
    return [r for r in recs if r.get("type") == "step"]


def close(got, want, scale, rel=1e-12, what=""):
    """|got − want| ≤ rel·scale, scale = the sum of |terms| of the dot product (its rounding scale)."""
    if not (abs(got - want) <= rel * scale + 1e-300):
        raise AssertionError("%s: got %r, want %r (scale %r)" % (what, got, want, scale))


def dot(a, b):
    return float((a * b).sum()), float((a * b).abs().sum())


def flat64(ts):
    return torch.cat([t.detach().reshape(-1).double() for t in ts])


class Recorder:
    """Wraps a training loop: copies θ_t, g_t (with coupled λθ), buf_t before mon.step and θ_{t+1}, buf_{t+1} after."""

    def __init__(self, opt, params, coupled_wd):
        self.opt, self.params, self.wd = opt, params, coupled_wd
        self.rows = []

    def before(self):
        p = self.params
        th = flat64(p)
        g = torch.cat([(q.grad.detach().double() + lam * q.detach().double()).reshape(-1) for q, lam in zip(p, self.wd)])
        bufs = [self.opt.state.get(q, {}).get("momentum_buffer") for q in p]
        b = flat64([bb if bb is not None else torch.zeros_like(q) for bb, q in zip(bufs, p)])
        self.rows.append(dict(theta=th, g=g, buf=b))

    def after(self):
        p = self.params
        r = self.rows[-1]
        r["theta_next"] = flat64(p)
        bufs = [self.opt.state.get(q, {}).get("momentum_buffer") for q in p]
        r["buf_next"] = flat64(bufs) if all(b is not None for b in bufs) else None


def expected(row, centers, sgd, mu):
    th, g, buf, th1 = row["theta"], row["g"], row["buf"], row["theta_next"]
    d = th1 - th
    out = dict(param_sq=dot(th, th), update_sq=dot(d, d), theta_dot_update=dot(th, d), grad_sq=dot(g, g))
    if sgd:
        out["theta_dot_grad"] = dot(th, g)
        q = row["buf_next"] if mu != 0 else g
        out["buf_sq"] = dot(q, q)
        if mu != 0:
            out["theta_dot_buf"] = dot(th, buf)
    cs = []
    for cid, c in centers:
        x = th - c
        e = dict(id=cid, param_sq=dot(x, x), theta_dot_update=dot(x, d))
        if sgd:
            e["theta_dot_grad"] = dot(x, g)
            if mu != 0:
                e["theta_dot_buf"] = dot(x, buf)
        cs.append(e)
    return out, cs


def compare_stream(recs, rec_rows, sgd, mu, what):
    st = steps_of(recs)
    assert len(st) == len(rec_rows), "%s: %d step records for %d steps" % (what, len(st), len(rec_rows))
    centers = {}  # id → θ at its snapshot step (float64)
    live = []
    snap_at = {r["step"]: r["center"] for r in recs if r.get("type") == "event" and r.get("event") == "center"}
    first = st[0]["step"]
    for k, (s, row) in enumerate(zip(st, rec_rows)):
        if s["step"] in snap_at:
            cid = snap_at[s["step"]]
            centers[cid] = row["theta"].clone()
            live = (live + [cid])[-2:]
        if any(r.get("event") == "lr_set" and r.get("step") == s["step"] for r in recs if r.get("type") == "event"):
            live = [] if s["step"] not in snap_at else live
        want, wc = expected(row, [(c, centers[c]) for c in live], sgd, mu)
        for key, (v, scale) in want.items():
            assert key in s, "%s step %d: no %s" % (what, s["step"], key)
            close(s[key], v, scale, what="%s step %d %s" % (what, s["step"], key))
        absent = {"theta_dot_grad", "buf_sq", "theta_dot_buf"} - set(want)
        for key in absent:
            assert key not in s, "%s step %d: %s must not be sent for this optimizer" % (what, s["step"], key)
        got_c = s.get("centers", [])
        assert [c["id"] for c in got_c] == [c["id"] for c in wc], "%s step %d: centres %r, want %r" % (
            what, s["step"], [c["id"] for c in got_c], [c["id"] for c in wc])
        for gc, ec in zip(got_c, wc):
            for key, val in ec.items():
                if key == "id":
                    continue
                close(gc[key], val[0], val[1], what="%s step %d centre %d %s" % (what, s["step"], gc["id"], key))
            assert set(gc) == set(ec), "%s: centre fields %r, want %r" % (what, sorted(gc), sorted(ec))
    return st


def small_mlp(dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).to(dtype)
    X = torch.randn(400, 12, dtype=dtype)
    Y = torch.randint(0, 3, (400,))
    return net, X, Y


def run_loop(net, X, Y, opt, mon, rec, steps, seed=1):
    lf = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        i = torch.randint(0, X.shape[0], (40,), generator=gen)
        opt.zero_grad()
        loss = lf(net(X[i]), Y[i])
        loss.backward()
        rec.before()
        mon.step(loss=loss)
        rec.after()
    mon.close()


@check
def sgd_observables_match_a_float64_recomputation():
    """float32 MLP, SGD μ 0.9, δ 0.1, λ 0.01, small chunks (several per parameter, several parameters per chunk)."""
    for chunk in (None, 7, 100):
        net, X, Y = small_mlp()
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)
        buf = io.StringIO()
        mon = Monitor(opt, out=buf, center_block=4, fdr2_every=0, chunk=chunk)
        params = list(net.parameters())
        rec = Recorder(opt, params, [0.01] * len(params))
        run_loop(net, X, Y, opt, mon, rec, 40)
        recs = records(buf)
        st = compare_stream(recs, rec.rows, sgd=True, mu=0.9, what="sgd chunk=%s" % chunk)
        assert [r["step"] for r in recs if r.get("event") == "center"] == [4, 8, 16, 32]
        assert len(st[-1]["centers"]) == 2 and st[0]["theta_dot_buf"] == 0.0
        meta = recs[0]
        assert meta["type"] == "meta" and meta["optimizer"] == "sgd" and meta["momentum"] == 0.9 and meta["dampening"] == 0.1
        assert meta["params"] == sum(p.numel() for p in params) and meta["center_block"] == 4


@check
def a_set_lr_with_centres_keeps_every_record_right():
    """A request applied while centres are live: the step it arrives at still carries them, the next starts a segment."""
    net, X, Y = small_mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=0.01)
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "run.jsonl")
        mon = Monitor(opt, out=log, center_block=4)
        params = list(net.parameters())
        rec = Recorder(opt, params, [0.01] * len(params))
        lf = torch.nn.CrossEntropyLoss()
        for t in range(30):
            if t == 13:
                with open(log + ".control", "a") as f:
                    f.write(json.dumps(dict(type="control", command="set_lr", lr=0.02, request="c1")) + "\n")
            opt.zero_grad()
            lf(net(X[:40]), Y[:40]).backward()
            rec.before()
            mon.step()
            rec.after()
        mon.close()
        with open(log) as f:
            recs = [json.loads(line) for line in f]
    st = compare_stream(recs, rec.rows, sgd=True, mu=0.9, what="set_lr with centres")
    assert [c["id"] for c in st[13]["centers"]] == [1, 2] and "centers" not in st[14], (st[13].get("centers"), st[14].get("centers"))
    assert [(r["step"], r["center"]) for r in recs if r.get("event") == "center"] == [(4, 1), (8, 2), (18, 3), (22, 4)]


@check
def plain_sgd_reports_g_as_the_buffer():
    net, X, Y = small_mlp()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, weight_decay=0.001)
    buf = io.StringIO()
    mon = Monitor(opt, out=buf, center_block=8)
    params = list(net.parameters())
    rec = Recorder(opt, params, [0.001] * len(params))
    run_loop(net, X, Y, opt, mon, rec, 20)
    st = compare_stream(records(buf), rec.rows, sgd=True, mu=0.0, what="plain sgd")
    assert all(s["buf_sq"] == s["grad_sq"] for s in st)


@check
def generic_optimizers_match_a_float64_recomputation():
    makers = dict(
        nesterov=lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        adam=lambda p: torch.optim.Adam(p, lr=1e-3, weight_decay=0.01),
        adamw=lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01),
        rmsprop=lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.5),
    )
    coupled = dict(nesterov=0.01, adam=0.01, adamw=0.0, rmsprop=0.0)
    for name, make in makers.items():
        net, X, Y = small_mlp()
        opt = make(net.parameters())
        buf = io.StringIO()
        mon = Monitor(opt, out=buf, center_block=4)
        params = list(net.parameters())
        rec = Recorder(opt, params, [coupled[name]] * len(params))
        run_loop(net, X, Y, opt, mon, rec, 20)
        recs = records(buf)
        compare_stream(recs, rec.rows, sgd=False, mu=0.0, what=name)
        assert recs[0]["observables"] == "generic" and recs[0]["optimizer"] == ("sgd-nesterov" if name == "nesterov" else name)


@check
def parameters_without_gradients_are_skipped_and_groups_keep_their_ratio():
    torch.manual_seed(3)
    a = torch.nn.Linear(6, 4)
    unused = torch.nn.Linear(4, 4)  # never in the loss: no gradient
    b = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD([dict(params=list(a.parameters()) + list(unused.parameters()), lr=0.1),
                           dict(params=list(b.parameters()), lr=0.01)], lr=0.1, momentum=0.5, weight_decay=1e-3)
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "run.jsonl")
        mon = Monitor(opt, out=log, center_block=0)
        used = list(a.parameters()) + list(b.parameters())
        rec = Recorder(opt, used, [1e-3] * len(used))
        X, Y = torch.randn(50, 6), torch.randn(50, 2)
        for t in range(12):
            if t == 5:
                with open(log + ".control", "a") as f:
                    f.write(json.dumps(dict(type="control", command="set_lr", lr=0.05, request="g1")) + "\n")
            opt.zero_grad()
            loss = ((b(torch.relu(a(X))) - Y) ** 2).mean()
            loss.backward()
            rec.before()
            mon.step(loss=loss)
            rec.after()
        mon.close()
        with open(log) as f:
            recs = [json.loads(line) for line in f]
    compare_stream(recs, rec.rows, sgd=False, mu=0.0, what="two groups")
    ack = [r for r in recs if r.get("event") == "lr_set"]
    assert len(ack) == 1 and ack[0]["request"] == "g1" and ack[0]["step"] == 6 and ack[0]["lr"] == 0.05, ack
    assert opt.param_groups[0]["lr"] == 0.05 and abs(opt.param_groups[1]["lr"] - 0.005) < 1e-15
    assert recs[0]["params"] == sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert recs[0]["observables"] == "generic", "groups with different η use the generic form"


@check
def the_scripts_own_schedule_starts_a_segment():
    net, X, Y = small_mlp(torch.float64)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.5)
    buf = io.StringIO()
    mon = Monitor(opt, out=buf, center_block=2)
    lf = torch.nn.CrossEntropyLoss()
    for t in range(12):
        if t == 6:
            opt.param_groups[0]["lr"] = 0.02
        opt.zero_grad()
        lf(net(X[:40]), Y[:40]).backward()
        mon.step()
    mon.close()
    recs = records(buf)
    ev = [r for r in recs if r.get("type") == "event"]
    sched = [r for r in ev if r["event"] == "lr_set"]
    assert sched == [dict(type="event", event="lr_set", step=6, lr=0.02, source="schedule")], sched
    assert [(r["step"], r["center"]) for r in ev if r["event"] == "center"] == [(2, 1), (4, 2), (8, 3), (10, 4)]
    st = steps_of(recs)
    assert "centers" not in st[6] and "centers" not in st[7] and [c["id"] for c in st[11]["centers"]] == [3, 4]
    assert all("loss" not in s for s in st), "no loss passed: no loss field (never a NaN that reads as divergence)"


@check
def fdr2_matches_the_exact_hessian_of_a_quadratic():
    """f_B(θ) = ½ Σ h_i (θ_i − θ*_i)² + σ ξ·θ: H = diag(h) exactly, ∇f_B2 = H(θ − θ*) + σ ξ_2."""
    for mu, damp in ((0.0, 0.0), (0.9, 0.1)):
        torch.manual_seed(5)
        d = 9
        h = torch.linspace(0.5, 3.0, d, dtype=torch.float64)
        star = torch.full((d,), 1.5, dtype=torch.float64)
        p1 = torch.nn.Parameter(torch.randn(4, dtype=torch.float64))
        p2 = torch.nn.Parameter(torch.randn(5, dtype=torch.float64))
        lam = 0.02
        opt = torch.optim.SGD([p1, p2], lr=0.05, momentum=mu, dampening=damp, weight_decay=lam)

        def loss_fn(xi):
            th = torch.cat([p1, p2])
            return 0.5 * (h * (th - star) ** 2).sum() + 0.7 * (xi * th).sum()

        drawn = []

        def sample():
            drawn.append(torch.randn(d, dtype=torch.float64))
            return drawn[-1]

        buf = io.StringIO()
        mon = Monitor(opt, out=buf, center_block=0, loss_fn=loss_fn, sample_batch=sample, fdr2_every=3)
        rows = []
        for t in range(15):
            opt.zero_grad()
            loss_fn(torch.randn(d, dtype=torch.float64)).backward()
            th = torch.cat([p1, p2]).detach().clone()
            g1 = torch.cat([p1.grad, p2.grad]) + lam * th
            mon.step()
            v = torch.cat([opt.state[p]["momentum_buffer"] for p in (p1, p2)]) if mu else g1
            rows.append((th, g1, v.detach().clone()))
        mon.close()
        st = steps_of(records(buf))
        fdr2 = [s for s in st if "buf_h_buf" in s]
        assert [s["step"] for s in fdr2] == [0, 3, 6, 9, 12], [s["step"] for s in fdr2]
        assert all("grad_dot_grad2" not in s for s in st if s["step"] % 3)
        for k, s in enumerate(fdr2):
            th, g1, v = rows[s["step"]]
            g2 = h * (th - star) + 0.7 * drawn[k] + lam * th
            want_gg = float(g1 @ g2)
            want_vhv = float((v * (h + lam) * v).sum())
            close(s["grad_dot_grad2"], want_gg, float((g1 * g2).abs().sum()), rel=1e-12, what="grad_dot_grad2 step %d" % s["step"])
            close(s["buf_h_buf"], want_vhv, want_vhv, rel=1e-12, what="buf_h_buf step %d μ=%g" % (s["step"], mu))
            # Pathwise FDR2 (docs/math.md §6.2) on the same B2, F_{B2} = f_{B2} + (λ/2)|θ|², θ_{t+1} = θ_t − ηv.
            F2 = lambda q: float(0.5 * (h * (q - star) ** 2).sum() + 0.7 * (drawn[k] * q).sum() + 0.5 * lam * (q * q).sum())
            nxt = th - 0.05 * v
            want_d = F2(nxt) - F2(th)
            want_gv = float(g2 @ v)
            close(s["loss2_delta"], want_d, abs(F2(nxt)) + abs(F2(th)), rel=1e-12, what="loss2_delta step %d μ=%g" % (s["step"], mu))
            close(s["grad2_dot_buf"], want_gv, float((g2 * v).abs().sum()), rel=1e-12, what="grad2_dot_buf step %d μ=%g" % (s["step"], mu))
            if mu:
                gn = h * (nxt - star) + 0.7 * drawn[k] + lam * nxt
                close(s["grad2_next_dot_buf"], float(gn @ v), float((gn * v).abs().sum()), rel=1e-12, what="grad2_next_dot_buf step %d" % s["step"])
            else:
                assert "grad2_next_dot_buf" not in s, s
            # A quadratic has no Taylor remainder: R = 0 to rounding, against the harmonic heating.
            rem = s["loss2_delta"] + 0.05 * s["grad2_dot_buf"] - 0.5 * 0.05 ** 2 * s["buf_h_buf"]
            assert abs(rem) <= 1e-9 * 0.5 * 0.05 ** 2 * s["buf_h_buf"] + 1e-12 * (abs(F2(nxt)) + abs(F2(th))), (rem, s)


@check
def nan_and_infinities_are_protocol_strings():
    net, X, Y = small_mlp(torch.float64)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    buf = io.StringIO()
    mon = Monitor(opt, out=buf)
    lf = torch.nn.CrossEntropyLoss()
    lf(net(X[:10]), Y[:10]).backward()
    mon.step(loss=float("nan"))
    mon.log(test_loss=float("inf"), other=float("-inf"))
    mon.close()
    lines = buf.getvalue().splitlines()
    assert '"loss":"nan"' in lines[1] and '"test_loss":"inf"' in lines[2] and '"other":"-inf"' in lines[2], lines


@check
def stop_over_the_control_file_ends_the_run():
    net, X, Y = small_mlp(torch.float64)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "r.jsonl")
        with open(log + ".control", "w") as f:
            f.write('{"type":"control","command":"stop"}\n')  # an earlier run's line: ignored
        mon = Monitor(opt, out=log)
        lf = torch.nn.CrossEntropyLoss()
        ran = 0
        for t in range(50):
            if t == 3:
                with open(log + ".control", "a") as f:
                    f.write('{"type":"control","command":"set_lr","lr":-1,"request":"bad"}\n{"type":"control","command":"stop"}\n')
            opt.zero_grad()
            lf(net(X[:10]), Y[:10]).backward()
            ran += 1
            if not mon.step():
                break
        with open(log) as f:
            recs = [json.loads(line) for line in f]
    assert ran == 4 and mon.stop_requested
    err = [r for r in recs if r.get("event") == "error"]
    assert len(err) == 1 and err[0]["request"] == "bad" and "> 0" in err[0]["reason"], err
    assert recs[-1]["event"] == "finished" and recs[-1]["step"] == 3 and recs[-1]["steps"] == 4, recs[-1]
    assert recs[0]["control"] == ["file"] and recs[0]["control_file"] == log + ".control"


def main():
    return run_checks(CHECKS)


if __name__ == "__main__":
    sys.exit(main())
