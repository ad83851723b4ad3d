"""The guard for every URL ContactQL calls (batch webhooks, event endpoints, CSV imports).

https only, and every address the host resolves to must be global: no loopback, private,
link-local (cloud metadata lives there), CGNAT, multicast or reserved ranges, including
IPv4 addresses mapped into IPv6. Checked when the URL is given and again before each call
(DNS can change in between); redirects are never followed. `CONTACTQL_ALLOW_PRIVATE_WEBHOOKS`
lifts the address rule and allows http, for local development and tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

MAX_URL_LENGTH = 2048


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
        return "must be an https URL" if not allow_private else "must be an http(s) URL"
    return None


def _refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


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
        return f"the host {host!r} cannot be resolved"
    addresses = {info[4][0] for info in infos}
    if not addresses or any(_refused(a) for a in addresses):
        return "must not point to a loopback, private, link-local or other non-public address"
    return None


class FetchError(Exception):
    """A file could not be fetched; the message says why, for the client."""


async def fetch(url: str, *, allow_private: bool, max_bytes: int, timeout: float = 60.0) -> bytes:
    """GET `url` (credentials in the URL are sent as Basic auth, seed 004), at most `max_bytes`."""
    if (problem := await problem_with(url, allow_private=allow_private)) is not None:
        raise FetchError(f"url {problem}")
    data = bytearray()
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            async with client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise FetchError(f"the file could not be downloaded: HTTP {response.status_code}")
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise FetchError(f"the file is larger than {max_bytes // (1024 * 1024)} MiB")
    except httpx.HTTPError as error:
        raise FetchError(f"the file could not be downloaded: {type(error).__name__}") from None
    return bytes(data)
