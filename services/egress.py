"""Outbound URLs that an API caller chooses (the router's webhook subscriptions, set with a
manager key; a source's `api_base_url`, set with an admin key): refuse those that reach the
private network, so Leadfarm cannot be made to call the cloud's metadata service or an
internal admin port (OWASP API7, SSRF).

`check_public` refuses a URL whose host is, or resolves to, a loopback, private,
link-local, shared, reserved or multicast address, and one whose host does not resolve at
all (what it would reach cannot be shown to be public; a name that starts resolving later,
perhaps privately, is checked again then). It runs when the URL is set and again before
every request (a name may be re-pointed later): `refuse_private` is an httpx request hook
for the clients that make them. What remains is the window between the check and the
connection (DNS rebinding); an egress proxy or network policy closes it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class PrivateAddress(ValueError):
    """The URL reaches the private network, or cannot be shown not to."""


class RefusedRequest(httpx.RequestError):
    """A request `refuse_private` stopped before it was sent; an httpx error, so callers
    that retry a failed request retry this one (the name may be re-pointed)."""


def _private(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


async def resolve(host: str) -> list[str]:
    """The addresses `host` resolves to (tests replace this: there is no DNS in CI)."""
    found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(sockaddr[0]) for *_, sockaddr in found]


async def check_public(url: str) -> None:
    """Raise PrivateAddress when `url`'s host is or resolves to a non-public address, or
    does not resolve."""
    try:
        host = urlsplit(url).hostname
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise PrivateAddress(f"the URL cannot be read ({exc})") from exc
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
        found = await resolve(host)
    except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
        raise PrivateAddress(
            f"{host} does not resolve, so it cannot be shown to be a public address"
        ) from exc
    if not found:
        raise PrivateAddress(f"{host} resolves to no address")
    for text in found:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone
        if _private(address):
            raise PrivateAddress(f"{host} resolves to {address}, which is not a public address")


async def refuse_private(request: httpx.Request) -> None:
    """An httpx request hook: `check_public` before every request the client sends."""
    try:
        await check_public(str(request.url))
    except PrivateAddress as exc:
        raise RefusedRequest(f"refused: {exc}", request=request) from exc
