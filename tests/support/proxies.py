"""Small forward proxies of our own for tests: an HTTP CONNECT proxy and a SOCKS5 proxy.

Each runs in its own threads on 127.0.0.1 and forwards only to the targets it is given
(`routes`: the "host:port" a client asks for -> the loopback port it really reaches), so a
test can name an upstream address that nothing listens on and every byte that arrives
there provably went through the proxy. Anything else is refused: nothing leaves loopback.
`tunnels` lists the targets of the tunnels opened, in order.
"""

from __future__ import annotations

import socket
import struct
import threading

BUFFER = 64 * 1024


class _Proxy:
    def __init__(self, routes: dict[str, int]):
        self.routes = dict(routes)
        self.tunnels: list[str] = []
        self.refused: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            target = self.handshake(client)
            if target is None:
                return
            upstream = socket.create_connection(("127.0.0.1", self.routes[target]), timeout=10)
            upstream.settimeout(None)
            self.tunnels.append(target)
            self.connected(client)
            _splice(client, upstream)
        except OSError:
            pass
        finally:
            client.close()

    def allowed(self, target: str) -> bool:
        if target in self.routes:
            return True
        self.refused.append(target)
        return False

    def handshake(self, client: socket.socket) -> str | None:  # pragma: no cover - per protocol
        raise NotImplementedError

    def connected(self, client: socket.socket) -> None:  # pragma: no cover - per protocol
        raise NotImplementedError

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ConnectProxy(_Proxy):
    """An HTTP proxy that only tunnels: `CONNECT host:port HTTP/1.1`, then raw bytes."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handshake(self, client: socket.socket) -> str | None:
        head = b""
        while b"\r\n\r\n" not in head:
            data = client.recv(BUFFER)
            if not data or len(head) > 16384:
                return None
            head += data
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        if method != "CONNECT" or not self.allowed(target):
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return None
        return target

    def connected(self, client: socket.socket) -> None:
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")


class Socks5Proxy(_Proxy):
    """A SOCKS5 proxy (RFC 1928) without authentication, CONNECT only; host names are taken
    as given (socks5h: the client never resolves them) and looked up in `routes`."""

    @property
    def url(self) -> str:
        return f"socks5h://127.0.0.1:{self.port}"

    def handshake(self, client: socket.socket) -> str | None:
        version, count = _read(client, 2)
        methods = _read(client, count)
        if version != 5 or 0 not in methods:
            client.sendall(b"\x05\xff")
            return None
        client.sendall(b"\x05\x00")
        version, command, _, kind = _read(client, 4)
        if kind == 1:
            host = socket.inet_ntoa(_read(client, 4))
        elif kind == 3:
            host = _read(client, _read(client, 1)[0]).decode("ascii")
        elif kind == 4:
            host = "[" + socket.inet_ntop(socket.AF_INET6, _read(client, 16)) + "]"
        else:
            return None
        (port,) = struct.unpack("!H", _read(client, 2))
        target = f"{host}:{port}"
        if command != 1 or not self.allowed(target):
            client.sendall(b"\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00")  # not allowed by ruleset
            return None
        return target

    def connected(self, client: socket.socket) -> None:
        client.sendall(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        part = sock.recv(size - len(data))
        if not part:
            raise OSError("the client closed the connection during the handshake")
        data += part
    return data


def _splice(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""

    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(BUFFER):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    back.start()
    pump(client, upstream)
    back.join()
    upstream.close()


class SilentProxy:
    """Accepts connections and never answers: a proxy that hangs in its handshake."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._held.append(client)

    def close(self) -> None:
        self._listener.close()
        for client in self._held:
            client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
