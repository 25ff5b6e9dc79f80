"""Webhook target URLs: what is accepted, and which addresses are never called.

A webhook makes this service send requests to a URL the user chose, so a URL that points
inside our own network (loopback, private ranges, link-local metadata endpoints …) would turn
it into a proxy for attackers. The host is resolved and *every* address it resolves to must be
publicly routable. The check runs when a subscription is saved and again before each attempt
(DNS can change in between), and the attempt then connects to the address that was checked.

URLs are parsed with httpx, the client that sends, so the check and the request never
disagree about which host a URL names.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import httpx

from app.kit.errors import Unprocessable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Ranges that ``ipaddress`` (depending on the Python release) may call global although no
# webhook receiver lives there: deprecated site-local, local-use NAT64, documentation, the 6to4
# relay anycast, and the IPv4 "this network" and benchmarking blocks.
_NEVER_PUBLIC: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.IPv6Network("fec0::/10"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("2001:db8::/32"),
    ipaddress.IPv6Network("3fff::/20"),
    ipaddress.IPv6Network("100::/64"),
    ipaddress.IPv4Network("192.88.99.0/24"),
    ipaddress.IPv4Network("0.0.0.0/8"),
    ipaddress.IPv4Network("198.18.0.0/15"),
)
# One answer whatever the host resolved to (or whether it resolved at all), so the check
# cannot be used to learn what internal names exist or where they point.
NOT_PUBLIC = "its host does not resolve to public addresses only"
_SCHEMES = frozenset({"http", "https"})


class UrlNotAllowed(Exception):
    """The URL's host resolves to an address webhooks may not reach (or does not resolve)."""


def address_blocked(ip: IPAddress) -> bool:
    """Whether an address is anything but publicly routable unicast.

    IPv6 forms that embed an IPv4 address (mapped, 6to4, Teredo, NAT64) are judged by the
    IPv4 address they carry as well.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address] = []
        if ip.ipv4_mapped is not None:
            embedded.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            embedded.append(ip.sixtofour)
        if ip.teredo is not None:
            embedded.append(ip.teredo[1])
        if ip in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(address_blocked(v4) for v4 in embedded):
            return True
    site_local = isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local
    return (
        not ip.is_global
        or ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or site_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
        or any(ip in network for network in _NEVER_PUBLIC if network.version == ip.version)
    )


def _invalid(detail: str) -> Unprocessable:
    return Unprocessable(
        detail,
        code="invalid_webhook_url",
        errors=[{"loc": ["body", "url"], "msg": detail, "type": "invalid_webhook_url"}],
    )


def parse(url: str) -> httpx.URL:
    """An absolute http(s) URL with a host, or a 422 ``invalid_webhook_url``."""
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise _invalid("The URL contains whitespace or control characters.")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise _invalid(f"The URL cannot be parsed: {exc}.") from exc
    if parsed.scheme not in _SCHEMES:
        raise _invalid("The URL must start with http:// or https://.")
    if not parsed.host:
        raise _invalid("The URL has no host.")
    return parsed


def resolve(url: httpx.URL) -> list[IPAddress]:
    """Every address the URL's host resolves to; ``UrlNotAllowed`` when it resolves to none
    (with the same message as for a private address)."""
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UrlNotAllowed(NOT_PUBLIC) from exc
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise UrlNotAllowed(NOT_PUBLIC)
    return addresses


def public_addresses(url: httpx.URL) -> list[IPAddress]:
    """The host's addresses, if every one is public; otherwise ``UrlNotAllowed``."""
    addresses = resolve(url)
    if any(address_blocked(ip) for ip in addresses):
        raise UrlNotAllowed(NOT_PUBLIC)
    return addresses


def validate(url: str, *, allow_private: bool) -> str:
    """Check a URL a user wants events sent to; return it as given.

    Not http(s) is a 422 ``invalid_webhook_url``; a host that does not resolve, or resolves to
    an address that is not public, is a 422 ``webhook_url_not_allowed`` (unless private
    targets are allowed, as in development and tests).
    """
    parsed = parse(url)
    if allow_private:
        return url
    try:
        public_addresses(parsed)
    except UrlNotAllowed as exc:
        detail = f"Webhooks cannot be sent to this URL: {exc}."
        raise Unprocessable(
            detail,
            code="webhook_url_not_allowed",
            errors=[{"loc": ["body", "url"], "msg": str(exc), "type": "webhook_url_not_allowed"}],
        ) from exc
    return url


@dataclass(frozen=True)
class Target:
    """Where one attempt connects: the URL to request and the headers/extensions it needs."""

    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, str]


def delivery_target(url: str, *, allow_private: bool) -> Target:
    """Resolve and check the URL right before an attempt; pin the request to that address.

    Connecting to the checked address (instead of letting the client resolve the name again)
    closes the gap a DNS-rebinding attacker would use. ``Host`` and TLS SNI keep the name, so
    virtual hosting and certificate checks work as usual.
    """
    parsed = parse(url)
    if allow_private:
        return Target(parsed, {}, {})
    ip = public_addresses(parsed)[0]
    headers = {"Host": parsed.netloc.decode("ascii")}
    extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
    return Target(parsed.copy_with(host=str(ip)), headers, extensions)
