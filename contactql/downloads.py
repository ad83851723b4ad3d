"""GET /exports/{id}: an export's file, with the key that asked for it (any key of its workspace).

The same Bearer-key auth as /graphql; an export of another workspace is not found. The file is
streamed from the database a chunk (about a megabyte) at a time, so a download holds one chunk
in memory whatever its size. It is charged to the key's rate bucket like a request, one unit per
100 kB, and refused with 429 and Retry-After when the bucket is empty.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from contactql.auth import KeyCache
from contactql.limits import TokenBuckets
from contactql.metrics import RATE_LIMITED
from contactql.refusals import refusal, unauthenticated
from contactql.schema.forms import PUBLISHABLE_ONLY
from contactql.store.db.database import Database
from contactql.store.workspace import exports
from contactql.store.workspace.exports import ExportStatus

BYTES_PER_COST = 100_000
MEDIA = {"CSV": ("text/csv; charset=utf-8", "csv"), "NDJSON": ("application/x-ndjson", "ndjson")}


class ExportDownload:
    def __init__(self, db: Database, keys: KeyCache, buckets: TokenBuckets) -> None:
        self.db = db
        self.keys = keys
        self.buckets = buckets

    async def serve(self, request: Request) -> Response:
        principal = await self.keys.principal(request.headers.get("authorization"))
        if principal is None:
            return unauthenticated()
        if principal.is_publishable:
            return refusal(403, PUBLISHABLE_ONLY, code="FORBIDDEN")
        export_id = request.path_params["id"]
        row = await self.db.read(exports.get_export, workspace_id=principal.workspace_id, export_id=export_id[:64])
        if row is None:
            return refusal(404, "no export with this id in this key's workspace", code="NOT_FOUND")
        if row.status is not ExportStatus.COMPLETED:
            why = row.error if row.status is ExportStatus.FAILED else "its file is not written yet: wait for status COMPLETED (export(id) { status } or exportProgress)"
            return refusal(409, f"the export is {row.status.value}: {why}", code="NOT_READY")
        wait, _ = self.buckets.take(principal.key_id, max(1, row.size // BYTES_PER_COST))
        if wait > 0:
            RATE_LIMITED.labels("download").inc()
            response = refusal(429, f"rate limit exceeded: this download costs {max(1, row.size // BYTES_PER_COST)}; retry in {math.ceil(wait)} s", code="RATE_LIMITED")
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        media, extension = MEDIA[row.format]
        headers = {
            "Content-Disposition": f'attachment; filename="contacts-{row.id}.{extension}"',
            "Content-Length": str(row.size),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
        return StreamingResponse(self._chunks(row.id), media_type=media, headers=headers)

    async def _chunks(self, export_id: str) -> AsyncIterator[bytes]:
        seq = 0
        while (data := await self.db.read(exports.read_chunk, export_id=export_id, seq=seq)) is not None:
            yield data
            seq += 1
