"""The guard for every URL ContactQL calls (batch webhooks, event endpoints, CSV imports).

https only, and every address the host resolves to must be global: no loopback, private,
link-local (cloud metadata lives there), CGNAT, multicast or reserved ranges, including
IPv4 addresses mapped into IPv6. Checked when the URL is given and again before each call
(DNS can change in between); redirects are never followed. `CONTACTQL_ALLOW_PRIVATE_WEBHOOKS`
lifts the address rule and allows http, for local development and tests.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

import httpx

MAX_URL_LENGTH = 2048


@functools.cache
def tls() -> ssl.SSLContext:
    """The TLS settings of every outbound call, made once per process: loading the CA bundle
    costs ~40 ms, which httpx would otherwise pay for each client (each app start, each fetch)."""
    return httpx.create_ssl_context()


def client(seconds: float) -> httpx.AsyncClient:
    """An HTTP client for outbound calls: verified TLS, no redirects, no proxy from the environment."""
    return httpx.AsyncClient(timeout=seconds, follow_redirects=False, trust_env=False, verify=tls())
PRIVATE_HINT = "for local development, CONTACTQL_ALLOW_PRIVATE_WEBHOOKS=true allows http and private addresses"


def _syntax_problem(url: str, *, allow_private: bool) -> str | None:
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "is not a URL"
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        return f"must be an https URL ({PRIVATE_HINT})" if not allow_private else "must be an http(s) URL"
    return None


# IANA's special-purpose IPv4 ranges: Python 3.11's `is_global` misses some (192.0.0.0/24…).
_SPECIAL_V4 = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24", "192.168.0.0/16", "192.175.48.0/24",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    )
)  # fmt: skip
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
# IPv6 ranges whose last 32 bits (or, for 6to4, bits 16-48) are an IPv4 address the packet reaches.
_V4_IN_LAST_32 = tuple(ipaddress.ip_network(n) for n in ("::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48"))
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_SPECIAL_V6 = tuple(ipaddress.ip_network(n) for n in ("2001::/23", "2001:db8::/32", "3fff::/20"))


def _refused(address: str) -> bool:
    """Anything but global unicast; an IPv6 address that carries an IPv4 one (mapped,
    compatible, translated, NAT64, 6to4) is judged by that IPv4 address alone."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _V4_IN_LAST_32):
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip in _SIX_TO_FOUR:
            ip = ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
        else:
            return ip not in _GLOBAL_UNICAST_V6 or any(ip in net for net in _SPECIAL_V6) or not ip.is_global
    return not ip.is_global or ip.is_multicast or any(ip in net for net in _SPECIAL_V4)


async def problem_with(url: str, *, allow_private: bool) -> str | None:
    """Why ContactQL will not call `url`, or None when it may."""
    if (problem := _syntax_problem(url, allow_private=allow_private)) is not None:
        return problem
    if allow_private:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return f"names a host that cannot be resolved ({host!r})"
    addresses = {info[4][0] for info in infos}
    if not addresses or any(_refused(str(a)) for a in addresses):
        return f"must point to a public address, not a loopback, private, link-local or other reserved one ({PRIVATE_HINT})"
    return None


class FetchError(Exception):
    """A file could not be fetched; the message says why, for the client."""


async def fetch(url: str, *, allow_private: bool, max_bytes: int, seconds: float = 60.0) -> bytes:
    """GET `url` (credentials in the URL are sent as Basic auth, seed 004), at most `max_bytes`."""
    if (problem := await problem_with(url, allow_private=allow_private)) is not None:
        raise FetchError(f"url {problem}")
    data = bytearray()
    try:
        async with client(seconds) as http:
            async with http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise FetchError(f"the file could not be downloaded: HTTP {response.status_code}")
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise FetchError(f"the file is larger than {max_bytes // (1024 * 1024)} MiB")
    except httpx.HTTPError as error:
        raise FetchError(f"the file could not be downloaded: {type(error).__name__}") from None
    return bytes(data)
