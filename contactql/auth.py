"""Bearer-key authentication for HTTP requests and WebSocket connections.

A key is looked up by its SHA-256 digest. Answers are cached for a few seconds per process, so
a busy client costs one lookup per key every `ttl` seconds rather than one per request; a
revoked key therefore stops working within `ttl` seconds (README "API keys").
"""

from __future__ import annotations

import time

from contactql.store.database import Database
from contactql.store.keys import Principal, authenticate, hash_key

MAX_KEY_LENGTH = 200


def bearer_token(header: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` header; None when it is not one."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_KEY_LENGTH or " " in token:
        return None
    return token


class KeyCache:
    def __init__(self, db: Database, *, ttl: float = 5.0, size: int = 10_000) -> None:
        self._db = db
        self._ttl = ttl
        self._size = size
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    async def principal(self, header: str | None) -> Principal | None:
        token = bearer_token(header)
        if token is None:
            return None
        digest = hash_key(token)
        now = time.monotonic()
        cached = self._entries.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await self._db.read(authenticate, secret=token)
        if len(self._entries) >= self._size:
            self._entries.clear()  # bounded: unknown keys sent in bulk cannot grow memory
        self._entries[digest] = (now + self._ttl, found)
        return found
