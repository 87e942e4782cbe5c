"""
The metrics stream v1 writer (docs/protocol.md) of the real-network harness
(docs/decisions.md): a plain stream writer with stdin control and the centre
schedule of docs/math.md §4.4, kept here unchanged so that the harness's
streams stay the same run to run. The shipped PyTorch package
(src/python/fdr_monitor) measures the same observables inside the optimizer
step; train.py computes them itself (Yaida's OL and OR need the per-step
values), so it only needs this writer.
"""

import json
import math
import os
import queue
import sys
import threading

__all__ = ["FdrStream", "ControlResult", "CenterSchedule", "encode_number"]

PROTOCOL_VERSION = 1


def encode_number(x):
    """A protocol number: finite floats as they are, NaN/inf as "nan"/"inf"/"-inf".

    Accepts anything float() accepts (numpy scalars, 0-d torch tensors via
    .item()); ints and bools are kept as they are.
    """
    if isinstance(x, bool) or isinstance(x, int):
        return x
    if hasattr(x, "item") and not isinstance(x, (list, tuple, dict)):
        x = x.item()  # numpy scalar or one-element tensor
        if isinstance(x, (bool, int)):
            return x
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _encode(value):
    """Recursively encodes numbers inside a record (e.g. the `centers` list)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return encode_number(value)


class ControlResult:
    """What poll_control() found: a learning rate to apply now, and/or a stop request."""

    __slots__ = ("lr", "stop", "request")

    def __init__(self, lr=None, stop=False, request=None):
        self.lr = lr  # the new learning rate, to use from this step on; None = unchanged
        self.stop = stop  # the monitor asked the run to end
        self.request = request  # id of the set_lr request that was accepted

    def __repr__(self):
        return "ControlResult(lr=%r, stop=%r, request=%r)" % (self.lr, self.stop, self.request)


class CenterSchedule:
    """Which centre snapshots to take, per the stream's centring scheme
    (docs/protocol.md "Centres"; docs/math.md, fdr-math.md §4.4).

    Per learning-rate segment, snapshot θ at segment-relative steps
    block·2^k (k = 0, 1, 2, …), i.e. block, 2·block, 4·block, …; each snapshot
    gets a fresh id ≥ 1 that is never reused. Step records then carry the
    observables about the two newest centres of the current segment. This
    class only keeps the schedule; you keep the snapshots (a copy of your
    parameters) because only you hold θ.

        sched = CenterSchedule(block=256)
        new_id = sched.at_step(step, lr)     # call once per step, before the update
        if new_id is not None:
            snapshots[new_id] = copy_of_parameters
            stream.event("center", step=step, center=new_id)
        for cid in list(snapshots):
            if cid not in sched.active():
                del snapshots[cid]           # only the two newest are needed
    """

    def __init__(self, block=256, first_id=1):
        if int(block) != block or block < 1:
            raise ValueError("center block must be a positive integer, got %r" % (block,))
        self.block = int(block)
        self._next_id = int(first_id)
        self._segment_start = None
        self._segment_lr = None
        self._next_rel = self.block
        self._active = []

    def at_step(self, step, lr):
        """Advances to `step` (learning rate `lr`). Returns the id of a snapshot to
        take now (θ before this step's update), or None."""
        if self._segment_start is None or lr != self._segment_lr:
            # A new learning rate starts a new segment; its centres start afresh.
            self._segment_start = step
            self._segment_lr = lr
            self._next_rel = self.block
            self._active = []
        if step - self._segment_start < self._next_rel:
            return None
        cid = self._next_id
        self._next_id += 1
        self._next_rel *= 2
        self._active = (self._active + [cid])[-2:]
        return cid

    def active(self):
        """Ids of the (at most two) newest centres of the current segment, oldest first."""
        return list(self._active)


class FdrStream:
    """Writes stream v1 records and reads control messages.

    out:      a text file object to write to (default sys.stdout), or
    path:     a file path to write the stream to instead (opened with `mode`).
    control:  None (no control), "stdin" (control lines arrive on standard
              input; read by a background thread, so polling never blocks), or
              "file" (a control file the monitor appends lines to; its path is
              `control_file`, default `<path>.control`, announced in meta).
    max_lr_ratio: a set_lr more than this factor away from the current rate is
              refused unless the request says "force": true (a typo guard).
    """

    def __init__(self, out=None, path=None, mode="w", control=None, control_file=None, max_lr_ratio=1000.0):
        if out is not None and path is not None:
            raise ValueError("give either out= or path=, not both")
        if control not in (None, "stdin", "file"):
            raise ValueError('control must be None, "stdin" or "file", got %r' % (control,))
        self._own = path is not None
        self._out = open(path, mode, encoding="utf-8") if path is not None else (out or sys.stdout)
        self._broken = False
        self.max_lr_ratio = max_lr_ratio
        self.control = control
        self.control_file = None
        self._lines = queue.Queue()
        self.stdin_closed = False
        if control == "stdin":
            t = threading.Thread(target=self._read_stdin, name="fdr-control-stdin", daemon=True)
            t.start()
        elif control == "file":
            if control_file is None:
                if path is None:
                    raise ValueError('control="file" needs control_file= (or path=, then it is <path>.control)')
                control_file = path + ".control"
            self.control_file = os.path.abspath(control_file)
            # Start empty: old requests from a previous run must not be replayed.
            open(self.control_file, "w").close()
            self._cf_offset = 0
            self._cf_partial = b""

    # ---- writing -------------------------------------------------------------

    def write(self, record):
        """Writes one record (a dict) as one JSON line and flushes it."""
        if self._broken:
            return
        line = json.dumps(_encode(record), allow_nan=False, separators=(",", ":"))
        try:
            self._out.write(line + "\n")
            self._out.flush()
        except BrokenPipeError:
            # The monitor went away: keep training, stop writing, say so once.
            self._broken = True
            sys.stderr.write("fdr_stream: the monitor closed the stream; records are no longer written\n")

    def meta(self, **fields):
        """The `meta` record (optional, usually first): run, optimizer, params, batch_size, …
        `version` and, when control is on, `control` / `control_file` are filled in."""
        rec = {"type": "meta", "version": PROTOCOL_VERSION}
        if self.control == "stdin":
            rec["control"] = ["stdin"]
        elif self.control == "file":
            rec["control"] = ["file"]
            rec["control_file"] = self.control_file
        rec.update(fields)
        self.write(rec)

    def step(self, step, lr, **fields):
        """One `step` record: `step` (int) and `lr` are required; every other field of
        protocol.md is optional (loss, momentum, dampening, weight_decay, time,
        theta_dot_grad, buf_sq, param_sq, theta_dot_buf, update_sq, theta_dot_update,
        grad_sq, grad_dot_grad2, buf_h_buf, center, centers). None values are left out."""
        if int(step) != step:
            raise ValueError("step must be an integer, got %r" % (step,))
        rec = {"step": int(step), "lr": lr}
        for k, v in fields.items():
            if v is not None:
                rec[k] = v
        self.write(rec)

    def event(self, event, **fields):
        """An `event` record, e.g. event("center", step=S, center=id) or
        event("test_accuracy", step=S, value=0.97)."""
        rec = {"type": "event", "event": event}
        rec.update({k: v for k, v in fields.items() if v is not None})
        self.write(rec)

    def finish(self, step=None):
        """Writes the `finished` event and closes a file this object opened."""
        self.event("finished", step=step)
        self.close()

    def close(self):
        if self._own and not self._out.closed:
            self._out.close()

    # ---- control ---------------------------------------------------------------

    def _read_stdin(self):
        # A blocking read in a daemon thread: portable (Windows pipes have no
        # non-blocking mode) and it never delays the training loop. os.read on
        # the descriptor, not sys.stdin's buffered reader: a daemon thread
        # blocked inside that reader's lock aborts the interpreter at exit.
        fd = sys.stdin.fileno()
        partial = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            *lines, partial = (partial + chunk).split(b"\n")
            for raw in lines:
                self._lines.put(raw.decode("utf-8", "replace"))
        if partial:
            self._lines.put(partial.decode("utf-8", "replace"))
        self.stdin_closed = True

    def _read_control_file(self):
        try:
            size = os.path.getsize(self.control_file)
        except OSError:
            return
        if size < self._cf_offset:  # truncated: start over
            self._cf_offset, self._cf_partial = 0, b""
        if size == self._cf_offset:
            return
        with open(self.control_file, "rb") as f:
            f.seek(self._cf_offset)
            data = f.read(size - self._cf_offset)
        self._cf_offset += len(data)
        data = self._cf_partial + data
        *lines, self._cf_partial = data.split(b"\n")  # keep a partial last line for later
        for raw in lines:
            self._lines.put(raw.decode("utf-8", "replace"))

    def pending_messages(self):
        """Control messages received since the last call (parsed dicts, or
        ("error", reason) tuples for lines that are not valid control)."""
        if self.control == "file":
            self._read_control_file()
        out = []
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return out
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except ValueError as e:
                out.append(("error", "control line is not JSON: %s" % e))
                continue
            if not isinstance(msg, dict) or msg.get("type") != "control":
                out.append(("error", 'control line without "type":"control"'))
                continue
            out.append(msg)

    def poll_control(self, step, lr):
        """Reads pending control messages (never blocks) and answers them.

        set_lr: validated (a finite number > 0, within max_lr_ratio of `lr`
        unless "force"); accepted → an `lr_set` event at `step` (the step the new
        rate takes effect) with the request id, and the result's `.lr`; refused →
        an `error` event with the request id and the reason. stop → `.stop`.
        Call it at the top of each step, before computing that step.
        """
        result = ControlResult()
        if self.control is None:
            return result
        for msg in self.pending_messages():
            if isinstance(msg, tuple):
                self.event("error", step=step, reason=msg[1])
                continue
            req = msg.get("request")
            cmd = msg.get("command")
            if cmd == "stop":
                result.stop = True
            elif cmd == "set_lr":
                new_lr, reason = self._validate_lr(msg, lr)
                if reason is not None:
                    self.event("error", step=step, request=req, reason=reason)
                    continue
                lr = new_lr
                result.lr, result.request = new_lr, req
                self.event("lr_set", step=step, lr=new_lr, source="monitor", request=req)
            else:
                self.event("error", step=step, request=req, reason="unknown control command %r" % (cmd,))
        return result

    def _validate_lr(self, msg, current):
        v = msg.get("lr")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None, "set_lr needs a numeric lr, got %r" % (v,)
        v = float(v)
        if not math.isfinite(v) or v <= 0:
            return None, "set_lr needs a finite lr > 0, got %r" % (v,)
        if not msg.get("force") and self.max_lr_ratio and current and current > 0:
            r = v / current
            if r > self.max_lr_ratio or r < 1.0 / self.max_lr_ratio:
                return None, "lr %g is more than %gx away from the current %g (send force: true to insist)" % (
                    v, self.max_lr_ratio, current)
        return v, None
