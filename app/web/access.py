"""Who may reach the server at all: the access mode, browsers' origins, DNS rebinding.

Three modes (Settings.access_mode; docs/security.md):

* `api_key`: clients need a key (app.web.auth); browsers may call from the origins in
  CORS_ORIGINS (default any: a page cannot send the key without the user's help).
* `local` (no API_KEY, the default): the grok.com account is as open as this machine.
  A request is served only when the client is on this machine (the peer address, or
  the address a trusted proxy forwarded, is loopback), it is addressed to a loopback
  name or an IP address (a page whose DNS name was rebound to 127.0.0.1 sends its own
  name), and a browser's Origin is this server's own or one listed in CORS_ORIGINS (a
  page on another site must not use the account through the user's browser).
* `open_network` (no API_KEY, ALLOW_UNAUTHENTICATED_NETWORK=true): any machine that can
  connect is served; browsers' origins are still checked as in `local`.

WebSocket handshakes carry the page's Origin and no CORS preflight guards them, so they
are checked against CORS_ORIGINS in every mode.

Everything here reads only the WSGI environ (headers, peer address): nothing reads the
request body, so the admission layer can ask before it reads one.
"""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import urlsplit

from flask import request

from ..problems import Problem
from ..runtime import settings
from ..settings import Settings, is_loopback_host

FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # Every request asks about the same few peers and hosts: parsing them each time cost tens
    # of microseconds per request. Long values (only hostile ones are) skip the cache.
    return _known_address(value) if len(value) <= 64 else _parse_address(value)


def _parse_address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = value.strip().strip('"')
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # an IPv4 address with a port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


_known_address = functools.lru_cache(maxsize=256)(_parse_address)


@functools.lru_cache(maxsize=16)
def _networks(networks: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(n) for n in networks)


def _trusted(address, networks: tuple[str, ...]) -> bool:
    return address is not None and any(address in network for network in _networks(networks))


def client_address(environ: dict, current: Settings):
    """The client's address: the peer, or, when the peer is a trusted proxy, the nearest
    untrusted address of X-Forwarded-For. None when it cannot be told (a trusted proxy that
    forwarded nothing, or something that is not an address)."""
    peer = _address(environ.get("REMOTE_ADDR") or "")
    if not _trusted(peer, current.trusted_proxies):
        return peer
    hops = [h for h in (environ.get("HTTP_X_FORWARDED_FOR") or "").split(",") if h.strip()]
    address = None
    for hop in reversed(hops):
        address = _address(hop)
        if address is None or not _trusted(address, current.trusted_proxies):
            return address
    return address  # every hop a trusted proxy: the first one is the client (None: nothing forwarded)


def client_is_local(environ: dict, current: Settings) -> bool:
    """Whether the client is on this machine, judged by addresses, never by names."""
    address = client_address(environ, current)
    if address is None or not address.is_loopback:
        return False
    peer = _address(environ.get("REMOTE_ADDR") or "")
    if not _trusted(peer, current.trusted_proxies) and any(environ.get(h) for h in FORWARDING_HEADERS):
        # A proxy on this machine that TRUSTED_PROXIES does not name: its clients may be anywhere.
        return False
    return True


def request_host(environ: dict) -> str:
    """The host name the request was addressed to (lowercase, IPv6 without brackets)."""
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or ""
    try:
        return (urlsplit("//" + host).hostname or "").lower()
    except ValueError:
        return ""


def host_is_trusted(environ: dict, current: Settings) -> bool:
    """A name no web page can rebind: a loopback name, an IP address, or PUBLIC_BASE_URL's host."""
    host = request_host(environ)
    if not host:
        return False
    if is_loopback_host(host) or _address(host) is not None:
        return True
    public = urlsplit(current.public_base_url).hostname if current.public_base_url else None
    return host == (public or "").lower()


def origin_allowed(origin: str, environ: dict, current: Settings) -> bool:
    if "*" in current.cors_origins or origin.rstrip("/") in current.cors_origins:
        return True
    # The server's own pages (the /setup form): same scheme and host, under a name no page can rebind.
    own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
    return origin == own and host_is_trusted(environ, current)


def is_websocket(environ: dict) -> bool:
    return (environ.get("HTTP_UPGRADE") or "").lower() == "websocket"


def refusal(environ: dict, current: Settings) -> Problem | None:
    """Why this request may not be served in the current access mode (None: it may)."""
    mode = current.access_mode
    if mode == "local":
        if not client_is_local(environ, current):
            return Problem(
                403,
                "forbidden",
                "this server has no API key, so it only serves clients on its own machine; "
                "its operator can set API_KEY to serve others (docs/security.md)",
            )
        if not host_is_trusted(environ, current):
            return Problem(
                403,
                "forbidden",
                f"requests addressed to {request_host(environ) or 'this host name'!r} are refused: without an "
                "API key the server answers only localhost, IP addresses and PUBLIC_BASE_URL's host "
                "(a web page could rebind any other name to this machine)",
            )
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None and (mode != "api_key" or is_websocket(environ)):
        if not origin_allowed(origin, environ, current):
            return Problem(
                403,
                "forbidden",
                f"requests from web pages of {origin[:100]!r} are refused: add the origin to CORS_ORIGINS "
                "to allow them" + ("" if mode == "api_key" else " (and set API_KEY: docs/security.md)"),
            )
    return None


def enforce_access() -> None:
    """before_request (first of the access hooks): a 403 problem when `refusal` says so."""
    problem = refusal(request.environ, settings())
    if problem is not None:
        raise problem


def register(app) -> None:
    app.before_request(enforce_access)
