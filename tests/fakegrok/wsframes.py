"""RFC 6455 on the server side, stdlib only: the upgrade answer and the frames of one connection.

The fake's connection threads are plain blocking threads; a `WsConn` never blocks longer than
asked: `poll(timeout)` reads whatever the client sent within `timeout` and returns the complete
messages, so a writer can interleave its own frames with the client's pings and close.
"""

from __future__ import annotations

import base64
import hashlib
import os
import select
import socket
import struct

from .wire import ClientGone

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_CLIENT_MESSAGE = 32 * 1024 * 1024


def accept_value(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.strip().encode() + GUID).digest()).decode()


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One unmasked (server) frame."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, n)
    elif n < 65536:
        head = struct.pack("!BBH", first, 126, n)
    else:
        head = struct.pack("!BBQ", first, 127, n)
    return head + payload


class ProtocolError(Exception):
    pass


class WsConn:
    """One upgraded connection (after the 101 was written)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()
        self.closed = False
        self.pings_received = 0  # protocol-level pings from the client
        self.pongs: list[bytes] = []  # payloads of the client's pongs
        self.client_close_code: int | None = None  # the code of the client's close frame
        self._message: list[bytes] = []
        self._opcode = OP_TEXT
        self._poller = select.poll()
        self._poller.register(sock, select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR)

    # -- writing ------------------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ClientGone(str(exc)) from None

    def send_text(self, text: str | bytes, fragment: int = 0) -> None:
        """A text message, split into continuation frames of `fragment` bytes when given."""
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        if fragment <= 0 or len(data) <= fragment:
            self.send_raw(frame(OP_TEXT, data))
            return
        pieces = [data[i : i + fragment] for i in range(0, len(data), fragment)]
        out = []
        for i, piece in enumerate(pieces):
            out.append(frame(OP_TEXT if i == 0 else OP_CONT, piece, fin=i == len(pieces) - 1))
        self.send_raw(b"".join(out))

    def ping(self, payload: bytes = b"") -> None:
        self.send_raw(frame(OP_PING, payload))

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.sendall(frame(OP_CLOSE, struct.pack("!H", code) + reason.encode()[:120]))
        except OSError:
            pass

    # -- reading ------------------------------------------------------------------------------------
    def poll(self, timeout: float) -> list[tuple[int, bytes]]:
        """Complete client messages that arrive within `timeout` seconds: [(opcode, payload)].

        Pings are answered here; a close frame is answered and raises ClientGone, as does EOF.
        """
        messages: list[tuple[int, bytes]] = []
        # A TLS socket may hold bytes it already decrypted, which the kernel no longer shows.
        pending = getattr(self.sock, "pending", None)
        try:
            ready = pending() if pending else 0
            ready = ready or self._poller.poll(max(0, int(timeout * 1000)))
        except InterruptedError:
            ready = []
        if ready:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                data = None
            except OSError as exc:
                raise ClientGone(str(exc)) from None
            if data == b"":
                raise ClientGone("peer closed")
            if data:
                self.buf += data
        while True:
            parsed = self._parse_one()
            if parsed is None:
                return messages
            opcode, fin, payload = parsed
            if opcode == OP_PING:
                self.pings_received += 1
                self.send_raw(frame(OP_PONG, payload))
            elif opcode == OP_PONG:
                self.pongs.append(payload)
            elif opcode == OP_CLOSE:
                self.client_close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.close(1000)
                raise ClientGone("client sent a close frame")
            else:
                if opcode != OP_CONT:
                    self._opcode = opcode
                    self._message = []
                self._message.append(payload)
                if sum(len(p) for p in self._message) > MAX_CLIENT_MESSAGE:
                    raise ProtocolError("client message too large")
                if fin:
                    messages.append((self._opcode, b"".join(self._message)))
                    self._message = []

    def _parse_one(self):
        buf = self.buf
        if len(buf) < 2:
            return None
        first, second = buf[0], buf[1]
        n = second & 0x7F
        pos = 2
        if n == 126:
            if len(buf) < 4:
                return None
            n = struct.unpack_from("!H", buf, 2)[0]
            pos = 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n = struct.unpack_from("!Q", buf, 2)[0]
            pos = 10
        if not second & 0x80:
            raise ProtocolError("client frames must be masked")
        if len(buf) < pos + 4 + n:
            return None
        mask = bytes(buf[pos : pos + 4])
        start = pos + 4
        payload = _unmask(bytes(buf[start : start + n]), mask)
        del buf[: start + n]
        return first & 0x0F, bool(first & 0x80), payload

    def shutdown(self, rst: bool = False) -> None:
        """Drop the connection without a close frame (FIN, or RST with `rst`)."""
        self.closed = True
        try:
            if rst:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                os.close(self.sock.detach())
            else:
                self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _unmask(data: bytes, mask: bytes) -> bytes:
    if not data:
        return data
    # XOR through big integers: far faster than a Python loop for large payloads.
    key = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")
