"""Which network addresses a server-side fetch may connect to (the SSRF guard's decisions).

Pure: no I/O. A fetch of a client-supplied URL must not reach this server's own network:
loopback, private and link-local ranges, cloud metadata services, multicast and the
reserved/unroutable ranges. IPv6 forms that embed an IPv4 address (IPv4-mapped, 6to4,
NAT64, Teredo) are judged by the address they lead to.

`FETCH_ALLOW_PRIVATE=true` (or an exact host:port in FETCH_PRIVATE_ALLOWLIST) lifts the
refusal for loopback, private, link-local and other non-global unicast ranges, for
deployments that fetch images from an internal server. Metadata services, multicast and
unspecified addresses stay refused whatever the settings: no image lives there.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv6Address

Address = IPv4Address | IPv6Address

# Cloud instance-metadata endpoints (AWS/GCP/Azure/OpenStack, ECS task and EKS pod
# credentials, Alibaba Cloud, AWS IPv6).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "100.100.100.200",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")

# Categories refused even when private addresses are allowed.
ALWAYS_REFUSED = frozenset({"metadata", "multicast", "unspecified"})


def parse(value: str) -> Address | None:
    """An IP address from a literal (IPv6 may be bracketed, a zone id is dropped); None if not one."""
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # (server, client): the client is where traffic goes
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def category(ip: Address) -> str | None:
    """Why `ip` is not a public internet address (None when it is one)."""
    if ip in METADATA_ADDRESSES:
        return "metadata"
    if isinstance(ip, IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return category(inner)
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "non-public"
    return None


def refusal(ip: Address, allow_private: bool = False) -> str | None:
    """The category that makes a connection to `ip` refused, or None when it is allowed."""
    found = category(ip)
    if found is None or (allow_private and found not in ALWAYS_REFUSED):
        return None
    return found
