"""`contactql import FILE.csv`: the CSV import, run locally, with progress bars.

The file becomes a batch exactly as `importContacts` makes one (store/imports.py), and this
process applies it with the same batch worker as the server — or waits while a server that
shares the database applies it. Then it prints the summary and the first failed rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path

from tqdm import tqdm

from contactql.batch_worker import BatchWorker, ProgressHub
from contactql.config import Settings
from contactql.store import batches, imports
from contactql.store.database import Database
from contactql.store.errors import StoreError
from contactql.store.keys import ensure_workspace
from contactql.store.model import BatchStatus, MatchRule, MatchStrategy, Source, UpsertOptions

# seed 004: externalCustomerId is tried first, then dedupeOn
DEDUPE_RULES = {
    "email": (MatchRule.EXTERNAL_ID, MatchRule.EMAIL),
    "mobile": (MatchRule.EXTERNAL_ID, MatchRule.MOBILE),
    "external-id": (MatchRule.EXTERNAL_ID,),
}
FAILED_SHOWN = 10


class CannotImport(Exception):
    """The file cannot be imported at all; the message says why."""


async def run_import(settings: Settings, path: Path, *, workspace: str, list_name: str | None, dedupe_on: str | None) -> int:
    data = path.read_bytes()
    if len(data) > settings.max_import_mb * 1024 * 1024:
        raise CannotImport(f"{path} is larger than CONTACTQL_MAX_IMPORT_MB ({settings.max_import_mb} MiB)")
    db = Database(settings)
    try:
        await db.migrate()
        with tqdm(desc="validating", unit=" rows", file=sys.stderr) as bar:
            try:
                entries = await asyncio.to_thread(imports.entries, data, bar.update)
            except StoreError as refused:
                raise CannotImport("; ".join(p.message for p in refused.problems)) from None
        match = MatchStrategy(rules=DEDUPE_RULES[dedupe_on]) if dedupe_on else MatchStrategy()
        options = UpsertOptions(match=match, source=Source.CSV_IMPORT, actor="contactql import")
        workspace_id = (await db.write(ensure_workspace, name=workspace)).id
        batch = await db.write(
            batches.accept_import, workspace_id=workspace_id, entries=entries, options=options, list_name=list_name, webhook_url=None
        )
        started = time.monotonic()
        batch = await _apply(db, settings, batch)
        _report(batch, time.monotonic() - started)
        failed = await db.read(
            batches.page_results, workspace_id=workspace_id, batch_id=batch.id, limit=FAILED_SHOWN, after_index=None, outcome=None, failed_only=True
        )
        for result in failed[0]:
            problems = "; ".join(f"{'.'.join(p.path) or 'row'}: {p.message}" for p in result.errors)
            print(f"  {result.client_ref}: {problems}")
        if batch.failed > FAILED_SHOWN:
            print(f"  … and {batch.failed - FAILED_SHOWN} more: query batch(id: \"{batch.id}\") {{ results(failedOnly: true) }}")
        return 0 if batch.status is BatchStatus.COMPLETED else 1
    finally:
        await db.dispose()


async def _apply(db: Database, settings: Settings, batch: batches.BatchRow) -> batches.BatchRow:
    """Apply the batch here while showing its progress (a server on the same database may
    take it first: then this only watches)."""
    worker = BatchWorker(db, settings, ProgressHub(), on_finished=lambda: None)
    work = asyncio.create_task(worker.drain())
    with tqdm(total=batch.total, desc="importing", unit=" contacts", file=sys.stderr) as bar:
        while True:
            batch = await db.read(batches.get_batch, workspace_id=batch.workspace_id, batch_id=batch.id) or batch
            bar.update(batch.processed - bar.n)
            if batch.finished:
                break
            if work.done() and work.exception() is None:
                work = asyncio.create_task(worker.drain())  # in case the batch came back (a lost lease)
            await asyncio.sleep(0.2)
    with contextlib.suppress(asyncio.CancelledError):
        work.cancel()
        await work
    return batch


def _report(batch: batches.BatchRow, seconds: float) -> None:
    rows = [
        ("batch", batch.id), ("status", batch.status.value), ("rows", batch.total), ("created", batch.created),
        ("updated", batch.updated), ("unchanged", batch.unchanged), ("skipped", batch.skipped), ("failed", batch.failed),
        ("seconds", f"{seconds:.1f}"),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
