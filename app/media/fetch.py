"""Fetching a client-supplied URL (an `image_url` part) safely: the SSRF guard.

For each hop the host name is first put in the one spelling libcurl will use (a Unicode
name converted by UTS #46, as libcurl's IDN support does, so `straße` is `xn--strae-oqa`
and not the `strasse` of Python's IDNA 2003 codec; lowercase; numeric IPv4 forms such as
`0x7f.1` as dotted quads; no trailing dot), and the URL handed to libcurl is rebuilt with
that name, so libcurl never converts anything itself. That name is resolved here (gevent's
cooperative resolver), every address it resolves to is checked (`addresses.refusal`), and
libcurl is told to connect to the vetted address for exactly that name (CURLOPT_RESOLVE),
so a DNS answer that changes between the check and the connection (DNS rebinding) cannot
redirect the fetch. Redirects are followed by hand,
each new hop checked the same way. The body is capped while it streams (per-item limit
and an optional shared budget for the whole request); nothing is trusted from the
response headers except the status, the Location and an early Content-Length refusal.

Transfers go through a `Transport` of their own (no grok.com cookies, no proxy, not even
one from the environment), so it never interferes with the grok.com connections.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence
from urllib.parse import urljoin, urlsplit

import gevent.socket
import idna

from ..grok.errors import GrokError
from ..grok.transport import Transport
from ..web.admission import START_SLOTS
from . import addresses

log = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ACCEPT_IMAGES = "image/avif,image/webp,image/apng,image/png,image/jpeg,image/gif,image/*;q=0.8,*/*;q=0.5"

Resolver = Callable[[str, int], Sequence[str]]


class FetchError(Exception):
    """The URL could not be fetched; `message` is fit for the client."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class FetchRefused(FetchError):
    """The SSRF guard refused the URL or one of its redirects."""


class TooLarge(FetchError):
    pass


@dataclass(frozen=True)
class FetchPolicy:
    allow_private: bool = False
    # Exact "host:port" entries (lowercase, IPv6 in brackets) whose private addresses are allowed.
    allowlist: frozenset[str] = frozenset()
    max_redirects: int = 5
    connect_timeout: float = 10.0
    total_timeout: float = 60.0

    @classmethod
    def from_settings(cls, settings) -> "FetchPolicy":
        return cls(
            allow_private=settings.fetch_allow_private,
            allowlist=frozenset(settings.fetch_private_allowlist),
            connect_timeout=settings.connect_timeout,
        )


class Budget:
    """Bytes left for all fetches of one request (shared by its concurrent fetches)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    def consume(self, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            raise TooLarge(
                f"the request's media exceed the limit of {self.limit} bytes in total (MAX_REQUEST_MEDIA_BYTES)"
            )


@dataclass
class Fetched:
    content: bytes
    url: str
    declared_type: str | None = None
    hops: list[str] = field(default_factory=list)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address of `host` (cooperative under gevent)."""
    with START_SLOTS.released():
        infos = gevent.socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


@dataclass(frozen=True)
class _Hop:
    url: str  # rebuilt with the canonical host: what libcurl is given
    host: str  # canonical (see canonical_host); IPv6 without brackets
    port: int
    netloc_key: str  # "host:port" as FETCH_PRIVATE_ALLOWLIST writes it


# What an ASCII host name may hold once canonical (DNS names with `_` exist in the wild).
_ASCII_NAME = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*$")


def canonical_host(host: str) -> str:
    """`host` as libcurl will look it up and connect to it; raises FetchRefused when no such
    spelling exists (percent escapes, spaces, a Unicode name UTS #46 refuses)."""
    address = addresses.parse(host) if ":" in host else None
    if address is not None:
        return str(address)
    name = host.rstrip(".")
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True, transitional=False).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise FetchRefused("the URL's host is not a valid international domain name") from None
    name = name.lower()
    try:
        # The forms inet_aton reads (127.1, 0x7f.0.0.1, 2130706433), which libcurl normalises the same way.
        return socket.inet_ntoa(socket.inet_aton(name))
    except OSError:
        pass
    if not _ASCII_NAME.match(name) or len(name) > 253:
        raise FetchRefused("the URL's host is not a valid host name")
    return name


def _parse(url: str) -> _Hop:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchRefused("the URL is not valid") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchRefused("only http:// and https:// URLs can be fetched")
    if not parts.hostname:
        raise FetchRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise FetchRefused("URLs with credentials are not fetched")
    scheme = parts.scheme.lower()
    host = canonical_host(parts.hostname)
    shown = f"[{host}]" if ":" in host else host
    authority = shown if port is None else f"{shown}:{port}"
    port = port or (443 if scheme == "https" else 80)
    rebuilt = f"{scheme}://{authority}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
    return _Hop(rebuilt, host, port, f"{shown}:{port}")


class Fetcher:
    def __init__(self, policy: FetchPolicy, transport: Transport | None = None, resolver: Resolver = system_resolver):
        self.policy = policy
        self._transport = transport
        self.resolver = resolver

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            # Its own connection pool, no proxy (not even one from the environment).
            self._transport = Transport(connect_timeout=self.policy.connect_timeout, proxy="", kind="fetch")
        return self._transport

    def vet(self, hop: _Hop) -> str:
        """The address to connect to for `hop`; raises FetchRefused if any of its addresses is refused."""
        allow = self.policy.allow_private or hop.netloc_key in self.policy.allowlist
        literal = addresses.parse(hop.host)
        if literal is not None:
            found = [literal]
        else:
            try:
                found = [addresses.parse(a) for a in self.resolver(hop.host, hop.port)]
            except (OSError, UnicodeError) as exc:
                raise FetchError(f"cannot resolve {hop.host} ({exc.__class__.__name__})") from None
            found = [a for a in found if a is not None]
            if not found:
                raise FetchError(f"cannot resolve {hop.host}")
        for address in found:
            reason = addresses.refusal(address, allow)
            if reason is not None:
                # Refusing when ANY address is bad: the connection must not depend on which one is picked.
                raise FetchRefused(f"refused to fetch from {hop.host}: it resolves to a {reason} address ({address})")
        return str(found[0])

    def fetch(self, url: str, max_bytes: int, budget: Budget | None = None, accept: str = ACCEPT_IMAGES) -> Fetched:
        deadline = time.monotonic() + self.policy.total_timeout
        hops: list[str] = []
        current = url
        for _ in range(self.policy.max_redirects + 1):
            hop = _parse(current)
            current = hop.url
            address = self.vet(hop)
            hops.append(current)
            pin = (
                ()
                if addresses.parse(hop.host) is not None
                else (f"{hop.host}:{hop.port}:{'[' + address + ']' if ':' in address else address}",)
            )
            headers = [
                ("accept", accept),
                ("sec-fetch-dest", "image"),
                ("sec-fetch-mode", "no-cors"),
                ("sec-fetch-site", "cross-site"),
                ("upgrade-insecure-requests", None),
                ("sec-fetch-user", None),
            ]
            try:
                upstream = self.transport.stream(
                    "GET", current, headers, None, idle_timeout=self._left(deadline), resolve=pin
                )
            except GrokError as exc:
                raise FetchError(f"cannot fetch {hop.host}: {exc.message}") from None
            with upstream:
                if upstream.status in REDIRECT_STATUSES:
                    location = upstream.headers.get("location")
                    if not location:
                        raise FetchError(f"{hop.host} answered {upstream.status} without a Location")
                    try:
                        current = urljoin(current, location.strip())
                    except ValueError:
                        raise FetchError(f"{hop.host} redirected to an invalid URL") from None
                    continue
                if not upstream.ok:
                    raise FetchError(f"{hop.host} answered HTTP {upstream.status}")
                content = self._read(upstream, hop, max_bytes, budget, deadline)
                return Fetched(content, current, upstream.headers.get("content-type"), hops)
        raise FetchError(f"more than {self.policy.max_redirects} redirects")

    @staticmethod
    def _left(deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchError("the fetch took too long")
        return left

    def _read(self, upstream, hop: _Hop, max_bytes: int, budget: Budget | None, deadline: float) -> bytes:
        declared = upstream.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise TooLarge(f"{hop.host} sends {declared} bytes, over the limit of {max_bytes}")
        parts: list[bytes] = []
        size = 0
        try:
            for chunk in upstream.chunks():
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"the content from {hop.host} exceeds the limit of {max_bytes} bytes")
                if budget is not None:
                    budget.consume(len(chunk))
                parts.append(chunk)
                self._left(deadline)
        except GrokError as exc:
            raise FetchError(f"fetching from {hop.host} failed: {exc.message}") from None
        return b"".join(parts)
