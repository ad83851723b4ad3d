"""contactsChanged: a live list over graphql-transport-ws, fed by every write path and every
process; and the feed it reads (store/workspace/changes.py) against late commits."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import websockets

from contactql.outbound import tls
from contactql.store.workspace import changes
from tests.helpers import serve

CHANGED = "subscription C($f: ContactFilter) { contactsChanged(filter: $f) { type matches at contact { email emailStatus deletedAt lists { name } } } }"
UPSERT = "mutation U($c: ContactInput!) { upsertContact(input: {contact: $c}) { contact { id } userErrors { code } } }"


async def subscribe(base: str, key: str, variables: dict[str, Any], header: str = "Authorization") -> Any:
    socket = await websockets.connect(base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"])
    await socket.send(json.dumps({"type": "connection_init", "payload": {header: f"Bearer {key}"}}))
    assert json.loads(await socket.recv())["type"] == "connection_ack"
    await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": CHANGED, "variables": variables}}))
    return socket


async def ready(socket: Any, base: str, key: str) -> None:
    """Return once the subscription pushes: a probe contact is written until its change arrives
    (the feed starts where the history is when the subscription begins)."""
    async with httpx.AsyncClient(verify=tls(), base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        for attempt in range(50):  # bounded
            await http.post("/graphql", json={"query": UPSERT, "variables": {"c": {"email": "probe@example.com", "firstName": f"p{attempt}"}}})
            try:
                async with asyncio.timeout(0.5):
                    message = json.loads(await socket.recv())
            except TimeoutError:
                continue
            assert message["payload"]["data"]["contactsChanged"]["contact"]["email"] == "probe@example.com", message
            while True:  # the probe's later writes, if any were pushed
                try:
                    async with asyncio.timeout(1.0):
                        json.loads(await socket.recv())
                except TimeoutError:
                    return
    raise AssertionError("the subscription never pushed")


async def pushed(socket: Any, count: int) -> list[dict[str, Any]]:
    out = []
    while len(out) < count:
        async with asyncio.timeout(20):
            message = json.loads(await socket.recv())
        assert message["type"] == "next", message
        out.append(message["payload"]["data"]["contactsChanged"])
    return out


@pytest.mark.system
async def test_every_write_path_and_another_process_is_pushed(database_url: str, tmp_path: Path) -> None:
    url = database_url
    with serve(url) as (base, key, _):
        assert key is not None
        async with httpx.AsyncClient(verify=tls(), base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:

            async def gql(document: str, variables: dict[str, Any]) -> dict[str, Any]:
                body = (await http.post("/graphql", json={"query": document, "variables": variables})).json()
                assert "errors" not in body, body
                return dict(body["data"])

            socket = await subscribe(base, key, {"f": {"emailStatus": "SUBSCRIBED"}})
            try:
                await ready(socket, base, key)
                made = await gql(UPSERT, {"c": {"email": "a@example.com", "emailOptIn": True}})
                created = (await pushed(socket, 1))[0]
                assert created.pop("at").startswith(str(dt.date.today().year))
                assert created == {"type": "CREATED", "matches": True, "contact": {"email": "a@example.com", "emailStatus": "SUBSCRIBED", "deletedAt": None, "lists": []}}
                await gql(UPSERT, {"c": {"email": "a@example.com", "emailStatus": "UNSUBSCRIBED"}})
                left = (await pushed(socket, 1))[0]
                assert (left["type"], left["matches"], left["contact"]["emailStatus"]) == ("UPDATED", False, "UNSUBSCRIBED"), "a contact that stops matching is pushed"
                batch = await gql(
                    "mutation B($c: [ContactInput!]!) { upsertContacts(input: {contacts: $c}) { batch { id } } }",
                    {"c": [{"email": f"b{i}@example.com", "emailOptIn": i % 2 == 0} for i in range(4)]},
                )
                assert batch["upsertContacts"]["batch"]["id"]
                from_batch = await pushed(socket, 4)
                assert sorted((p["contact"]["email"], p["type"], p["matches"]) for p in from_batch) == [
                    ("b0@example.com", "CREATED", True), ("b1@example.com", "CREATED", False),
                    ("b2@example.com", "CREATED", True), ("b3@example.com", "CREATED", False),
                ]  # fmt: skip
                await gql("mutation D($id: ID!) { deleteContact(id: $id) { deletedId } }", {"id": made["upsertContact"]["contact"]["id"]})
                deleted = (await pushed(socket, 1))[0]
                assert deleted["type"] == "DELETED" and deleted["contact"]["deletedAt"] is not None and deleted["matches"] is False, deleted
                # each push reads the contact's relations afresh (a connection's loaders do not cache them)
                for lists in (["VIP"], ["VIP", "News"]):
                    await gql("mutation U($c: ContactInput!) { upsertContact(input: {contact: $c}) { userErrors { code } } }",
                              {"c": {"email": "l@example.com", "emailOptIn": True, "lists": {"add": [{"name": n} for n in lists]}}})
                    change = (await pushed(socket, 1))[0]
                    assert sorted(x["name"] for x in change["contact"]["lists"]) == sorted(lists), change
                assert change["type"] == "UPDATED"
                # another process: `contactql import` on the same database
                csv = tmp_path / "more.csv"
                csv.write_text("email,emailStatus\nc@example.com,SUBSCRIBED\n")
                command = [sys.executable, "-m", "contactql.cli", "import", str(csv), "--database", url]
                done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=120, check=False)
                assert done.returncode == 0, done.stderr
                other = (await pushed(socket, 1))[0]
                assert (other["contact"]["email"], other["type"], other["matches"]) == ("c@example.com", "CREATED", True)
            finally:
                await socket.close()


@pytest.mark.system
async def test_another_workspace_s_changes_never_reach_a_subscriber(database_url: str) -> None:
    url = database_url
    with serve(url) as (base, key, _):
        assert key is not None
        command = [sys.executable, "-m", "contactql.cli", "keys", "create", "--workspace", "other", "--database", url]
        created = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60, check=True)
        other_key = created.stdout.strip().splitlines()[-1]
        socket = await subscribe(base, other_key, {}, header="authorization")  # any case, as HTTP's
        try:
            await ready(socket, base, other_key)
            async with httpx.AsyncClient(verify=tls(), base_url=base, timeout=30) as http:
                for email, with_key in (("mine@example.com", key), ("theirs@example.com", other_key)):
                    body = (await http.post("/graphql", json={"query": UPSERT, "variables": {"c": {"email": email}}}, headers={"Authorization": f"Bearer {with_key}"})).json()
                    assert body["data"]["upsertContact"]["userErrors"] == []
            first = (await pushed(socket, 1))[0]
            assert first["contact"]["email"] == "theirs@example.com", "the other workspace's write, never this one's"
        finally:
            await socket.close()


async def test_the_feed_finds_an_entry_committed_late_and_tells_each_once(app: Any) -> None:
    """PostgreSQL can commit a smaller history id after a larger one was read: the feed reads
    its window again when the window holds more than it has read."""
    db = app.state.services.db
    now = dt.datetime.now(dt.UTC)

    def add(conn: sa.Connection, entry_id: int, contact_id: int, at: dt.datetime) -> None:
        conn.execute(sa.text("INSERT INTO workspace (id, name, webhook_secret, created_at) SELECT 9, 'feed', 'x', :at WHERE NOT EXISTS (SELECT 1 FROM workspace WHERE id = 9)"), {"at": at})
        conn.execute(
            sa.text("INSERT INTO contact (id, workspace_id, email_status, sms_status, confirmed, source, created_at, updated_at) "
                    "SELECT :c, 9, 'NO_MARKETING', 'NO_MARKETING', false, 'API', :at, :at WHERE NOT EXISTS (SELECT 1 FROM contact WHERE id = :c)"),
            {"c": contact_id, "at": at},
        )  # fmt: skip
        conn.execute(
            sa.text("INSERT INTO contact_history (id, contact_id, workspace_id, source, changes, created_at) VALUES (:i, :c, 9, 'API', '[]', :at)"),
            {"i": entry_id, "c": contact_id, "at": at},
        )

    feed = changes.Feed(low=1000)
    await db.write(add, 1002, 500, now)
    assert await db.read(feed.read, workspace_id=9, now=now) == [(500, now)]
    await db.write(add, 1001, 501, now)  # committed after 1002 was read
    await db.write(add, 1003, 500, now)
    assert sorted(await db.read(feed.read, workspace_id=9, now=now)) == [(500, now), (501, now)]
    assert await db.read(feed.read, workspace_id=9, now=now) == [], "each entry once"
    later = now + changes.SETTLE + dt.timedelta(seconds=1)
    assert await db.read(feed.read, workspace_id=9, now=later) == [] and feed.low == 1003 and feed.seen == {}, "settled entries are forgotten"
