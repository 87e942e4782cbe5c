"""A small WebSocket client (RFC 6455) on the standard library: enough to send
the stream to a monitor that listens for trainers (``fdr-monitor watch
--listen PORT [--token T]``, the extension's "listen for trainers") and to
receive its control messages on the same connection.

Text frames only (stream v1 is text); the client masks what it sends, as the
RFC requires; pings are answered; fragmented messages are reassembled. No
TLS: ``wss://`` is refused with a clear error (tunnel it, e.g. over SSH).
"""

import base64
import hashlib
import os
import socket
import struct
import threading
import urllib.parse

__all__ = ["WebSocketClient", "WebSocketSink", "WebSocketError"]

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
MAX_MESSAGE = 4 * 1024 * 1024


class WebSocketError(ConnectionError):
    pass


def _mask(payload, key):
    """XOR with the 4-byte masking key, on whole integers (fast for long lines)."""
    n = len(payload)
    if n == 0:
        return payload
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def _frame(opcode, payload):
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    key = os.urandom(4)
    return head + key + _mask(payload, key)


class WebSocketClient:
    """One connection. ``on_message(text)`` is called from a reader thread."""

    def __init__(self, url, on_message=None, token=None, timeout=10.0):
        u = urllib.parse.urlsplit(url)
        if u.scheme == "wss":
            raise WebSocketError("wss:// (TLS) is not supported by this client: use ws:// through a tunnel")
        if u.scheme != "ws" or not u.hostname:
            raise WebSocketError("not a ws:// URL: %r" % (url,))
        self.url = url
        host, port = u.hostname, u.port or 80
        path = (u.path or "/") + ("?" + u.query if u.query else "")
        self.on_message = on_message
        self.closed = None  # reason, once closed
        self._send_lock = threading.Lock()
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise WebSocketError("cannot connect to %s: %s" % (url, e)) from None
        key = base64.b64encode(os.urandom(16)).decode()
        hostport = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
        lines = [
            "GET %s HTTP/1.1" % path,
            "Host: %s" % hostport,
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: %s" % key,
            "Sec-WebSocket-Version: 13",
        ]
        if token:
            lines.append("Authorization: Bearer %s" % token)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                self.sock.close()
                raise WebSocketError("%s closed the connection during the handshake" % (url,))
            head += chunk
            if len(head) > 65536:
                raise WebSocketError("%s: handshake response too long" % (url,))
        head, rest = head.split(b"\r\n\r\n", 1)
        status, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status.split(" ", 2)
        if len(parts) < 2 or parts[1] != "101":
            self.sock.close()
            why = " (wrong or missing token?)" if len(parts) > 1 and parts[1] == "401" else ""
            raise WebSocketError("%s refused the WebSocket upgrade: %s%s" % (url, status, why))
        headers = {}
        for h in header_lines:
            if ":" in h:
                k, v = h.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        expect = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != expect:
            self.sock.close()
            raise WebSocketError("%s: bad Sec-WebSocket-Accept in the handshake" % (url,))
        self.sock.settimeout(None)
        self._buf = rest
        self._reader = threading.Thread(target=self._read_loop, name="fdr-monitor-ws", daemon=True)
        self._reader.start()

    # -- sending ------------------------------------------------------------------------------
    def _send(self, opcode, payload):
        with self._send_lock:
            self.sock.sendall(_frame(opcode, payload))

    def send_text(self, text):
        if self.closed:
            raise WebSocketError("%s: connection closed (%s)" % (self.url, self.closed))
        self._send(0x1, text.encode("utf-8"))

    # -- receiving ----------------------------------------------------------------------------
    def _recv_exact(self, n):
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise EOFError
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _read_frame(self):
        b0, b1 = self._recv_exact(2)
        fin, opcode, masked, n = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._recv_exact(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._recv_exact(8))
        if n > MAX_MESSAGE:
            raise WebSocketError("message of %d bytes from the monitor is too large" % n)
        key = self._recv_exact(4) if masked else None
        payload = self._recv_exact(n)
        if key:
            payload = _mask(payload, key)
        return bool(fin), opcode, payload

    def _read_loop(self):
        parts, kind = [], None
        try:
            while True:
                fin, op, payload = self._read_frame()
                if op == 0x8:  # close: answer it and stop
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    self.closed = "closed by the monitor (%d%s)" % (code, " " + payload[2:].decode("utf-8", "replace") if len(payload) > 2 else "")
                    try:
                        self._send(0x8, payload[:2])
                    except OSError:
                        pass
                    break
                if op == 0x9:
                    self._send(0xA, payload)
                    continue
                if op == 0xA:
                    continue
                if op in (0x1, 0x2):
                    parts, kind = [payload], op
                elif op == 0x0:
                    parts.append(payload)
                else:
                    continue
                if fin:
                    data = b"".join(parts)
                    parts = []
                    if kind == 0x1 and self.on_message:
                        self.on_message(data.decode("utf-8", "replace"))
        except (EOFError, OSError, WebSocketError) as e:
            if not self.closed:
                self.closed = "connection lost (%s)" % (e.__class__.__name__ if isinstance(e, EOFError) else e)
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    def close(self, code=1000, reason="run finished", wait=2.0):
        if not self.closed:
            try:
                self._send(0x8, struct.pack("!H", code) + reason.encode("utf-8")[:120])
            except OSError:
                pass
            self._reader.join(wait)  # the monitor answers with its close frame
        if not self.closed:
            self.closed = "closed"
        try:
            self.sock.close()
        except OSError:
            pass


class WebSocketSink:
    """The stream over a WebSocket to a listening monitor; its messages are control lines."""

    def __init__(self, url, on_control=None, token=None):
        self.name = url
        self.failure = None

        def on_message(text):
            if on_control:
                for line in text.split("\n"):
                    if line.strip():
                        on_control(line, "ws")

        self.client = WebSocketClient(url, on_message=on_message, token=token)

    def write(self, line):
        if self.failure:
            return
        try:
            self.client.send_text(line[:-1] if line.endswith("\n") else line)
        except (OSError, WebSocketError) as e:
            self.failure = "%s: %s" % (self.name, e)

    def close(self):
        self.client.close()
