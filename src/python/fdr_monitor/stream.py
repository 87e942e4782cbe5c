"""Writing stream v1 (docs/protocol.md): one JSON object per line.

NaN and infinities are not JSON, so they are written as the strings "nan",
"inf", "-inf" (a diverging loss must be reported, not dropped). Every line is
flushed as it is written, so a monitor reading a pipe or tailing a file sees
each record at once.
"""

import json
import math
import os
import sys

__all__ = ["encode_number", "format_line", "StdoutSink", "FileSink", "open_sink"]

PROTOCOL_VERSION = 1


def encode_number(x):
    """A protocol number: finite floats as they are, NaN/inf as "nan"/"inf"/"-inf".

    Accepts anything float() accepts (numpy scalars, one-element tensors via
    .item()); ints and bools are kept as they are.
    """
    if isinstance(x, (bool, int)):
        return x
    if hasattr(x, "item") and not isinstance(x, (list, tuple, dict)):
        x = x.item()
        if isinstance(x, (bool, int)):
            return x
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _encode(value):
    """Recursively encodes the numbers inside a record (e.g. the `centers` list)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else encode_number(value)
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return encode_number(value)


def format_line(record):
    """One record as a stream line (with its newline)."""
    return json.dumps(_encode(record), separators=(",", ":"), allow_nan=False) + "\n"


class StdoutSink:
    """The stream on this process's stdout (a monitor that launched the script reads it)."""

    name = "stdout"

    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stdout
        self.failure = None

    def write(self, line):
        if self.failure:
            return
        try:
            self.stream.write(line)
            self.stream.flush()
        except (BrokenPipeError, ValueError, OSError) as e:
            # The reader went away (e.g. `| head`): the run goes on, the stream ends here.
            self.failure = "stdout: %s" % (e,)

    def close(self):
        pass


class FileSink:
    """The stream in a log file (truncated at start, so a tailing monitor sees one run)."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.name = "file " + self.path
        self.failure = None
        self._f = open(self.path, "w", encoding="utf-8")

    def write(self, line):
        if self.failure:
            return
        try:
            self._f.write(line)
            self._f.flush()
        except OSError as e:
            self.failure = "%s: %s" % (self.name, e)

    def close(self):
        try:
            self._f.close()
        except OSError:
            pass


def open_sink(out, on_control=None, token=None):
    """The sink for `out`: "stdout" (or "-"), a ws:// URL, or a file path."""
    if out is None or out in ("stdout", "-"):
        return StdoutSink()
    if hasattr(out, "write") and not isinstance(out, str):
        return StdoutSink(out)
    s = os.fspath(out)
    if s.startswith("ws://") or s.startswith("wss://"):
        from .websocket import WebSocketSink

        return WebSocketSink(s, on_control=on_control, token=token)
    return FileSink(s)
