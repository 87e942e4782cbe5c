"""Control messages, monitor → trainer (docs/protocol.md, "Control"):

    {"type":"control","command":"set_lr","lr":0.01,"request":"r7"}
    {"type":"control","command":"stop"}

They arrive on stdin (when the monitor launched the script and set
FDR_MONITOR_STDIN_CONTROL=1), on the WebSocket, or as lines appended to the
control file ``<log>.control``. All channels feed one queue that the monitor
drains between steps, so a change takes effect at a step boundary and is
acknowledged there. Validation follows the TensorFlow.js kit
(src/trainer/control.ts): a finite lr > 0, within 100× of the current one
unless "force": true.
"""

import json
import math
import os
import queue
import sys
import threading

__all__ = ["parse_control_line", "set_lr_refusal", "ControlQueue", "DEFAULT_MAX_LR_RATIO", "STDIN_ENV"]

DEFAULT_MAX_LR_RATIO = 100
STDIN_ENV = "FDR_MONITOR_STDIN_CONTROL"


def _request_id(v):
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return str(v)
    return None


def _read_number(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip().lower()
        if s == "nan":
            return math.nan
        if s in ("inf", "+inf", "infinity", "+infinity"):
            return math.inf
        if s in ("-inf", "-infinity"):
            return -math.inf
    return None


def parse_control_line(line, source):
    """One control line → a dict with "kind" set_lr | stop | invalid (never raises); None for a blank line."""
    text = line[:-1] if line.endswith("\r") else line
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except ValueError as e:
        return dict(kind="invalid", reason="control line is not JSON: %s" % (e,), request=None, source=source)
    if not isinstance(obj, dict):
        return dict(kind="invalid", reason="control line is not a JSON object", request=None, source=source)
    req = _request_id(obj.get("request"))
    if obj.get("type") != "control":
        return dict(kind="invalid", reason='expected "type":"control", got %s' % json.dumps(obj.get("type")), request=req, source=source)
    cmd = obj.get("command")
    if cmd == "set_lr":
        lr = _read_number(obj.get("lr"))
        if lr is None:
            return dict(kind="invalid", reason='set_lr: "lr" is missing or not a number', request=req, source=source)
        return dict(kind="set_lr", lr=lr, force=obj.get("force") is True, request=req, source=source)
    if cmd == "stop":
        return dict(kind="stop", request=req, source=source)
    return dict(kind="invalid", reason='unknown command %s (expected "set_lr" or "stop")' % json.dumps(cmd), request=req, source=source)


def set_lr_refusal(lr, current, force, max_ratio=DEFAULT_MAX_LR_RATIO):
    """Why a set_lr to `lr` (from `current`) is refused, or None when it is fine."""
    if not math.isfinite(lr):
        return "lr must be finite, got %r" % (lr,)
    if not lr > 0:
        return "lr must be > 0, got %r" % (lr,)
    if force or not max_ratio:
        return None
    ratio = lr / current
    if ratio > max_ratio or ratio < 1.0 / max_ratio:
        where = "%.3g× above" % ratio if ratio > 1 else "%.3g× below" % (1 / ratio)
        return 'lr %r is %s the current %r; more than %g× needs "force":true' % (lr, where, current, max_ratio)
    return None


class ControlQueue:
    """Control lines from every channel, parsed, in arrival order."""

    def __init__(self):
        self._q = queue.SimpleQueue()
        self.channels = []
        self._file = None
        self._stdin_thread = None

    def push_line(self, line, source):
        p = parse_control_line(line, source)
        if p is not None:
            self._q.put(p)

    def push(self, item):
        self._q.put(item)

    def drain(self):
        if self._file is not None:
            self._poll_file()
        out = []
        while True:
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                return out

    # -- stdin -------------------------------------------------------------------------------
    def attach_stdin(self, stream=None):
        """Reads control lines from stdin in a daemon thread. When stdin ends (the
        monitor closed it or went away) the run is asked to stop."""
        src = stream if stream is not None else sys.stdin

        def loop():
            try:
                for line in src:
                    self.push_line(line.rstrip("\n"), "stdin")
            except (OSError, ValueError):
                pass
            self._q.put(dict(kind="stop", request=None, source="stdin", reason="stdin closed"))

        self._stdin_thread = threading.Thread(target=loop, name="fdr-monitor-stdin", daemon=True)
        self._stdin_thread.start()
        self.channels.append("stdin")

    # -- control file ------------------------------------------------------------------------
    def attach_control_file(self, path):
        """Lines appended to `path` after now are control lines (created empty if missing;
        what it already holds belongs to an earlier run). Polled at each drain."""
        path = os.path.abspath(path)
        try:
            offset = os.stat(path).st_size
        except FileNotFoundError:
            with open(path, "w"):
                pass
            offset = 0
        self._file = dict(path=path, offset=offset, partial=b"")
        self.channels.append("file")
        return path

    def _poll_file(self):
        f = self._file
        try:
            size = os.stat(f["path"]).st_size
        except OSError:
            return  # deleted: wait for it to come back
        if size < f["offset"]:  # truncated: start over
            f["offset"], f["partial"] = 0, b""
        if size == f["offset"]:
            return
        with open(f["path"], "rb") as fh:
            fh.seek(f["offset"])
            data = fh.read(size - f["offset"])
        f["offset"] += len(data)
        lines = (f["partial"] + data).split(b"\n")
        f["partial"] = lines.pop()
        for line in lines:
            self.push_line(line.decode("utf-8", "replace"), "file")

    def close(self):
        if self._file is not None:
            self._poll_file()
