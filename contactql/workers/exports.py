"""Exports: the worker inside `contactql serve` that runs queued export jobs one at a time, and
`contactql export`, which writes one here, to a file or stdout, with a progress bar.

A job is leased (store/workspace/exports.py); the worker counts the contacts, reads them page
by page in the export's order (store/workspace/export_format.py) and appends the file to the
database a megabyte at a time, each append renewing the lease and telling `exportProgress`
subscribers. Memory holds a page and a megabyte, whatever the workspace's size. Stopping gives
the lease back and a restart runs the job again from its start; a database that is away for a
moment leaves the job leased, to be run again when the lease runs out; any other error fails
the job with an incident id the server log names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from contactql.config import Settings
from contactql.store.db.database import Database, is_passing, sqlite_path
from contactql.store.errors import StoreError
from contactql.store.workspace import export_format, exports, keys
from contactql.store.workspace.contacts import count_contacts
from contactql.store.workspace.exports import ExportRow
from contactql.store.workspace.filters import ContactQuery
from contactql.store.workspace.order import ContactOrder, default_order
from contactql.supervise import Clock, Loop, supervised
from contactql.workers.batches import ProgressHub

log = logging.getLogger("contactql.exports")

IDLE_POLL_SECONDS = 1.0
CHUNK_BYTES = 1 << 20


class ExportWorker(Loop):
    def __init__(self, db: Database, settings: Settings, progress: ProgressHub[ExportRow], clock: Clock) -> None:
        super().__init__()
        self._db = db
        self._settings = settings
        self._progress = progress
        self._clock = clock
        self._owner = f"exporter-{uuid.uuid4().hex[:12]}"

    async def run(self) -> None:
        await supervised("export worker", self.step)

    async def step(self) -> None:
        self._idle.begin()
        await self.drain()
        await self._idle.wait(IDLE_POLL_SECONDS)

    async def drain(self) -> None:
        while (job := await self._db.write(exports.claim_next_export, owner=self._owner, lease_seconds=self._settings.lease_seconds, now=self._clock())) is not None:
            await self._work_on(job)

    async def _work_on(self, job: ExportRow) -> None:
        try:
            await self._run(job)
        except exports.LeaseLost:
            log.warning("export %s: lease lost, another process runs it", job.id)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._db.write(exports.release_lease, export_id=job.id, owner=self._owner))
            raise
        except StoreError as error:
            # The workspace changed under the export (a property it filters or orders by was
            # renamed or deleted): the export fails saying so, as its request would be refused now.
            reason = "; ".join(problem.message for problem in error.problems)
            failed = await self._db.write(exports.fail, export_id=job.id, owner=self._owner, error=f"the export's request no longer holds: {reason}", now=self._clock())
            self._progress.publish(failed)
        except Exception as error:
            if is_passing(error):
                raise  # the job stays leased and runs again when the lease runs out
            incident = uuid.uuid4().hex[:12]
            log.error("export %s failed unexpectedly (incident %s)", job.id, incident, exc_info=error)
            failed = await self._db.write(
                exports.fail, export_id=job.id, owner=self._owner, error=f"an unexpected error stopped the export (incident {incident})", now=self._clock()
            )
            self._progress.publish(failed)

    async def _run(self, job: ExportRow) -> None:
        query, order, fields = exports.read_request(job.request)
        workspace_id = job.workspace_id
        cols = await self._db.read(export_format.columns, workspace_id=workspace_id, fields=fields)
        total = await self._db.read(count_contacts, workspace_id=workspace_id, query=query)
        job = await self._db.write(exports.set_total, export_id=job.id, owner=self._owner, total=total)
        self._progress.publish(job)
        buffer = bytearray(export_format.header(cols, job.format))
        seq = rows = 0
        after: list[object] | None = None
        while True:
            data, count, after = await self._db.read(
                export_format.read_page, workspace_id=workspace_id, query=query, order=order, cols=cols, format=job.format, after=after
            )
            buffer += data
            rows += count
            if len(buffer) >= CHUNK_BYTES or after is None:
                job = await self._db.write(
                    exports.append_chunk, export_id=job.id, owner=self._owner, seq=seq, data=bytes(buffer), rows=rows,
                    lease_seconds=self._settings.lease_seconds, now=self._clock(),
                )  # fmt: skip
                self._progress.publish(job)
                seq, rows = seq + 1, 0
                buffer.clear()
            if after is None:
                break
        self._progress.publish(await self._db.write(exports.finish, export_id=job.id, owner=self._owner, now=self._clock()))


class CannotExport(Exception):
    """The export cannot run; the message says why."""


async def run_export(
    settings: Settings,
    open_out: Callable[[], BinaryIO],
    *,
    workspace: str,
    query: ContactQuery,
    order: list[ContactOrder],
    fields: list[str] | None,
    format: str,
) -> int:
    """`contactql export`: the contacts, read here page by page (as the worker does) and
    written to what `open_out()` opens — only once every option has been checked, so a refused
    export never empties the file it was to write; progress on stderr. Returns 0."""
    if settings.database_url.startswith("sqlite") and not await asyncio.to_thread(Path(sqlite_path(settings.database_url)).is_file):
        raise CannotExport(f"no database at {sqlite_path(settings.database_url)}: export reads one, it never makes one")
    db = Database(settings)
    try:
        await db.migrate()
        workspace_id = (await db.read(keys.workspace_named, name=workspace)).id
        order = default_order(query, order)
        await db.read(export_format.check, workspace_id=workspace_id, query=query, order=order, fields=fields)
        cols = await db.read(export_format.columns, workspace_id=workspace_id, fields=fields)
        total = await db.read(count_contacts, workspace_id=workspace_id, query=query)
        out = open_out()
        out.write(export_format.header(cols, format))
        after: list[object] | None = None
        with tqdm(total=total, desc="exporting", unit=" contacts", file=sys.stderr) as bar:
            while True:
                data, count, after = await db.read(
                    export_format.read_page, workspace_id=workspace_id, query=query, order=order, cols=cols, format=format, after=after
                )
                await asyncio.to_thread(out.write, data)
                bar.update(count)
                if after is None:
                    break
        out.flush()
        return 0
    finally:
        await db.dispose()
