"""`contactsChanged`: the workspace's contacts as they are created, updated and deleted, from
any write path and any process (store/workspace/changes.py reads the history as a feed)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncGenerator
from typing import Any

from contactql.context import Info, Loaders
from contactql.resolvers.contacts import refused_as_api_error
from contactql.store.workspace import changes
from contactql.store.workspace.filters import ContactQuery, where_terms

POLL_SECONDS = 0.5


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    kind: str  # CREATED, UPDATED, DELETED
    matches: bool
    contact: dict[str, Any]
    at: dt.datetime


def kind_of(row: dict[str, Any]) -> str:
    if row["deleted_at"] is not None:
        return "DELETED"
    return "CREATED" if row["created_at"] == row["updated_at"] else "UPDATED"


async def contacts_changed(info: Info, query: ContactQuery) -> AsyncGenerator[Change, None]:
    """Every change from now on, in the order they were written, each with whether the contact
    matches `query` after it; checked like a contacts query before the first push.

    A contact created since the subscription began is pushed as CREATED the first time, even
    when it changed again before that push; a deleted one is DELETED and does not match."""
    db, workspace_id = info.context.db, info.context.workspace_id
    await refused_as_api_error(db.read(where_terms, workspace_id, query))  # an unreadable filter is refused at once
    began = dt.datetime.now(dt.UTC)
    feed = changes.Feed(low=await db.read(changes.latest, workspace_id=workspace_id))
    told: set[int] = set()  # contacts created since `began` and pushed already
    while True:
        fresh = await db.read(feed.read, workspace_id=workspace_id, now=dt.datetime.now(dt.UTC))
        for start in range(0, len(fresh), changes.PAGE):
            part = fresh[start : start + changes.PAGE]
            when = dict(part)
            found = await refused_as_api_error(db.read(changes.changed, workspace_id=workspace_id, contact_ids=[cid for cid, _ in part], query=query))
            # A WebSocket's context lives as long as the connection: its DataLoaders would hand
            # every later push the lists and properties they cached for the first one.
            info.context.loaders = Loaders(db, workspace_id)
            for row, matches in found:
                kind = kind_of(row)
                if kind != "DELETED" and row["created_at"] >= began and row["id"] not in told:
                    told.add(row["id"])
                    kind = "CREATED"
                yield Change(kind, matches, row, when[row["id"]])
        if not fresh:
            await asyncio.sleep(POLL_SECONDS)
