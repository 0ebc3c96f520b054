"""Outbound URLs that an API caller chooses (the router's webhook subscriptions, set with a
manager key): refuse those that reach the private network, so the router cannot be made to
call the cloud's metadata service or an internal admin port (OWASP API7, SSRF).

`check_public` refuses a URL whose host is, or resolves to, a loopback, private,
link-local, shared, reserved or multicast address. It runs when the URL is set and again
before every delivery (a name may be re-pointed later). A name that does not resolve is
let through: the delivery itself will fail. What remains is the window between the check
and the connection (DNS rebinding); an egress proxy or network policy closes it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class PrivateAddress(ValueError):
    """The URL reaches the private network."""


def _private(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


async def check_public(url: str) -> None:
    """Raise PrivateAddress when `url`'s host is or resolves to a non-public address."""
    host = urlsplit(url).hostname
    if not host:
        raise PrivateAddress("the URL has no host")
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        if _private(literal):
            raise PrivateAddress(f"{host} is not a public address")
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise PrivateAddress(f"{host} is this machine")
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0])
        if _private(address):
            raise PrivateAddress(f"{host} resolves to {address}, which is not a public address")
