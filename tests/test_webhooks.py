"""Batch webhooks: outbox, Standard Webhooks signatures, retries, against a real receiver."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from contactql.app import create_app
from contactql.config import Settings
from contactql.outbound import tls
from contactql.store.model import Scope
from tests.conftest import TestClock, make_key, running
from tests.helpers import Api, query
from tests.test_batches import status, submit


async def wait_webhook(api: Api, batch_id: str, wanted: str, within: float = 20) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        webhook = (await api.gql("query W($id: ID!) { batch(id: $id) { webhook { url status attempts lastError deliveredAt } } }", {"id": batch_id}))["batch"]["webhook"]
        if webhook["status"] == wanted:
            return webhook
        assert asyncio.get_running_loop().time() < deadline, webhook
        await asyncio.sleep(0.05)


async def attempted(hook: Any, calls: int) -> None:
    for _ in range(1000):  # bounded: 10 s
        if len(hook.calls) >= calls:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(hook.calls)} calls, waiting for {calls}")


async def test_a_signed_webhook_is_retried_until_the_receiver_accepts_it(live: tuple[Any, Api, str], receiver: Any, clock: TestClock) -> None:
    app, api, secret = live
    hook = await receiver([500, 503, 204])
    existing = await api.upsert({"email": "old@example.com"})
    contacts = [{"email": "new@example.com"}, {"email": "old@example.com"}, {"email": "broken"}, {"email": "old@example.com"}]
    batch = (await submit(api, contacts, webhookUrl=hook.url))["batch"]
    assert (await status(api, batch["id"]))["webhook"]["status"] == "PENDING"
    await attempted(hook, 1)
    for calls, after in ((2, 6), (3, 340)):  # Svix's 5 s, then 5 min, with their jitter
        await asyncio.sleep(0.1)
        clock.advance(after)
        app.state.webhook_sender.wake()
        await attempted(hook, calls)

    webhook = await wait_webhook(api, batch["id"], "DELIVERED")
    assert webhook["attempts"] == 3 and webhook["lastError"] is None and webhook["deliveredAt"] is not None
    assert len(hook.calls) == 3
    ids = {headers["webhook-id"] for headers, _ in hook.calls}
    assert len(ids) == 1, "every retry of one delivery has the same webhook-id"
    headers, body = hook.calls[-1]
    payload = Webhook(secret).verify(body, headers)  # raises unless the signature is right
    new_id = payload["created"]["contactIds"][0]
    assert payload == {
        "batchId": batch["id"],
        "status": "COMPLETED",
        "total": 4,
        "created": {"count": 1, "contactIds": [new_id]},
        "updated": {"count": 0, "contactIds": []},
        "unchanged": {"count": 2, "contactIds": [existing["contact"]["id"]] * 2},
        "skipped": {"count": 0, "contactIds": []},
        "failed": {"count": 1, "indexes": [2]},
    }
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 32).verify(body, headers)


async def test_a_pending_delivery_survives_a_restart(settings: Settings, receiver: Any) -> None:
    hook = await receiver([204])
    first = create_app(settings.replace(allow_private_webhooks=True, workers=False))
    async with first.router.lifespan_context(first):
        async with httpx.AsyncClient(verify=tls(), transport=httpx.ASGITransport(app=first), base_url="http://t") as http:
            api = Api(http, await make_key(first, scope=Scope.ADMIN))
            batch = (await submit(api, [{"email": "r@example.com"}], webhookUrl=hook.url))["batch"]
            await first.state.batch_worker.drain()  # completes the batch; nobody sends the webhook
            assert (await status(api, batch["id"]))["webhook"]["status"] == "PENDING"
    assert hook.calls == []

    second = create_app(settings.replace(allow_private_webhooks=True))
    async with second.router.lifespan_context(second):
        async with httpx.AsyncClient(verify=tls(), transport=httpx.ASGITransport(app=second), base_url="http://t") as http:
            api = Api(http, await make_key(second, scope=Scope.ADMIN, name="again"))
            webhook = await wait_webhook(api, batch["id"], "DELIVERED")
            assert webhook["attempts"] == 1
            assert json.loads(hook.calls[0][1])["batchId"] == batch["id"]


async def test_a_delivery_cut_off_by_a_shutdown_is_sent_at_once_after_a_restart(settings: Settings, database_url: str, receiver: Any) -> None:
    """Without the lease given back, the restarted server would wait out the 30 s lease."""
    hook = await receiver([204], hold_first=True)  # the first attempt hangs until the server stops
    changed = settings.replace(allow_private_webhooks=True)
    async with running(changed, scope=Scope.ADMIN) as (_, api):
        batch = (await submit(api, [{"email": "cut@example.com"}], webhookUrl=hook.url))["batch"]
        for _ in range(1000):  # bounded: until the sender is mid-attempt
            if hook.calls:
                break
            await asyncio.sleep(0.01)
        assert len(hook.calls) == 1
    [(state, attempts, owner, lease)] = query(
        database_url, f"SELECT status, attempts, lease_owner, lease_expires_at FROM webhook_delivery WHERE batch_id = '{batch['id']}'"
    )
    assert (state, attempts, owner, lease) == ("PENDING", 0, None, None)

    async with running(changed, scope=Scope.ADMIN) as (_, api):
        webhook = await wait_webhook(api, batch["id"], "DELIVERED", within=15)  # half the lease it gave back
    assert webhook["attempts"] == 1
    assert len(hook.calls) == 2 and hook.calls[0][0]["webhook-id"] == hook.calls[1][0]["webhook-id"]
