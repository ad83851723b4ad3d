"""graphql-transport-ws under the same rules as HTTP: the key in connection_init, checked again
while the socket is open; every operation costed and charged to the key's bucket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, cast

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage, Message, SubscribeMessage

from contactql.context import Context, Loaders, Visitor

if TYPE_CHECKING:
    from contactql.view import GraphQLView

log = logging.getLogger("contactql")


class KeyedTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws whose connection_init must carry `{"Authorization": "Bearer <key>"}`.

    The key is checked again before every operation (through the key cache, so at most
    CONTACTQL_KEY_CACHE_SECONDS late) and, while the socket is open, every that many seconds
    (at least 1) against the database: a revoked key's socket is closed with 4403. Every
    operation is costed and charged to the key's bucket, as over HTTP (limits.RateLimit)."""

    view: GraphQLView
    _header: str | None = None
    _watcher: asyncio.Task[None] | None = None

    async def handle_message(self, message: Any) -> None:
        # Strawberry indexes the message: JSON that is not an object (42, null) broke the socket.
        if not isinstance(message, dict):
            await self.handle_invalid_message("WebSocket message must be a JSON object")
            return
        await super().handle_message(cast("Message", message))

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload")
        # Any case, as an HTTP header's name: graphql-ws clients send "authorization" as often.
        header = next((v for k, v in payload.items() if isinstance(k, str) and k.lower() == "authorization"), None) if isinstance(payload, dict) else None
        self._header = header if isinstance(header, str) else None
        principal = await self.view.keys.principal(self._header)
        if principal is None:
            await self.websocket.close(code=4401, reason="Unauthorized")
            return
        socket = getattr(self.websocket, "ws", None)  # Strawberry's ASGI adapter: the Starlette WebSocket
        if not principal.may_call_from(socket.headers.get("origin") if socket is not None else None):
            await self.websocket.close(code=4403, reason="Forbidden: this publishable key is not for this origin")
            return
        self.context.principal = principal
        self.context.loaders = Loaders(self.context.services.db, principal.workspace_id)
        self.context.rate_limit = self.view.rate_limit
        if socket is not None:
            self.context.visitor = Visitor.of(socket)
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._watcher is None:
            self._watcher = asyncio.create_task(self._watch_key(), name="contactql-ws-key")

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # Each operation reads afresh: the connection's context outlives it, its DataLoaders must not.
        if self.connection_acknowledged:
            self.context.loaders = Loaders(self.context.services.db, self.context.principal.workspace_id)
        payload: Any = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str) or not isinstance(message.get("id"), str):
            await self.handle_invalid_message("a subscribe message needs an id and a payload with a query")
            return
        if self.connection_acknowledged:
            if not await self._key_still_valid(fresh=False):
                return
            # A loader's cache must not outlive its operation: a socket runs many.
            self.context.loaders = Loaders(self.context.services.db, self.context.principal.workspace_id)
        await super().handle_subscribe(message)

    async def _key_still_valid(self, *, fresh: bool) -> bool:
        principal = await self.view.keys.principal(self._header, fresh=fresh)
        if principal is None or principal.key_id != self.context.principal.key_id:
            await self.websocket.close(code=4403, reason="Forbidden: the API key was revoked")
            return False
        return True

    async def _watch_key(self) -> None:
        interval = max(1.0, self.view.keys.ttl)
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self._key_still_valid(fresh=True):
                    return
            except Exception:  # a database hiccup must not close a valid socket; try again
                log.warning("re-checking a WebSocket's key failed", exc_info=True)

    async def shutdown(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await super().shutdown()
