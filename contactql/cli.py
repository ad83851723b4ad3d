"""The `contactql` command: serve, keys, import, export, db, schema.

Every command that takes `--database` creates or migrates the database first, but `db backup`
and `db restore`, which copy it as it is. Output meant for scripts is on stdout (a new key is
alone on the last line); notes go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from contactql.config import ConfigError, Settings, load_settings
from contactql.observe import configure_logging
from contactql.runtime import tune_gc
from contactql.store.db import backup, migrate
from contactql.store.db.database import UNAVAILABLE, Database, shown_url, sqlite_path
from contactql.store.errors import StoreError
from contactql.store.model import Scope
from contactql.store.workspace.keys import FormKey, first_start_key, list_keys, new_key, revoke_key

INITIAL_KEY_NAME = "initial-admin"


async def _prepare(settings: Settings) -> Database:
    db = Database(settings)
    await db.migrate()
    return db


async def _write(settings: Settings, fn: Any, **kwargs: Any) -> Any:
    """Create or migrate the database, then run one store function in a write transaction."""
    db = await _prepare(settings)
    try:
        return await db.write(fn, **kwargs)
    finally:
        await db.dispose()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from contactql.app import create_app

    configure_logging(args.log_level, settings.log_format)
    _check_port_free(args.host, args.port)  # before a first-start key is printed for a server that cannot start
    app = create_app(settings)  # so too a setting it refuses (trusted documents, tracing without its extra)
    # On first start (no key at all): workspace `default` and one admin key, shown once.
    key = asyncio.run(_write(settings, first_start_key, name=INITIAL_KEY_NAME))
    # Notes on stderr, as log lines when the log is JSON (a collector reads every line of it);
    # the key alone on stdout either way, never in a log.
    note = logging.getLogger("contactql.serve").info if settings.log_format == "json" else functools.partial(print, file=sys.stderr)
    if key is not None:
        note("First start: created workspace 'default' and this admin API key (shown once):")
        print(key, flush=True)
    note(f"ContactQL on http://{args.host}:{args.port}/graphql ({shown_url(settings.database_url)})")
    tune_gc()
    # log_config=None: uvicorn's lines go through configure_logging's handler (one format, request ids).
    # proxy_headers=False: uvicorn would trust X-Forwarded-For from 127.0.0.1 (FORWARDED_ALLOW_IPS);
    # the app trusts it from CONTACTQL_TRUSTED_PROXIES only, however it is served.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False, log_config=None, proxy_headers=False)
    return 0


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: only a listener is in the way
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigError(f"cannot listen on {host}:{port} ({error.strerror}): another server runs there, or give --port") from None


def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    scope = Scope(args.scope)
    form = FormKey(tuple(args.origin or ()), args.form, args.thank_you)
    key = asyncio.run(_write(settings, new_key, workspace=args.workspace, scope=scope, name=args.name, form=form))
    article = "an" if args.scope[0] in "aeiou" else "a"
    print(f"Created {article} {args.scope} key for workspace {args.workspace!r}:", file=sys.stderr)
    if scope is Scope.PUBLISHABLE:
        print("It runs subscribeContact and confirmContact only, from the origins given: safe to put in a web page.", file=sys.stderr)
    print(key)
    return 0


STOPPED = (
    "contactql import: stopped. A file still being read was discarded (nothing of it applied); "
    "a batch being applied goes on where it was when a server or another import on this database takes it."
)
EXIT_STOPPED = 130  # as a shell reports a command stopped by Ctrl-C (launch.py too, before this module is in)


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from contactql.workers.importer import EXIT_REFUSED, CannotImport, run_import

    configure_logging("warning", settings.log_format)
    tune_gc(collect=False)
    try:
        return asyncio.run(
            run_import(
                settings,
                Path(args.file),
                workspace=args.workspace,
                list_name=args.list,
                dedupe_on=args.dedupe_on,
                default_country=args.default_country,
                create_properties=args.create_properties,
                format=args.format,
                contact_type=_contact_input,
            )
        )
    except (CannotImport, OSError) as error:
        print(f"contactql import: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        print(STOPPED, file=sys.stderr)
        return EXIT_STOPPED


def _contact_input() -> Any:
    """The schema's ContactInput, which an NDJSON file's lines are checked against."""
    from contactql.schema.inputs import contact_input_type

    return contact_input_type()


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from contactql.schema.json_inputs import contacts_request
    from contactql.workers.exports import CannotExport, run_export

    configure_logging("warning", settings.log_format)
    try:
        filter_json = None if args.filter_json is None else json.loads(args.filter_json)
        order_json = None if args.order_json is None else json.loads(args.order_json)
        query, order = contacts_request(filter_json, args.search, order_json)
    except json.JSONDecodeError as error:
        print(f"contactql export: --filter-json and --order-json take JSON: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"contactql export: {error}", file=sys.stderr)
        return 2
    fields = None if args.fields is None else [f.strip() for f in args.fields.split(",") if f.strip()]
    try:
        with contextlib.ExitStack() as stack:

            def open_out() -> BinaryIO:  # opened (and so emptied) once the export is known to run
                return sys.stdout.buffer if args.output in (None, "-") else stack.enter_context(open(args.output, "wb"))

            return asyncio.run(run_export(settings, open_out, workspace=args.workspace, query=query, order=order, fields=fields, format=args.format.upper()))
    except (OSError, CannotExport) as error:
        print(f"contactql export: {error}", file=sys.stderr)
        return 2
    except StoreError as error:
        print(f"contactql export: {error}", file=sys.stderr)
        return 2


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = asyncio.run(_write(settings, list_keys, workspace=args.workspace))
    table = [("workspace", "name", "scope", "origins", "created", "last used", "revoked")]
    table += [(r.workspace, r.name, r.scope, ",".join(json.loads(r.origins)) if r.origins else "-", _when(r.created_at), _when(r.last_used_at), _when(r.revoked_at)) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _when(moment: Any) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def cmd_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    count = asyncio.run(_write(settings, revoke_key, workspace=args.workspace, key=args.key))
    if count == 0:
        print(f"contactql: no active key {args.key!r} in workspace {args.workspace!r}", file=sys.stderr)
        return 1
    print(f"Revoked {count} key(s); running servers refuse them within CONTACTQL_KEY_CACHE_SECONDS.", file=sys.stderr)
    return 0


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    async def upgrade() -> str | None:
        db = Database(settings)
        try:
            return await db.migrate()
        finally:
            await db.dispose()

    print(f"Database at revision {asyncio.run(upgrade())} (newest: {migrate.head()}).")
    return 0


def cmd_db_current(args: argparse.Namespace, settings: Settings) -> int:
    async def current() -> str | None:
        db = Database(settings)
        try:
            return await db.read(migrate.current)
        finally:
            await db.dispose()

    revision = asyncio.run(current())
    print(revision or "none (an empty database: `contactql db upgrade` creates the schema)")
    return 0


def _sqlite_file(settings: Settings, what: str) -> Path:
    if settings.dialect != "sqlite":
        raise ConfigError(f"`contactql db {what}` is for SQLite; back up PostgreSQL with pg_dump and restore with pg_restore (docs/operations.md, \"Backups\")")
    return Path(sqlite_path(settings.database_url)).expanduser().resolve()


def _size(size: int) -> str:
    return f"{size / 1_048_576:.1f} MiB" if size >= 1_048_576 else f"{size / 1024:.0f} KiB"


def cmd_db_backup(args: argparse.Namespace, settings: Settings) -> int:
    database = _sqlite_file(settings, "backup")
    print(f"Backing up {database}…", file=sys.stderr)
    made = backup.backup(database, Path(args.file).expanduser().resolve())
    print(f"Backed up to {made.path}: {_size(made.size)}, {made.contacts} contacts, schema {made.revision}, integrity checked.", file=sys.stderr)
    return 0


def cmd_db_restore(args: argparse.Namespace, settings: Settings) -> int:
    database = _sqlite_file(settings, "restore")
    made = backup.restore(Path(args.file).expanduser().resolve(), database)
    print(f"Restored {database} from {args.file}: {made.contacts} contacts, schema {made.revision}, integrity checked.", file=sys.stderr)
    if made.kept is not None:
        print(f"The database it replaced is kept at {made.kept}.", file=sys.stderr)
    return 0


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    from contactql.schema.root import export_sdl

    sys.stdout.write(export_sdl())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="contactql", description="A GraphQL API for contact upserts.")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_database(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--database", help="database URL (default: $CONTACTQL_DATABASE_URL or ./contactql.db)")
        return p

    serve = with_database(commands.add_parser("serve", help="create or migrate the database and serve GraphQL"))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(run=cmd_serve)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = with_database(keys.add_parser("create", help="create an API key (printed alone on the last line)"))
    create.add_argument("--workspace", default="default", help="workspace name (created if needed)")
    create.add_argument("--scope", default="write", choices=[s.value for s in Scope])
    create.add_argument("--name", help="a name for the key, shown as Contact.createdBy")
    create.add_argument("--origin", action="append", help="publishable keys: an origin its form is on (https://www.example.com); repeat for more")
    create.add_argument("--form", help="publishable keys: the form it is for, recorded with each subscription")
    create.add_argument("--thank-you", metavar="URL", help="publishable keys: the page (on one of its origins) GET /confirm sends a visitor to once confirmed")
    create.set_defaults(run=cmd_keys_create)
    listing = with_database(keys.add_parser("list", help="list keys: names, scopes, created and last-used times (never the secret)"))
    listing.add_argument("--workspace", help="only this workspace")
    listing.set_defaults(run=cmd_keys_list)
    revoke = with_database(keys.add_parser("revoke", help="revoke a key, given by its name or by the key itself"))
    revoke.add_argument("key", help="the key's name, or the key")
    revoke.add_argument("--workspace", default="default", help="the key's workspace")
    revoke.set_defaults(run=cmd_keys_revoke)

    importing = with_database(
        commands.add_parser(
            "import",
            help="import a CSV or NDJSON file as a batch, here, with a progress bar",
            description="Import a CSV or NDJSON file as a batch. Exit status: 0 every row written; 1 some rows failed or were skipped for a reason (the summary says why); "
            "2 nothing imported (the file, its header or an option was refused).",
        )
    )
    importing.add_argument(
        "file", help="a UTF-8 CSV file (comma, semicolon or tab) whose first row names the columns, or an NDJSON file: one ContactInput object a line"
    )
    importing.add_argument("--format", choices=["csv", "ndjson"], type=str.lower, help="default: NDJSON for a .ndjson or .jsonl file or one whose first character is {, else CSV")
    importing.add_argument("--workspace", default="default", help="workspace name (created if needed)")
    importing.add_argument("--list", help="add every contact to this list (created if needed)")
    importing.add_argument("--dedupe-on", choices=["email", "mobile", "external-id"], help="match existing contacts by externalId, then by this")
    importing.add_argument("--default-country", metavar="CC", help="ISO 3166 country (e.g. NO) of phone numbers written without one")
    importing.add_argument(
        "--create-properties", action="store_true", help="create a TEXT property for each column that is neither a field nor a property"
    )
    importing.set_defaults(run=cmd_import)

    exporting = with_database(
        commands.add_parser(
            "export",
            help="export contacts to CSV or NDJSON on stdout (or --output), with a progress bar",
            description="Export contacts, read here from the database. The CSV imports back unchanged (contactql import). "
            "Exit status: 0 written; 2 refused (an option, a filter, a field).",
        )
    )
    exporting.add_argument("--format", default="csv", choices=["csv", "ndjson"], type=str.lower)
    exporting.add_argument("--workspace", default="default", help="workspace name")
    exporting.add_argument("--filter-json", metavar="JSON", help='a ContactFilter as JSON, e.g. \'{"emailStatus": "SUBSCRIBED"}\'')
    exporting.add_argument("--search", help="as contacts(search:)")
    exporting.add_argument("--order-json", metavar="JSON", help='[ContactOrder] as JSON, e.g. \'[{"field": "LAST_NAME"}]\'')
    exporting.add_argument("--fields", help="comma-separated fields and property names (default: the importable fields, then every property)")
    exporting.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    exporting.set_defaults(run=cmd_export)

    db = commands.add_parser("db", help="database schema migrations, backups").add_subparsers(dest="db_command", required=True)
    with_database(db.add_parser("upgrade", help="apply every pending migration")).set_defaults(run=cmd_db_upgrade)
    with_database(db.add_parser("current", help="print the database's schema revision")).set_defaults(run=cmd_db_current)
    backing = with_database(db.add_parser("backup", help="copy a live SQLite database to FILE, consistent and checked, without stopping writes"))
    backing.add_argument("file", help="the backup to write (a new file)")
    backing.set_defaults(run=cmd_db_backup)
    restoring = with_database(
        db.add_parser("restore", help="replace the SQLite database with a backup; refused while anything uses it, and the replaced one is kept")
    )
    restoring.add_argument("file", help="a backup made by `contactql db backup`")
    restoring.set_defaults(run=cmd_db_restore)

    schema = commands.add_parser("schema", help="print the GraphQL schema (SDL)")
    schema.set_defaults(run=cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a mistake (a setting, a database that cannot be reached, a refused
    value) is one line on stderr and exit status 2, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        try:
            settings = settings.with_database(getattr(args, "database", None))
        except ConfigError as error:
            raise ConfigError(str(error).replace("CONTACTQL_DATABASE_URL", "--database")) from None
        return int(args.run(args, settings))
    except (ConfigError, StoreError) as error:
        print(f"contactql: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        if error.name == "asyncpg":
            print("contactql: a PostgreSQL database needs the postgres extra: pip install -e '.[postgres]' (or contactql[postgres])", file=sys.stderr)
            return 2
        raise
    except UNAVAILABLE as error:
        where = shown_url(settings.database_url) if "settings" in locals() else "the database"
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        print(f"contactql: cannot use the database at {where}: {reason}", file=sys.stderr)
        return 2



if __name__ == "__main__":
    raise SystemExit(main())
