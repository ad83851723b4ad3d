"""Request ids and log lines: what ties a browser's error to the server's log.

Every HTTP answer and WebSocket handshake carries `X-Request-Id`: the client's own when it sent
a sane one (a proxy's or a frontend's, so both sides name the request alike), else a new one.
While the request runs the id is in a context variable, so every log line it causes carries it
(`RequestIdFilter`), and a masked `INTERNAL` error names it in `extensions.requestId`.

`CONTACTQL_LOG_FORMAT=json` writes one JSON object per line (python-json-logger) for a log
collector; `text`, the default, is for people. uvicorn's own lines go the same way.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from contextvars import ContextVar
from typing import Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
# A client's id is taken as it is only when it cannot forge a log line or a header: printable,
# no spaces, at most 128 characters (a UUID, a W3C trace id, Heroku's or nginx's ids all fit).
SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+/=@-]{0,127}")

REQUEST_ID: ContextVar[str | None] = ContextVar("contactql_request_id", default=None)


def new_request_id() -> str:
    return os.urandom(16).hex()  # as uuid4().hex, without building a UUID on every request


class RequestIds:
    """ASGI middleware, outermost: it names every request, refusals and preflights included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        sent = next((value for name, value in scope["headers"] if name == HEADER.encode()), b"").decode("latin-1")
        request_id = sent if SANE.fullmatch(sent) else new_request_id()
        header = (HEADER.encode(), request_id.encode())

        async def named_send(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, named_send)
        finally:
            REQUEST_ID.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (None outside a request) to every record, and `request_tag` for the
    text format: ` [id]` in a request, nothing outside one (background loops)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        record.request_id = request_id
        record.request_tag = f" [{request_id}]" if request_id else ""
        return True


def configure_logging(level: str, log_format: Literal["text", "json"] = "text") -> None:
    """ContactQL's log lines (webhook attempts, background loops, masked errors) and uvicorn's,
    on stderr at `level`, each with the request id of the request that caused it."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp="time",  # ISO 8601 in UTC
                reserved_attrs=[*RESERVED_ATTRS, "request_tag"],  # the text format's
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(levelname)-9s %(name)s%(request_tag)s: %(message)s"))
    handler.addFilter(RequestIdFilter())
    for name in ("contactql", "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
