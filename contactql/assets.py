"""GraphiQL's files (`/graphiql/…`), cached by browsers for a year and never stale.

The page names each file with its content hash (`/graphiql/contactql.js?v=3f2a…`): a browser
keeps a file fetched under its hash as long as it likes (`immutable`), and a new ContactQL with
a changed file names it by another hash. The page itself, and a file asked for without the
current hash, are revalidated each time (`no-cache`, with StaticFiles' ETag). Starlette's
StaticFiles serves the files; its own hashing (ETag) is per response, not in the URL, which is
what lets a browser skip the request altogether.
"""

from __future__ import annotations

import functools
import hashlib
import re
import urllib.parse
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

PREFIX = "/graphiql/"
FOREVER = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_REFERENCE = re.compile(r'(?P<attribute>href|src)="' + re.escape(PREFIX) + r'(?P<path>[^"?#]+)"')


@functools.cache  # the files do not change while a process runs
def content_hash(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()[:16]


def with_hashes(page: str, directory: Path) -> str:
    """`page` with every `/graphiql/PATH` reference carrying PATH's content hash."""

    def hashed(match: re.Match[str]) -> str:
        path = match["path"]
        return f'{match["attribute"]}="{PREFIX}{path}?v={content_hash(directory / path)}"'

    return _REFERENCE.sub(hashed, page)


class HashedStaticFiles:
    """StaticFiles under `/graphiql`, with the Cache-Control the module docstring describes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.files = StaticFiles(directory=self.directory)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cache_control = FOREVER if self._current(scope) else REVALIDATE

        async def cached_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 304):
                MutableHeaders(scope=message)["Cache-Control"] = cache_control
            await send(message)

        await self.files(scope, receive, cached_send)

    def _current(self, scope: Scope) -> bool:
        asked = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [""])[0]
        file = (self.directory / scope["path"].removeprefix(scope.get("root_path", "")).lstrip("/")).resolve()
        # Only a file inside the folder is hashed: StaticFiles refuses the others (404) itself.
        return bool(asked) and file.is_relative_to(self.directory) and file.is_file() and asked == content_hash(file)
