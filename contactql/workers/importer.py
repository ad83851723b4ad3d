"""CSV and NDJSON imports: the preparation `importContacts` and `contactql import` share, and the command.

`prepare` reads the header (refusing a file no row of which could be written before reading
any row), creates the missing properties when asked, and validates every row — the one way a
file becomes batch items. `contactql import FILE.csv` then applies the batch here, with the
same batch worker as the server (or waits while a server that shares the database applies
it), and prints a summary, the failed rows grouped by reason with a hint, and the first ones.

Exit codes: 0 every row was written (or was already as given, or skipped on purpose); 1 the
import ran and some rows failed (see the summary); 2 nothing was imported: the file, its
header or an option was refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

from graphql import GraphQLInputType
from tqdm import tqdm

from contactql.config import Settings
from contactql.store.batches import csv as imports
from contactql.store.batches import parts, results
from contactql.store.batches import queue as batches
from contactql.store.db.database import Database
from contactql.store.errors import ErrorCode, Invalid, StoreError
from contactql.store.model import BatchStatus, MatchRule, MatchStrategy, Outcome, Source, UpsertOptions
from contactql.store.values import country_code_problem
from contactql.store.workspace import keys, lists, properties
from contactql.workers import ndjson
from contactql.workers.batches import BatchWorker, ProgressHub

log = logging.getLogger("contactql.import")
# seed 004: externalCustomerId is tried first, then dedupeOn
DEDUPE_RULES = {
    "email": (MatchRule.EXTERNAL_ID, MatchRule.EMAIL),
    "mobile": (MatchRule.EXTERNAL_ID, MatchRule.MOBILE),
    "external-id": (MatchRule.EXTERNAL_ID,),
}
FAILED_SHOWN = 10
PROGRESS_SECONDS = 0.2  # how often the progress bar is brought up to date while a batch is applied
EXIT_OK, EXIT_ROWS_FAILED, EXIT_REFUSED = 0, 1, 2
# What to do about the commonest reasons rows fail, as the command line says it.
HINTS = {
    ErrorCode.INVALID_PHONE: "give --default-country (or a country column) for national numbers",
    ErrorCode.IDENTITY_REQUIRED: "these rows have no email, mobile or externalId",
    ErrorCode.INVALID_EMAIL: "these addresses are not valid",
}
SKIP_HINTS = {  # the engine's own words say what an API client sends; this command has no such option
    ErrorCode.CONTACT_DELETED: "these contacts are deleted: restore them (restoreContacts) and import again",
    ErrorCode.SUPPRESSED: "erased on request: they come back with the person's fresh consent, or an admin key's overrideSuppression",
}

Run = Callable[..., Awaitable[Any]]


class CannotImport(Exception):
    """The file cannot be imported at all; the message says why."""


@dataclasses.dataclass(frozen=True, slots=True)
class Prepared:
    header: imports.Header
    created: tuple[str, ...]  # properties created for unknown columns
    entries: list[dict[str, Any]]  # a CSV file's; a streamed NDJSON file's are stored as they are read
    rows: int


async def prepare(db: Database, run: Run, *, workspace_id: int, data: bytes, default_country: str | None, create_missing: bool) -> Prepared:
    """The file's batch items; raises Invalid when the file cannot be imported at all.
    `run(fn, *args)` runs the CPU-heavy validation (in the helper process, or a thread)."""
    names = await db.read(properties.property_names, workspace_id=workspace_id)
    header = await asyncio.to_thread(imports.read_header, data, names)
    created: tuple[str, ...] = ()
    if create_missing and header.unknown:
        if problems := imports.missing_property_problems(header.unknown):
            raise Invalid(*problems)
        fields = await db.write(properties.create_text_fields, workspace_id=workspace_id, names=header.unknown)
        created = tuple(f.name for f in fields)
        header = header.with_created(header.unknown)
    entries = await run(imports.entries, data, header, default_country)
    return Prepared(header, created, entries, len(entries))


async def receive_ndjson(
    db: Database,
    stream: BinaryIO,
    contact_type: GraphQLInputType,
    *,
    workspace_id: int,
    options: UpsertOptions,
    list_name: str | None,
    webhook_url: str | None,
    default_country: str | None,
    lease_seconds: float,
    on_row: Callable[[], None] | None = None,
) -> tuple[batches.BatchRow, Prepared]:
    """An NDJSON file, streamed into one batch (store/batches/parts.py): read and validated a
    part at a time on a thread (the GraphQL type its lines are checked against does not travel
    to the helper process) while the part before is stored, so memory holds two parts, not the
    file. The batch is QUEUED once the whole file is in; a file refused midway (Invalid: a NUL
    byte, not UTF-8) or a reader stopped leaves nothing: its batch goes."""
    reader = ndjson.Reader(contact_type, default_country, on_row)
    pieces = reader.parts(stream)
    owner = f"import-{uuid.uuid4().hex[:12]}"
    batch: batches.BatchRow | None = None
    heartbeat: asyncio.Task[None] | None = None
    try:
        piece = await asyncio.to_thread(next, pieces, None)
        while piece is not None:
            following = asyncio.ensure_future(asyncio.to_thread(next, pieces, None))
            try:
                if batch is None:
                    batch = await db.write(
                        batches.accept_import, workspace_id=workspace_id, entries=piece, options=options, list_name=list_name,
                        webhook_url=webhook_url, reader=(owner, lease_seconds),
                    )  # fmt: skip
                    heartbeat = asyncio.create_task(_keep_lease(db, batch.id, owner, lease_seconds))
                else:
                    # Not waiting for the disk: queue_batch's COMMIT does, and the log is written in order.
                    await db.write_redoable(parts.append, batch_id=batch.id, owner=owner, entries=piece, lease_seconds=lease_seconds)
            finally:
                piece = await following  # the thread finishes its part either way: never two at once
        if batch is None:
            raise Invalid.at(("file",), ndjson.NO_LINES)
        await db.write(parts.queue_batch, batch_id=batch.id, owner=owner, list_name=list_name)
    except BaseException:
        # Also with no batch yet: a reader stopped during accept_import's write (the write goes
        # on in the writer's thread, the abandon is queued behind it there).
        with contextlib.suppress(Exception):
            await asyncio.shield(db.write(parts.abandon, owner=owner))
        raise
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
    queued = await db.read(batches.get_batch, workspace_id=workspace_id, batch_id=batch.id)
    assert queued is not None
    return queued, Prepared(reader.header(), (), [], reader.rows)


async def _keep_lease(db: Database, batch_id: str, owner: str, lease_seconds: float) -> None:
    """Renew a reader's lease while it reads (a part of slow lines may take longer than the
    lease); ends when the lease is lost."""
    while True:
        await asyncio.sleep(lease_seconds / 3)
        try:
            if not await db.write(parts.renew, batch_id=batch_id, owner=owner, lease_seconds=lease_seconds):
                return
        except Exception:
            log.exception("import %s: renewing the reader's lease failed", batch_id)


async def run_import(
    settings: Settings,
    path: Path,
    *,
    workspace: str,
    list_name: str | None,
    dedupe_on: str | None,
    default_country: str | None = None,
    create_properties: bool = False,
    format: str | None = None,
    contact_type: Callable[[], GraphQLInputType] | None = None,
) -> int:
    """`format`: "csv" or "ndjson"; None, by the file (workers/ndjson.is_ndjson). `contact_type`:
    the schema's ContactInput, which NDJSON lines are checked against (the command builds it)."""
    if default_country is not None and (why := country_code_problem(default_country)) is not None:
        raise CannotImport(f"--default-country: {why}")
    if list_name is not None:
        try:
            lists.checked_name(list_name)
        except Invalid as refused:
            raise CannotImport(f"--list: the list's name {refused.problems[0].message}") from None
    with path.open("rb") as stream:  # peeked, not read: a pipe (/dev/stdin) cannot go back
        as_ndjson = format == "ndjson" if format is not None else ndjson.is_ndjson(path.name, stream.peek(ndjson.SNIFF)[: ndjson.SNIFF])
        if as_ndjson and create_properties:
            raise CannotImport("--create-properties is for a CSV file's columns; an NDJSON line names its properties as a batch item does")
        if as_ndjson and contact_type is None:
            raise CannotImport("an NDJSON file needs the schema's ContactInput to check its lines against")
        # An NDJSON file is streamed (memory holds a part of it, whatever its size); a CSV file is
        # read whole, so CONTACTQL_MAX_IMPORT_MB bounds it.
        data = b"" if as_ndjson else await asyncio.to_thread(stream.read, settings.max_import_mb * 1024 * 1024 + 1)
        if len(data) > settings.max_import_mb * 1024 * 1024:
            raise CannotImport(f"{path} is larger than CONTACTQL_MAX_IMPORT_MB ({settings.max_import_mb} MiB)")
        db = Database(settings)
        try:
            await db.migrate()
            workspace_id = (await db.write(keys.ensure_workspace, name=workspace)).id
            country = default_country.upper() if default_country else await db.read(keys.default_country, workspace_id=workspace_id)
            match = MatchStrategy(rules=DEDUPE_RULES[dedupe_on]) if dedupe_on else MatchStrategy()
            options = UpsertOptions(match=match, source=Source.CSV_IMPORT, actor="contactql import")
            with tqdm(desc="validating", unit=" rows", file=sys.stderr) as bar:

                async def validate(fn: Callable[..., Any], *args: Any) -> Any:
                    return await asyncio.to_thread(fn, *args, bar.update)

                try:
                    if contact_type is not None and as_ndjson:
                        batch, prepared = await receive_ndjson(
                            db, stream, contact_type(), workspace_id=workspace_id, options=options, list_name=list_name, webhook_url=None,
                            default_country=country, lease_seconds=settings.lease_seconds, on_row=bar.update,
                        )  # fmt: skip
                    else:
                        prepared = await prepare(db, validate, workspace_id=workspace_id, data=data, default_country=country, create_missing=create_properties)
                        batch = await db.write(
                            batches.accept_import, workspace_id=workspace_id, entries=prepared.entries, options=options, list_name=list_name, webhook_url=None
                        )
                except StoreError as refused:
                    raise CannotImport("; ".join(p.message for p in refused.problems)) from None
            started = time.monotonic()
            batch = await _apply(db, settings, batch)
            _report(batch, prepared, time.monotonic() - started)
            await _report_failures(db, batch)
            not_written = await _report_skipped(db, batch)
            return EXIT_OK if batch.status is BatchStatus.COMPLETED and batch.failed == 0 and not not_written else EXIT_ROWS_FAILED
        finally:
            await db.dispose()


async def _apply(db: Database, settings: Settings, batch: batches.BatchRow) -> batches.BatchRow:
    """Apply the batch here while showing its progress (a server on the same database may
    take it first: then this only watches)."""
    worker = BatchWorker(db, settings, ProgressHub(), on_finished=lambda: None)
    work = asyncio.create_task(worker.drain())
    try:
        with tqdm(total=batch.total, desc="importing", unit=" contacts", file=sys.stderr) as bar:
            while True:
                now = await db.read(batches.get_batch, workspace_id=batch.workspace_id, batch_id=batch.id)
                batch = now or batch
                bar.update(batch.processed - bar.n)
                if batch.finished:
                    break
                if work.done():
                    if (error := work.exception()) is not None:
                        print(f"contactql import: applying the batch stopped ({type(error).__name__}); trying again", file=sys.stderr)
                    work = asyncio.create_task(worker.drain())  # the batch came back (a lost lease) or the worker stopped
                    await asyncio.sleep(PROGRESS_SECONDS)  # a batch another process holds is watched, not raced for
                else:
                    await asyncio.wait({work}, timeout=PROGRESS_SECONDS)  # done: the batch is read again at once
    finally:
        # Also when stopped (Ctrl-C): the worker finishes its chunk and gives the lease back
        # before the database closes, so a server or the next import resumes the batch at once.
        with contextlib.suppress(asyncio.CancelledError):
            work.cancel()
            await work
    return batch


def _report(batch: batches.BatchRow, prepared: Prepared, seconds: float) -> None:
    header = prepared.header
    rows = [
        ("batch", batch.id), ("status", batch.status.value), ("delimiter", header.shown_delimiter), ("rows", batch.total),
        ("created", batch.created), ("updated", batch.updated), ("unchanged", batch.unchanged), ("skipped", batch.skipped),
        ("failed", batch.failed), ("seconds", f"{seconds:.1f}"),
    ]  # fmt: skip
    if batch.error:
        rows.insert(2, ("error", batch.error))
    if prepared.created:
        rows.append(("new properties", ", ".join(prepared.created)))
    if header.unknown:
        rows.append(("ignored columns", ", ".join(header.unknown) + " (neither contact fields nor properties; --create-properties creates them)"))
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


def _print_groups(title: str, groups: list[results.FailureGroup], hints: dict[ErrorCode, str]) -> None:
    """Rows grouped by reason: code, field, how many, a hint, and an example."""
    print(f"\n{title}")
    for group in groups:
        field = ".".join(group.field) or "row"
        hint = hints.get(group.code)
        print(f"  {group.code.value} {field}  {group.count:,}".replace(",", " ") + (f"  — {hint}" if hint else ""))
        print(f"      e.g. {group.example_ref}: {group.example_message}")


async def _report_failures(db: Database, batch: batches.BatchRow) -> None:
    if not batch.failed:
        return
    groups = await db.read(results.failure_groups, workspace_id=batch.workspace_id, batch_id=batch.id)
    _print_groups("why rows failed (a row with several problems counts under each):", groups, HINTS)
    failed = await db.read(
        results.page_results, workspace_id=batch.workspace_id, batch_id=batch.id, limit=FAILED_SHOWN, after_index=None, outcome=None, failed_only=True
    )
    print("\nthe first rows that failed:")
    for result in failed[0]:
        problems = "; ".join(f"{'.'.join(p.path)}: {p.message}" if p.path else p.message for p in result.errors)
        print(f"  {result.client_ref}: {problems}")
    if batch.failed > FAILED_SHOWN:
        print(f'  … and {batch.failed - FAILED_SHOWN} more: query batch(id: "{batch.id}") {{ results(failedOnly: true) }}')


async def _report_skipped(db: Database, batch: batches.BatchRow) -> int:
    """Rows skipped for a reason — an erased person's identity (SUPPRESSED), a deleted contact —
    were not written either: said as failures are. Returns how many."""
    if not batch.skipped:
        return 0
    groups = await db.read(results.failure_groups, workspace_id=batch.workspace_id, batch_id=batch.id, outcome=Outcome.SKIPPED)
    if not groups:
        return 0
    _print_groups("why rows were skipped, not written:", groups, SKIP_HINTS)
    skipped, _ = await db.read(
        results.page_results, workspace_id=batch.workspace_id, batch_id=batch.id, limit=FAILED_SHOWN, after_index=None, outcome=Outcome.SKIPPED, failed_only=False
    )
    print("\nthe first rows skipped:")  # the reasons' words are above: a row's code and field here
    for result in skipped:
        problems = "; ".join(f"{p.code.value} {'.'.join(p.path) or 'row'}" for p in result.errors) or "skipped as the match options ask"
        print(f"  {result.client_ref}: {problems}")
    if batch.skipped > FAILED_SHOWN:
        print(f'  … and {batch.skipped - FAILED_SHOWN} more: query batch(id: "{batch.id}") {{ results(outcome: SKIPPED) }}')
    return sum(group.count for group in groups)
