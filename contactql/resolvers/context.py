"""The per-request context: who calls, the store handles, and this request's DataLoaders.

Loaders are created per request (a loader's cache must not outlive the request that filled
it) and turn N lookups of one kind into one query: 50 contacts with their properties and
lists cost a fixed number of queries, not 2 × 50.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import strawberry
from strawberry.dataloader import DataLoader

from contactql.config import Settings
from contactql.store import companies, contacts, lists
from contactql.store.companies import CompanyRow
from contactql.store.database import Database
from contactql.store.keys import Principal
from contactql.store.lists import ListRow
from contactql.store.properties import FieldSet, load_fields
from contactql.store.writer import UpsertWriter

K = TypeVar("K")
V = TypeVar("V")


@dataclasses.dataclass(slots=True)
class Services:
    """What lives as long as the app: settings, database, the group-commit writer."""

    settings: Settings
    db: Database
    writer: UpsertWriter


class Loaders:
    def __init__(self, db: Database, workspace_id: int) -> None:
        self._db = db
        self._workspace_id = workspace_id
        self._fields: asyncio.Future[FieldSet] | None = None
        self.properties = self._loader(contacts.properties_of_contacts, {})
        self.lists = self._loader(lists.lists_of_contacts, [])
        self.companies = self._loader(companies.companies_of_contacts, [])
        self.urls = self._loader(contacts.urls_of_contacts, [])
        self.list_sizes = self._loader(lists.list_sizes, 0, key="list_ids")

    async def fields(self) -> FieldSet:
        """The workspace's property fields, read once per request however many ask at once."""
        if self._fields is None:
            self._fields = asyncio.ensure_future(self._load_fields())
        return await self._fields

    async def _load_fields(self) -> FieldSet:
        async with self._db.read() as conn:
            return await load_fields(conn, workspace_id=self._workspace_id)

    def _loader(
        self, fetch: Callable[..., Awaitable[dict[K, V]]], default: V, key: str = "contact_ids"
    ) -> DataLoader[K, V]:
        async def load(keys: Sequence[K]) -> list[V]:
            async with self._db.read() as conn:
                found = await fetch(conn, workspace_id=self._workspace_id, **{key: list(keys)})
            return [found.get(key, default) for key in keys]

        return DataLoader(load_fn=load)


@dataclasses.dataclass(slots=True)
class Context:
    services: Services
    principal: Principal
    loaders: Loaders
    request_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:16])

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def workspace_id(self) -> int:
        return self.principal.workspace_id


Info = strawberry.Info[Context, None]

__all__ = ["CompanyRow", "Context", "Info", "ListRow", "Loaders", "Services"]
