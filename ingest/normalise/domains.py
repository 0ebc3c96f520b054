"""Normalising the lead's company domain, from its website or its email address."""

from __future__ import annotations

import re
import unicodedata

from ingest.normalise import text
from ingest.normalise.emails import bare_address, is_free_mail

# Far beyond any real value; caps the work a pasted novel can cause in the parsers.
_MAX_WEBSITE_INPUT = 2048
_MAX_HOSTNAME = 253


_SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//")
_AUTHORITY_END = re.compile(r"[/?#\\ ,;]")
_PORT = re.compile(r":\d*$")

# Sites where a URL with a path is somebody's profile page, not the lead's company site.
_PROFILE_HOSTS = frozenset(
    {
        "linkedin.com",
        "facebook.com",
        "instagram.com",
        "twitter.com",
        "x.com",
        "youtube.com",
        "tiktok.com",
        "xing.com",
        "github.com",
        "linktr.ee",
    }
)


def domain(website: str | None, email_address: str | None) -> str | None:
    """The lead's company domain: its website's host, else its email's domain unless that is
    a free-mail provider (gmail.com is not the lead's company)."""
    host = _website_host(website)
    if host is not None:
        return host
    cleaned = text(email_address)
    if cleaned is None or "@" not in cleaned or len(cleaned) > _MAX_WEBSITE_INPUT:
        return None
    host = _plausible_host(bare_address(cleaned).rpartition("@")[2].lower())
    if host is None or is_free_mail(host):
        return None
    return host


def _website_host(website: str | None) -> str | None:
    """The host of a URL or bare hostname, dropping scheme, credentials, port, path, query.
    A profile page (linkedin.com/company/acme) says nothing about the company's own domain."""
    cleaned = text(website)
    if cleaned is None or len(cleaned) > _MAX_WEBSITE_INPUT:
        return None
    rest = _SCHEME.sub("", cleaned.lower())
    authority, *path = _AUTHORITY_END.split(rest, maxsplit=1)
    host = _plausible_host(_PORT.sub("", authority.rpartition("@")[2]))
    if host is None or (path and path[0].strip("/") and _is_profile_host(host)):
        return None
    return host


def _is_profile_host(host: str) -> bool:
    return any(host == p or host.endswith("." + p) for p in _PROFILE_HOSTS)


def _plausible_host(host: str) -> str | None:
    """A lower-case hostname with at least two labels and an alphabetic TLD, without "www."
    prefixes; None for "n/a", "-", "localhost", IP addresses and other things typed into a
    website field."""
    host = unicodedata.normalize("NFC", host).rstrip(".")
    while host.startswith("www.") and "." in host[4:]:
        host = host[4:]
    labels = host.split(".")
    if len(host) > _MAX_HOSTNAME or len(labels) < 2 or not all(map(_is_label, labels)):
        return None
    tld = labels[-1]
    if not (tld.isalpha() and len(tld) >= 2) and not tld.startswith("xn--"):
        return None
    return host


def _is_label(label: str) -> bool:
    return (
        0 < len(label) <= 63
        and not label.startswith("-")
        and not label.endswith("-")
        and all(ch.isalnum() or ch == "-" for ch in label)
        and label == label.lower()
    )
