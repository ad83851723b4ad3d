"""Retention (issue 22): housekeeping erases contacts deleted longer ago than
CONTACTQL_RETENTION_DAYS, with their history and events, and webhook deliveries delivered a week
ago — in slices, with the time moved by the housekeeper's injectable clock."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa

from contactql.config import Settings
from contactql.store.db.tables import batch_part_t, contact_t, event_t, history_t, webhook_delivery_t, workspace_t
from contactql.store.model import Scope
from contactql.store.workspace import retention
from contactql.workers.housekeeping import Housekeeper
from tests.conftest import running
from tests.helpers import Api

DELETE = "mutation D($id: ID!) { deleteContact(id: $id) { deletedId } }"


def later(days: float) -> Any:
    return lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=days)


async def rows(app: Any, table: sa.Table) -> int:
    def count(conn: sa.Connection) -> int:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)

    return int(await app.state.services.db.read(count))


async def contacts_with_events(api: Api, emails: list[str]) -> list[str]:
    """Contacts, each with an event (onCreate) and a history entry; their ids."""
    ids = []
    for email in emails:
        made = await api.gql(
            "mutation U($input: UpsertContactInput!) { upsertContact(input: $input) { contact { id } } }",
            {"input": {"contact": {"email": email}, "events": {"onCreate": ["contactCreated"]}}},
        )
        ids.append(made["upsertContact"]["contact"]["id"])
    return ids


async def test_deleted_contacts_are_erased_after_the_retention_days_with_their_history_and_events(settings: Settings) -> None:
    async with running(settings, scope=Scope.ADMIN, retention_days=30) as (app, api):
        kept, gone, live = await contacts_with_events(api, ["kept@example.com", "gone@example.com", "live@example.com"])
        await api.gql(DELETE, {"id": gone})
        await api.gql(DELETE, {"id": kept})
        db = app.state.services.db
        # 29 days on: both deleted contacts are still there, and one comes back
        assert await Housekeeper(db, later(29), retention_days=30).sweep() == 0
        await api.gql('mutation { upsertContact(input: {contact: {email: "kept@example.com"}, restoreDeleted: true}) { outcome } }')
        assert (await rows(app, contact_t), await rows(app, event_t)) == (3, 3)
        # 31 days on: the one still deleted is erased, history and events too
        assert await Housekeeper(db, later(31), retention_days=30).sweep() == 1
        assert await rows(app, contact_t) == 2 and await rows(app, event_t) == 2
        remaining = await api.gql("{ contacts(first: 10) { edges { node { id } } } }")
        assert sorted(e["node"]["id"] for e in remaining["contacts"]["edges"]) == sorted([kept, live])

        def history_of(conn: sa.Connection) -> list[int]:
            return list(conn.scalars(sa.select(history_t.c.contact_id).distinct()))

        assert sorted(map(str, await db.read(history_of))) == sorted([kept, live])


async def test_without_a_retention_setting_deleted_contacts_stay(settings: Settings) -> None:
    async with running(settings, scope=Scope.ADMIN) as (app, api):
        [gone] = await contacts_with_events(api, ["stays@example.com"])
        await api.gql(DELETE, {"id": gone})
        assert await Housekeeper(app.state.services.db, later(3650), retention_days=settings.retention_days).sweep() == 0
        assert await rows(app, contact_t) == 1


async def test_retention_erases_in_slices(settings: Settings) -> None:
    """Each call erases a slice in its own short transaction; a sweep goes on until a slice comes back short."""
    async with running(settings, scope=Scope.WRITE, retention_days=1) as (app, api):
        for i in range(retention.SLICE * 2 + 50):
            await api.upsert({"email": f"bulk{i}@example.com"})
        await api.upsert({"email": "alive@example.com"})

        def delete_bulk(conn: sa.Connection) -> int:
            return conn.execute(sa.update(contact_t).where(contact_t.c.email.like("bulk%")).values(deleted_at=dt.datetime.now(dt.UTC))).rowcount

        assert await app.state.services.db.write(delete_bulk) == retention.SLICE * 2 + 50
        db = app.state.services.db
        # one call, one transaction: a slice at most
        assert await db.write(retention.purge_deleted, now=later(2)(), days=1) == retention.SLICE
        assert await Housekeeper(db, later(2), retention_days=1).sweep() == retention.SLICE + 50
        assert await rows(app, contact_t) == 1


async def test_delivered_webhooks_leave_the_outbox_after_a_week_and_others_stay(settings: Settings) -> None:
    async with running(settings, scope=Scope.ADMIN, workers=False) as (app, api):  # no sweep but this test's
        workspace = await app.state.services.db.read(lambda conn: conn.scalar(sa.select(workspace_t.c.id).where(workspace_t.c.name == "default")))
        now = dt.datetime.now(dt.UTC)

        def outbox(conn: sa.Connection) -> None:
            rows = [
                ("delivered-old", "DELIVERED", now - dt.timedelta(days=8)),
                ("delivered-new", "DELIVERED", now - dt.timedelta(days=1)),
                ("failed-old", "FAILED", None),
                ("pending", "PENDING", None),
            ]
            conn.execute(sa.insert(webhook_delivery_t), [
                {"id": f"{name}-{uuid.uuid4().hex[:8]}", "workspace_id": int(workspace), "url": "https://example.com/hook", "payload": "{}", "status": status,
                 "attempts": 1, "next_attempt_at": delivered or now - dt.timedelta(days=30), "created_at": now - dt.timedelta(days=30), "delivered_at": delivered}
                for name, status, delivered in rows
            ])  # fmt: skip

        await app.state.services.db.write(outbox)
        assert await Housekeeper(app.state.services.db).sweep() == 1

        def left(conn: sa.Connection) -> list[str]:
            return sorted(i.rsplit("-", 1)[0] for i in conn.scalars(sa.select(webhook_delivery_t.c.id)))

        assert await app.state.services.db.read(left) == ["delivered-new", "failed-old", "pending"]


async def test_a_finished_batchs_items_go_after_a_day_and_its_results_stay(settings: Settings) -> None:
    async with running(settings, scope=Scope.WRITE, workers=False) as (app, api):
        submit = "mutation S($input: UpsertContactsInput!) { upsertContacts(input: $input) { batch { id } } }"
        done = (await api.gql(submit, {"input": {"contacts": [{"email": f"p{i}@example.com"} for i in range(5)]}}))["upsertContacts"]["batch"]["id"]
        await app.state.batch_worker.drain()
        waiting = (await api.gql(submit, {"input": {"contacts": [{"email": "later@example.com"}]}}))["upsertContacts"]["batch"]["id"]
        db = app.state.services.db
        assert await Housekeeper(db, later(0.5)).sweep() == 0  # a day has not passed
        assert await Housekeeper(db, later(2)).sweep() == 1

        def payloads(conn: sa.Connection) -> list[str]:
            return list(conn.scalars(sa.select(batch_part_t.c.batch_id)))

        assert await db.read(payloads) == [waiting]  # not finished: kept to be applied
        results = await api.gql("query B($id: ID!) { batch(id: $id) { status created results(first: 10) { edges { node { outcome } } } } }", {"id": done})
        assert results["batch"]["status"] == "COMPLETED" and results["batch"]["created"] == 5 and len(results["batch"]["results"]["edges"]) == 5
