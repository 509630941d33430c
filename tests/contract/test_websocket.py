"""The gevent-native WebSocket client (app.grok.websocket) against real loopback servers.

The servers here are small threads built on the fake grok.com's RFC 6455 frames, each
scripted by its test; an HTTP CONNECT proxy of a few lines shows the proxy setting holds.
The test process is not monkey-patched: the transport runs on gevent's hub regardless.
"""

from __future__ import annotations

import datetime
import ipaddress
import select
import socket
import ssl
import threading
import time

import gevent
import pytest

from app.grok import errors as gerr
from app.grok.errors import ServerShuttingDown, UpstreamConnectionError, UpstreamTimeout
from app.grok.transport import CurlPool, Transport
from app.grok.websocket import MessageTooBig, WebSocketClosed
from tests.fakegrok.wsframes import OP_PING, OP_TEXT, WsConn, accept_value, frame

CLOUDFLARE_HEADERS = "Content-Type: text/html; charset=UTF-8\r\ncf-mitigated: challenge\r\n"


class Server:
    """A one-connection-at-a-time WebSocket server thread; `script(conn, request_head)` runs per client."""

    def __init__(self, script, answer: bytes | None = None, with_upgrade: bytes = b"", tls=None):
        self.script = script
        self.tls = tls  # an ssl.SSLContext: wss:// instead of ws://
        self.answer = answer  # a raw non-101 answer instead of the upgrade
        self.with_upgrade = with_upgrade  # bytes sent in the same write as the 101 answer
        self.requests: list[str] = []
        self.events: list[tuple[str, float]] = []
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.url = f"{'wss' if tls else 'ws'}://127.0.0.1:{self.port}/ws/mgw/?uid=u"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_side=True)
            except OSError:
                return
        data = b""
        while b"\r\n\r\n" not in data:
            more = sock.recv(4096)
            if not more:
                return
            data += more
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        self.requests.append(head)
        if self.answer is not None:
            sock.sendall(self.answer)
            sock.close()
            return
        key = next(line.split(":", 1)[1] for line in head.split("\r\n") if line.lower().startswith("sec-websocket-key"))
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_value(key).encode() + b"\r\n\r\n" + self.with_upgrade
        )
        conn = WsConn(sock)
        try:
            self.script(self, conn)
        except Exception as exc:  # the client went away: what the test looks at
            self.events.append((type(exc).__name__, time.monotonic()))
        finally:
            sock.close()

    def note(self, what: str):
        self.events.append((what, time.monotonic()))

    def close(self):
        self.listener.close()


def echo(server, conn):
    """Echo text messages back; `close` -> a close frame with code 4000."""
    while True:
        for _opcode, payload in conn.poll(0.05):
            if payload == b"close":
                conn.close(4000, "bye")
                server.note("closed")
                return
            conn.send_text(payload)


@pytest.fixture
def transport():
    # A pool of its own: shutting it down must not refuse the other tests' transfers.
    return Transport(connect_timeout=2.0, pool=CurlPool())


def test_upgrade_carries_the_browser_profile_and_the_given_headers(transport):
    server = Server(echo)
    with transport.websocket(server.url, [("origin", "https://grok.com"), ("cookie", "sso=a")], timeout=5) as ws:
        ws.send_text('{"a":1}')
        assert ws.recv(5) == b'{"a":1}'
    head = server.requests[0].lower()
    assert head.startswith("get /ws/mgw/?uid=u http/1.1")
    assert "upgrade: websocket" in head and "sec-websocket-version: 13" in head
    assert "chrome/" in head and "sec-ch-ua:" in head  # the same Chrome impersonation as REST calls
    assert "origin: https://grok.com" in head and "cookie: sso=a" in head
    assert "http2-settings" not in head  # an HTTP/1.1 upgrade, never h2c


def test_several_messages_fragments_and_server_pings(transport):
    big = b'{"x":"' + b"y" * 200_000 + b'"}'

    def script(server, conn):
        conn.send_raw(frame(OP_TEXT, b'{"a":1}{"b":2}'))
        # a message in three fragments with a ping between them
        conn.send_raw(frame(OP_TEXT, b"frag-1/", fin=False) + frame(OP_PING, b"hi") + frame(0, b"frag-2/", fin=False))
        conn.send_raw(frame(0, b"frag-3", fin=True))
        conn.send_text(big, fragment=70_000)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            conn.poll(0.05)
        server.note(f"pongs:{conn.pings_received}")

    server = Server(script)
    ws = transport.websocket(server.url, timeout=5)
    try:
        assert ws.recv(5) == b'{"a":1}{"b":2}'
        assert ws.recv(5) == b"frag-1/frag-2/frag-3"
        assert ws.recv(5) == big
    finally:
        ws.close()


def test_frames_that_came_with_the_upgrade_answer_are_not_lost(transport):
    # Read by libcurl along with the 101's headers; they must still reach the first recv.
    first = frame(OP_TEXT, b"welcome") + frame(OP_TEXT, b"x" * 300)
    server = Server(echo, with_upgrade=first)
    with transport.websocket(server.url, timeout=5) as ws:
        assert ws.recv(5) == b"welcome"
        assert ws.recv(5) == b"x" * 300
        ws.send_text("then the echo")
        assert ws.recv(5) == b"then the echo"


def test_a_server_ping_is_answered_with_a_pong_of_its_payload(transport):
    pongs = []

    def script(server, conn):
        conn.ping(b"are you there")
        conn.send_text(b"after the ping")
        deadline = time.monotonic() + 5
        while not conn.pongs and time.monotonic() < deadline:
            conn.poll(0.05)
        pongs.extend(conn.pongs)
        conn.send_text(b"done")

    server = Server(script)
    with transport.websocket(server.url, timeout=5) as ws:
        assert ws.recv(5) == b"after the ping"
        assert ws.recv(5) == b"done"
    assert pongs == [b"are you there"]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_messages_of_every_length_encoding_go_both_ways(transport, size):
    # 7-bit, 16-bit and 64-bit payload lengths, at their edges, masked by us and read back.
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    server = Server(echo)
    with transport.websocket(server.url, timeout=5) as ws:
        ws._send_frame(0x2, payload, 5)  # binary: any byte values
        assert ws.recv(5) == payload


@pytest.mark.parametrize(
    "bad,why",
    [
        (b"\x81\x82abcd" + b"hi", "masked"),  # servers must not mask
        (b"\x83\x00", "opcode"),  # an opcode RFC 6455 does not define
        (b"\xc1\x02hi", "extension"),  # RSV1: compression that was never negotiated
        (b"\x09\x00", "control frame"),  # a fragmented ping
    ],
)
def test_a_frame_no_server_may_send_breaks_the_connection(transport, bad, why):
    def script(server, conn):
        conn.send_text(b"fine")
        conn.send_raw(bad)
        conn.poll(2)

    server = Server(script)
    ws = transport.websocket(server.url, timeout=5)
    assert ws.recv(5) == b"fine"
    with pytest.raises(UpstreamConnectionError) as err:
        ws.recv(5)
    assert why in err.value.message and err.value.dropped
    assert ws.closed and transport.pool.websockets == set()


@pytest.fixture(scope="module")
def tls_server_context(tmp_path_factory):
    """A server TLS context with a throwaway self-signed certificate for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def test_frames_travel_through_tls(tls_server_context):
    # The frames pass through libcurl's TLS layer (BoringSSL, as against grok.com): a message
    # spread over many TLS records, several in one record, a ping, all read back whole.
    big = b"t" * 300_000
    pongs = []

    def script(server, conn):
        deadline = time.monotonic() + 5
        got = []
        while not got and time.monotonic() < deadline:
            got = conn.poll(0.05)
        conn.send_text(got[0][1])
        conn.send_text(big)
        conn.send_raw(frame(OP_TEXT, b"a") + frame(OP_TEXT, b"b") + frame(OP_PING, b"tls"))
        while not conn.pongs and time.monotonic() < deadline:
            conn.poll(0.05)
        pongs.extend(conn.pongs)
        conn.send_text(b"done")

    server = Server(script, tls=tls_server_context)
    transport = Transport(connect_timeout=2.0, pool=CurlPool(), verify_tls=False)
    with transport.websocket(server.url, timeout=5) as ws:
        ws.send_text("over tls")
        assert ws.recv(5) == b"over tls"
        assert ws.recv(5) == big
        assert [ws.recv(5), ws.recv(5), ws.recv(5)] == [b"a", b"b", b"done"]
    assert pongs == [b"tls"]
    assert server.url.startswith("wss://")


def test_the_server_closing_is_reported_with_its_code(transport):
    server = Server(echo)
    ws = transport.websocket(server.url, timeout=5)
    ws.send_text("close")
    with pytest.raises(WebSocketClosed) as err:
        ws.recv(5)
    assert err.value.code == 4000 and err.value.reason == "bye"
    assert ws.closed and transport.pool.websockets == set()
    assert err.value.failure_class == gerr.NETWORK and err.value.dropped


def test_a_connection_cut_without_a_close_frame_is_a_dropped_connection(transport):
    def script(server, conn):
        conn.send_text(b"one")
        conn.shutdown()

    server = Server(script)
    ws = transport.websocket(server.url, timeout=5)
    assert ws.recv(5) == b"one"
    with pytest.raises(UpstreamConnectionError) as err:
        ws.recv(5)
    assert err.value.dropped


def test_recv_times_out_without_blocking_the_hub(transport):
    server = Server(echo)
    ws = transport.websocket(server.url, timeout=5)
    ticks = []
    ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.02)) for _ in range(20)])
    started = time.monotonic()
    assert ws.recv(0.3) is None
    waited = time.monotonic() - started
    ticker.join()
    ws.close()
    assert 0.3 <= waited < 3.0  # returned at its timeout, not at the socket's next byte
    assert len(ticks) >= 10, "other greenlets ran while the socket was waited on"


def test_closing_the_socket_is_seen_by_the_server_at_once(transport):
    def script(server, conn):
        conn.send_text(b"hello")
        while True:
            conn.poll(0.01)

    server = Server(script)
    ws = transport.websocket(server.url, timeout=5)
    assert ws.recv(5) == b"hello"
    closed_at = time.monotonic()
    ws.close()
    deadline = time.monotonic() + 3
    while not server.events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.events and server.events[0][0] == "ClientGone"
    assert server.events[0][1] - closed_at < 1.0
    assert transport.pool.multi.active == 0 and transport.pool.websockets == set()


@pytest.mark.parametrize(
    "sent",
    [
        frame(OP_TEXT, b"x" * 5000),
        # a 1 TiB frame, only its header: refused before any payload is waited for or buffered
        b"\x81\x7f" + (1 << 40).to_bytes(8, "big"),
    ],
)
def test_a_message_over_the_limit_closes_the_socket(transport, sent):
    def script(server, conn):
        conn.send_raw(sent)
        conn.poll(5)

    server = Server(script)
    ws = transport.websocket(server.url, timeout=5, max_message_bytes=4096)
    with pytest.raises(MessageTooBig):
        ws.recv(5)
    assert ws.closed


def test_a_long_message_is_sent_whole(transport):
    payload = "z" * 300_000
    server = Server(echo)
    with transport.websocket(server.url, timeout=5) as ws:
        ws.send_text(payload)
        assert ws.recv(5) == payload.encode()


@pytest.mark.parametrize(
    "answer,failure_class",
    [
        (f"HTTP/1.1 403 Forbidden\r\n{CLOUDFLARE_HEADERS}Content-Length: 0\r\n\r\n", gerr.CLOUDFLARE),
        ("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", gerr.AUTH_EXPIRED),
        ("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", gerr.UPSTREAM),
        ("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n", gerr.RATE_LIMITED),
    ],
)
def test_a_refused_upgrade_is_classified_by_its_status(transport, answer, failure_class):
    server = Server(echo, answer=answer.encode())
    with pytest.raises(gerr.UpstreamHTTPError) as err:
        transport.websocket(server.url, timeout=5)
    assert err.value.failure_class == failure_class
    assert "WebSocket upgrade refused" in err.value.message
    assert transport.pool.multi.active == 0


def test_connecting_nowhere_is_a_connection_error(transport):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UpstreamConnectionError) as err:
        transport.websocket(f"ws://127.0.0.1:{port}/ws/mgw/", timeout=5)
    assert not err.value.dropped


def test_an_upgrade_that_never_comes_times_out(transport):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    with pytest.raises(UpstreamTimeout) as err:
        transport.websocket(f"ws://127.0.0.1:{silent.getsockname()[1]}/ws/mgw/", timeout=0.5)
    assert "within 0.5 s" in err.value.message
    assert transport.pool.multi.active == 0
    silent.close()


def test_shutdown_ends_open_sockets_with_its_error(transport):
    server = Server(echo)
    ws = transport.websocket(server.url, timeout=5)
    waiter = gevent.spawn(ws.recv, 10)
    gevent.sleep(0.05)
    assert transport.pool.abort_all(ServerShuttingDown("server shutting down")) == 1
    with pytest.raises(ServerShuttingDown):
        waiter.get(timeout=2)
    with pytest.raises(ServerShuttingDown):
        transport.websocket(server.url, timeout=5)


class ConnectProxy:
    """An HTTP CONNECT proxy thread that records the targets it tunnelled to."""

    def __init__(self):
        self.targets: list[str] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client):
        head = b""
        while b"\r\n\r\n" not in head:
            head += client.recv(4096)
        target = head.split(b" ")[1].decode()
        self.targets.append(target)
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        pair = {client: upstream, upstream: client}
        try:
            while True:
                ready, _, _ = select.select(list(pair), [], [], 5)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()


def test_the_transport_proxy_carries_the_websocket():
    server = Server(echo)
    proxy = ConnectProxy()
    transport = Transport(proxy=proxy.url, connect_timeout=2.0, pool=CurlPool())
    with transport.websocket(server.url, timeout=5) as ws:
        ws.send_text("via proxy")
        assert ws.recv(5) == b"via proxy"
    assert proxy.targets == [f"127.0.0.1:{server.port}"]


def test_close_says_goodbye_with_a_normal_close_frame(transport):
    codes = []

    def script(server, conn):
        conn.send_text(b"hi")
        try:
            while True:
                conn.poll(0.05)
        finally:
            codes.append(conn.client_close_code)

    server = Server(script)
    ws = transport.websocket(server.url, timeout=5)
    assert ws.recv(5) == b"hi"
    ws.close()
    deadline = time.monotonic() + 3
    while not codes and time.monotonic() < deadline:
        time.sleep(0.01)
    assert codes == [1000]
