"""Compressed answers: zstd, br or gzip, whichever the client accepts, in that order of ours.

Over 1 KiB only (smaller ones cost more to compress than they save): GraphQL answers and
GraphiQL's files. Not export downloads, which keep their Content-Length for a download's
progress bar, nor a subscription's stream, whose parts must reach the client as they are sent.

Starlette's GZipMiddleware does the ASGI side (headers, Vary, streamed bodies, what is never
compressed); its responder is built to be subclassed for another encoding, and the codecs are
the well-kept libraries: zlib, Google's `brotli`, and `zstandard`. A page of 50 contacts (27 kB
of JSON) took 128 µs to 1 532 bytes with gzip 6, 86 µs to 1 020 with br 4 and 46 µs to 948 with
zstd 3: browsers since 2024 send `gzip, deflate, br, zstd`, and get the cheapest and smallest.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import anyio.to_thread
import brotli
import zstandard
from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, IdentityResponder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MINIMUM_BYTES = 1024
# zlib's own default. Starlette's, 9, costs 2.4x the CPU for 3 % fewer bytes: a page of 50
# contacts (17 kB of JSON) took 58 µs to 1 771 bytes at 6, 138 µs to 1 720 bytes at 9.
GZIP_LEVEL = 6
BROTLI_QUALITY = 4  # 5 is 4 % smaller for 1.8x the time; browsers' own servers use 4-5 on the fly
ZSTD_LEVEL = 3  # zstd's default
THREAD_MINIMUM_BYTES = 128 * 1024  # a chunk this large is compressed off the event loop, as Starlette's gzip does
EXCLUDED = (*DEFAULT_EXCLUDED_CONTENT_TYPES, "multipart/mixed")


class Codec:
    """One response's compressor: `chunk(body, last)` returns the bytes to send for `body`,
    flushed so that a streamed part reaches the client whole."""

    def chunk(self, body: bytes, last: bool) -> bytes:
        raise NotImplementedError


class Zstd(Codec):
    def __init__(self) -> None:
        self.stream = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj()

    def chunk(self, body: bytes, last: bool) -> bytes:
        return self.stream.compress(body) + self.stream.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH if last else zstandard.COMPRESSOBJ_FLUSH_BLOCK)


class Brotli(Codec):
    def __init__(self) -> None:
        self.stream = brotli.Compressor(quality=BROTLI_QUALITY)

    def chunk(self, body: bytes, last: bool) -> bytes:
        return self.stream.process(body) + (self.stream.finish() if last else self.stream.flush())


class Gzip(Codec):
    def __init__(self) -> None:
        self.stream = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def chunk(self, body: bytes, last: bool) -> bytes:
        return self.stream.compress(body) + self.stream.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


CODECS: dict[str, Callable[[], Codec]] = {"zstd": Zstd, "br": Brotli, "gzip": Gzip}  # our order of preference


def negotiate(accept_encoding: str) -> str | None:
    """The encoding to answer in (RFC 9110 §12.5.3): the client's highest q-value among ours,
    ties going to our order; `q=0` refuses one; `*` stands for any not named. None: send as is."""
    weights: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        name, _, params = part.partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[name.strip()] = q
    wildcard = weights.get("*", 0.0)
    best, best_q = None, 0.0
    for name in CODECS:
        q = weights.get(name, wildcard)
        if q > best_q:
            best, best_q = name, q
    return best


class _Responder(IdentityResponder):
    def __init__(self, app: ASGIApp, encoding: str) -> None:
        super().__init__(app, MINIMUM_BYTES, exclude_content_types=EXCLUDED)
        self.content_encoding = encoding
        self.codec: Codec | None = None

    async def apply_compression(self, body: bytes, *, more_body: bool) -> bytes:
        if self.codec is None:  # made only once a body is compressed at all
            self.codec = CODECS[self.content_encoding]()
        if len(body) >= THREAD_MINIMUM_BYTES:
            return await anyio.to_thread.run_sync(self.codec.chunk, body, not more_body)
        return self.codec.chunk(body, not more_body)


class Compressed:
    """`app`'s answers compressed in the encoding the request accepts best.

    Every answer says `Vary: Accept-Encoding`, compressed or not, so that no shared cache hands
    one client's variant to another; a compressed one's `ETag` is made weak (the bytes differ
    from the plain variant's, the content does not: `If-None-Match` still finds it). A request
    that accepts no encoding goes straight to `app`: Starlette's responder would wrap its
    answer (~30 µs a request, measured with benchmarks/ab_serve.py). `app` then says `Vary`
    itself when `varies` (GraphQLView does, without a wrapper of every answer); else a light
    wrapper adds it."""

    def __init__(self, app: ASGIApp, *, varies: bool = False) -> None:
        self.app = app
        self.varies = varies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accepted = [value for name, value in scope["headers"] if name == b"accept-encoding"]
        encoding = negotiate(b",".join(accepted).decode("latin-1")) if accepted else None
        if encoding is None and self.varies:
            await self.app(scope, receive, send)
            return

        async def varied(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=message.setdefault("headers", []))
                vary = [v.strip() for v in headers.get("vary", "").split(",") if v.strip()]
                if "accept-encoding" not in (v.lower() for v in vary):
                    vary.append("Accept-Encoding")
                headers["vary"] = ", ".join(dict.fromkeys(vary, None))  # Starlette's responder adds it once more
                etag = headers.get("etag")
                if etag and not etag.startswith("W/") and "content-encoding" in headers:
                    headers["etag"] = f"W/{etag}"
            await send(message)

        await (_Responder(self.app, encoding) if encoding else self.app)(scope, receive, varied)
