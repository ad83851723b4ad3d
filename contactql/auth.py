"""Bearer-key authentication for HTTP requests and WebSocket connections.

A key is looked up by its SHA-256 digest. Answers are cached for a few seconds per process
(CONTACTQL_KEY_CACHE_SECONDS, 5), so a busy client costs one lookup per key every `ttl`
seconds rather than one per request; a revoked key stops working within `ttl` seconds. A
key's last-used time is written at most once a minute (docs/operations.md, "API keys").
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from contactql.store.db.database import Database
from contactql.store.workspace.keys import Principal, authenticate, hash_key, publishable_origins, touch_key

log = logging.getLogger("contactql")

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


TOUCH_EVERY_SECONDS = 60.0


class KeyCache:
    def __init__(self, db: Database, *, ttl: float = 5.0, size: int = 10_000) -> None:
        self._db = db
        self._ttl = ttl
        self._size = size
        self._entries: dict[str, tuple[float, Principal | None]] = {}
        self._touched: dict[int, float] = {}
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def ttl(self) -> float:
        return self._ttl

    async def principal(self, header: str | None, *, fresh: bool = False) -> Principal | None:
        """Who `header` (`Bearer <key>`) names, or None; `fresh`: ask the database, not the cache."""
        token = bearer_token(header)
        if token is None:
            return None
        digest = hash_key(token)
        now = time.monotonic()
        cached = self._entries.get(digest)
        if cached is not None and cached[0] > now and not fresh:
            found = cached[1]
        else:
            found = await self._db.read(authenticate, secret=token)
            if len(self._entries) >= self._size:
                self._entries.clear()  # bounded: unknown keys sent in bulk cannot grow memory
            self._entries[digest] = (now + self._ttl, found)
        if found is not None and now - self._touched.get(found.key_id, -TOUCH_EVERY_SECONDS) >= TOUCH_EVERY_SECONDS:
            self._touched[found.key_id] = now
            task = asyncio.create_task(self._db.write(touch_key, key_id=found.key_id))  # not on the request's path
            self._pending.add(task)
            task.add_done_callback(self._touched_or_not)
        return found

    def _touched_or_not(self, task: asyncio.Task[None]) -> None:
        """A last-used time that could not be written (the database busy past its timeout) is
        written at a later request: one warning line, not asyncio's "exception was never
        retrieved" traceback."""
        self._pending.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("an API key's last-used time was not written: %s", type(error).__name__)

    async def close(self) -> None:
        """Let last-used writes still under way finish (the database closes after this)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


class FormOrigins:
    """The origins every live publishable key lists, in any workspace, read again at most every
    `ttl` seconds (CONTACTQL_KEY_CACHE_SECONDS, as keys): a browser on a form's page may ask
    (CORS preflight, WebSocket handshake); the key then decides whether it may be used there."""

    def __init__(self, db: Database, *, ttl: float = 5.0) -> None:
        self._db = db
        self._ttl = ttl
        self._read_at = -float("inf")
        self._lock = asyncio.Lock()
        self.current: frozenset[str] = frozenset()

    async def refresh(self) -> frozenset[str]:
        if time.monotonic() - self._read_at < self._ttl:
            return self.current
        async with self._lock:
            if time.monotonic() - self._read_at >= self._ttl:
                try:
                    self.current = await self._db.read(publishable_origins)
                except Exception:  # keep the last answer: a database hiccup must not refuse every form
                    log.warning("reading the publishable keys' origins failed", exc_info=True)
                self._read_at = time.monotonic()
        return self.current


class FormsCORS(CORSMiddleware):
    """Starlette's CORS with CONTACTQL_CORS_ORIGINS, and besides them the origins of the
    publishable keys (forms on websites are not listed in the server's settings)."""

    def __init__(
        self, app: ASGIApp, forms: FormOrigins, allow_origins: list[str], allow_methods: list[str], allow_headers: list[str], expose_headers: list[str], max_age: int
    ) -> None:
        super().__init__(app, allow_origins=allow_origins, allow_methods=allow_methods, allow_headers=allow_headers, expose_headers=expose_headers, max_age=max_age)
        self.forms = forms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(name == b"origin" for name, _ in scope["headers"]):
            await self.app(scope, receive, send)  # not a browser's cross-origin request: nothing to add
            return
        await self.forms.refresh()
        await super().__call__(scope, receive, send)

    def is_allowed_origin(self, origin: str) -> bool:
        return super().is_allowed_origin(origin) or origin.lower() in self.forms.current
