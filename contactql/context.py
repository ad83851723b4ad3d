"""The per-request context: who calls, the store handles, and this request's DataLoaders —
the base module the schema types and the resolvers both import (neither imports the other's
internals through it). `ApiError` lives here for the same reason: both raise it.

Loaders are created per request (a loader's cache must not outlive the request that filled
it) and turn N lookups of one kind into one query: 50 contacts with their properties and
lists cost a fixed number of queries, not 2 × 50.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import strawberry
from graphql import GraphQLError
from starlette.requests import HTTPConnection
from strawberry.dataloader import DataLoader

from contactql.config import Settings
from contactql.metrics import RATE_LIMITED
from contactql.observe import REQUEST_ID, new_request_id
from contactql.persisted import TrustedDocuments
from contactql.runtime import Helper
from contactql.store.batches.queue import BatchRow
from contactql.store.db.database import Database
from contactql.store.upsert.writer import UpsertWriter
from contactql.store.workspace import consents, contacts, lists
from contactql.store.workspace.bulk_jobs import BulkJobRow
from contactql.store.workspace.companies import CompanyRow
from contactql.store.workspace.consents import ConsentRow
from contactql.store.workspace.exports import ExportRow
from contactql.store.workspace.keys import Principal
from contactql.store.workspace.lists import ListRow
from contactql.store.workspace.properties import FieldSet
from contactql.workers.batches import ProgressHub

if TYPE_CHECKING:
    from contactql.limits import FormLimits

K = TypeVar("K")
V = TypeVar("V")


class ApiError(GraphQLError):
    """A deliberate GraphQL error, for what is not about the data (a read-only key calling a
    mutation, a page size out of range); `code` becomes `extensions.code`. Problems with the
    data are `userErrors` instead (schema/errors.py)."""

    def __init__(self, message: str, code: str = "INVALID_INPUT", **extensions: Any) -> None:
        super().__init__(message, extensions={"code": code, **extensions})


@dataclasses.dataclass(slots=True)
class Services:
    """What lives as long as the app: settings, database, the group-commit writer, the helper
    process for CPU-heavy validation, and the background workers' hooks (wake the batch,
    export and bulk workers, progress for subscribers)."""

    settings: Settings
    db: Database
    writer: UpsertWriter
    helper: Helper
    progress: ProgressHub[BatchRow]
    wake_batches: Callable[[], None]
    export_progress: ProgressHub[ExportRow] = dataclasses.field(default_factory=ProgressHub)
    wake_exports: Callable[[], None] = lambda: None
    bulk_progress: ProgressHub[BulkJobRow] = dataclasses.field(default_factory=ProgressHub)
    wake_bulk: Callable[[], None] = lambda: None
    trusted: TrustedDocuments | None = None  # CONTACTQL_TRUSTED_DOCUMENTS (persisted.py)
    form_limits: FormLimits | None = None  # publishable keys' per-IP and per-form buckets (limits.py)
    forget_documents: Callable[[int], None] = lambda workspace_id: None  # the view's persisted queries of a workspace (an erasure)


class Loaders:
    def __init__(self, db: Database, workspace_id: int) -> None:
        self._db = db
        self._workspace_id = workspace_id
        self._fields: asyncio.Future[FieldSet] | None = None

    # Created on first use: most requests (an upsert) need none of them.
    @functools.cached_property
    def properties(self) -> _Relation[dict[str, str]]:
        return _Relation(self._relations, "properties")

    @functools.cached_property
    def lists(self) -> _Relation[list[ListRow]]:
        return _Relation(self._relations, "lists")

    @functools.cached_property
    def companies(self) -> _Relation[list[CompanyRow]]:
        return _Relation(self._relations, "companies")

    @functools.cached_property
    def urls(self) -> _Relation[list[tuple[str, str, str | None]]]:
        return _Relation(self._relations, "urls")

    @functools.cached_property
    def _relations(self) -> DataLoader[tuple[str, int], Any]:
        """A contact's properties, lists, companies and URLs asked for in one tick — an upsert's
        answer asks for all four — read in one transaction on the database's thread (and the
        property fields with them, when this request has not read those yet), not one each:
        a trip to that thread costs more CPU than these reads."""

        async def load(keys: Sequence[tuple[str, int]]) -> list[Any]:
            wanted: dict[str, list[int]] = {}
            for name, cid in keys:
                wanted.setdefault(name, []).append(cid)
            catalog = self._db.catalog if "properties" in wanted and self._fields is None else None
            found, fields = await self._db.read(contacts.relations_by_name, workspace_id=self._workspace_id, wanted=wanted, catalog=catalog)
            if fields is not None and self._fields is None:
                self._fields = asyncio.get_running_loop().create_future()
                self._fields.set_result(fields)
            return [found[name][cid] if cid in found[name] else contacts.NO_RELATION[name].copy() for name, cid in keys]  # its own empty value: a caller may add to it

        return DataLoader(load_fn=load)

    @functools.cached_property
    def consents(self) -> DataLoader[int, list[ConsentRow]]:
        return self._loader(functools.partial(consents.consents_of, latest=consents.MAX_SHOWN), [])

    @functools.cached_property
    def list_sizes(self) -> DataLoader[str, int]:
        return self._loader(lists.list_sizes, 0, key="list_ids")

    async def fields(self, *wanted: tuple[str | None, str | None]) -> FieldSet:
        """The workspace's property fields, read once per request however many ask at once;
        `wanted` (id, name) pairs missing from it are looked up again (see store/upsert/cache.py)."""
        if self._fields is None:
            self._fields = asyncio.ensure_future(self._db.read(self._db.catalog.fields, self._workspace_id))
        fields = await self._fields
        if any(fields.find(field_id, name) is None for field_id, name in wanted):
            fields = await self._db.read(self._db.catalog.fields, self._workspace_id, wanted)
        return fields

    def _loader(self, fetch: Callable[..., dict[K, V]], default: V, key: str = "contact_ids") -> DataLoader[K, V]:
        async def load(keys: Sequence[K]) -> list[V]:
            found = await self._db.read(fetch, workspace_id=self._workspace_id, **{key: list(keys)})
            return [found.get(key, default) for key in keys]

        return DataLoader(load_fn=load)


class _Relation(Generic[V]):
    """One relation of the shared relations loader, loaded by contact id."""

    __slots__ = ("_loader", "_name")

    def __init__(self, loader: DataLoader[tuple[str, int], Any], name: str) -> None:
        self._loader, self._name = loader, name

    def load(self, contact_id: int) -> Awaitable[V]:
        return self._loader.load((self._name, contact_id))


def _header(connection: HTTPConnection, name: str, limit: int) -> str | None:
    value = connection.headers.get(name)
    if not value:
        return None
    with contextlib.suppress(UnicodeError):  # Starlette reads headers as Latin-1; browsers send UTF-8
        value = value.encode("latin-1").decode("utf-8")
    return "".join(c for c in value if c.isprintable())[:limit] or None


@dataclasses.dataclass(frozen=True, slots=True)
class Visitor:
    """Who sent a request, as its transport tells: the client's IP (the connection's, or
    `X-Forwarded-For`'s from a trusted proxy), its User-Agent and Referer (the page a form was
    on), bounded and without control characters. A form's consent evidence (and per-IP
    limits) come from here."""

    ip: str | None = None
    user_agent: str | None = None
    referer: str | None = None

    @classmethod
    def of(cls, connection: HTTPConnection) -> Visitor:
        client = connection.client
        return cls(canonical_ip(client.host if client else None), _header(connection, "user-agent", 500), _header(connection, "referer", 2048))


def canonical_ip(host: str | None) -> str | None:
    """One spelling per address (so one bucket and one evidence value): lower-case, zeros
    compressed, an IPv4-mapped IPv6 address as IPv4, no zone. None for what is not an IP address (a
    trusted proxy's `X-Forwarded-For` saying `unknown`, a Unix socket)."""
    try:
        ip = ipaddress.ip_address((host or "").split("%", 1)[0])  # an IPv6 zone (`%eth0`) names no host
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


@dataclasses.dataclass
class Context:
    services: Services
    principal: Principal
    loaders: Loaders
    response: Any = None  # the HTTP sub-response (status, headers); None on a WebSocket
    rate_limit: Any = None  # the process's TokenBuckets (contactql/limits.py)
    visitor: Visitor = Visitor()

    @property
    def client_ip(self) -> str | None:
        return self.visitor.ip

    def over_limit(self, error: ApiError) -> ApiError:
        """A rate limit's refusal of this request: counted, over HTTP 429 with Retry-After."""
        RATE_LIMITED.labels("http" if self.response is not None else "websocket").inc()
        if self.response is not None:
            self.response.status_code = 429
            self.response.headers["Retry-After"] = str((error.extensions or {}).get("retryAfter", 1))
        return error

    @functools.cached_property
    def request_id(self) -> str:
        """Names this request in an error and in the server log: its `X-Request-Id`
        (observe.py); a new one where no middleware named it (a context made in a test)."""
        return REQUEST_ID.get() or new_request_id()

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def workspace_id(self) -> int:
        return self.principal.workspace_id


Info = strawberry.Info[Context, None]

__all__ = ["ApiError", "Context", "Info", "Loaders", "Services", "Visitor"]
