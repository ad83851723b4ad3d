"""Sends the webhook outbox: signed per Standard Webhooks, retried on Svix's schedule.

Signatures come from `standardwebhooks` (Svix's reference implementation): `webhook-id` (the
same for every attempt of one delivery), `webhook-timestamp`, `webhook-signature` =
`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` with the workspace's `whsec_` secret.
A delivery succeeds on a 2xx answer within 10 s; anything else is a failed attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid

import httpx
from standardwebhooks.webhooks import Webhook

from contactql import outbound
from contactql.config import Settings
from contactql.metrics import WEBHOOK_ATTEMPTS
from contactql.store.batches import outbox as webhooks
from contactql.store.batches.outbox import DeliveryRow
from contactql.store.db.database import Database
from contactql.supervise import Clock, Loop, supervised, utc_now

log = logging.getLogger("contactql.webhooks")

ATTEMPT_TIMEOUT_SECONDS = 10.0
CLAIM_LIMIT = 20
IDLE_POLL_SECONDS = 1.0
MAX_ERROR_LENGTH = 500


def signed_headers(delivery: DeliveryRow, now: dt.datetime) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "ContactQL-Webhooks/1",
        "webhook-id": delivery.id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(delivery.secret).sign(delivery.id, now, delivery.payload),
    }


class WebhookSender(Loop):
    """Claims due deliveries, attempts each, records the outcome; supervised (supervise.py).

    An attempt that fails unexpectedly (not an HTTP failure, which is recorded and retried on
    the schedule) is logged with its traceback and keeps its lease, so it is tried again when
    the lease runs out; the other deliveries of its claim go on."""

    def __init__(self, db: Database, settings: Settings, clock: Clock = utc_now) -> None:
        super().__init__()
        self._db = db
        self._settings = settings
        self._clock = clock
        self._owner = f"sender-{uuid.uuid4().hex[:12]}"

    async def run(self) -> None:
        async with outbound.client(ATTEMPT_TIMEOUT_SECONDS) as client:
            await supervised("webhook sender", lambda: self.step(client))

    async def step(self, client: httpx.AsyncClient) -> None:
        """Send what is due now, else wait until something is (or a wake-up)."""
        self._idle.begin()
        due = await self._db.write(
            webhooks.claim_due, owner=self._owner, lease_seconds=ATTEMPT_TIMEOUT_SECONDS * 3, limit=CLAIM_LIMIT, now=self._clock()
        )
        if due:
            await asyncio.gather(*(self._attempt(client, d) for d in due))
            return
        await self._idle.wait(await self._idle_seconds())

    async def _idle_seconds(self) -> float:
        next_due = await self._db.read(webhooks.next_due)
        if next_due is None:
            return IDLE_POLL_SECONDS
        return min(IDLE_POLL_SECONDS, max(0.05, (next_due - self._clock()).total_seconds()))

    async def _attempt(self, client: httpx.AsyncClient, delivery: DeliveryRow) -> None:
        try:
            await self._send(client, delivery)
        except asyncio.CancelledError:
            # The server is stopping mid-attempt: give the delivery back, so a restart sends it
            # at once instead of after the lease (an attempt already recorded keeps its record).
            with contextlib.suppress(Exception):
                await asyncio.shield(self._db.write(webhooks.release_lease, delivery_id=delivery.id, owner=self._owner))
            raise
        except Exception:
            log.exception("webhook %s to %s: the attempt failed unexpectedly; it is tried again when its lease runs out", delivery.id, delivery.url)

    async def _send(self, client: httpx.AsyncClient, delivery: DeliveryRow) -> None:
        error = await outbound.problem_with(delivery.url, allow_private=self._settings.allow_private_webhooks)
        if error is None:
            # Signed with the wall clock, whatever the scheduling clock says: receivers refuse a
            # webhook-timestamp far from their own time.
            try:
                response = await client.post(delivery.url, content=delivery.payload.encode(), headers=signed_headers(delivery, utc_now()))
                if not 200 <= response.status_code < 300:
                    error = f"HTTP {response.status_code}"
            except httpx.TimeoutException:
                error = f"no answer within {ATTEMPT_TIMEOUT_SECONDS:g} s"
            except httpx.HTTPError as failure:
                error = f"{type(failure).__name__}: {failure}"[:MAX_ERROR_LENGTH]
        status, attempts = await self._db.write(
            webhooks.record_attempt,
            delivery_id=delivery.id,
            owner=self._owner,
            error=error,
            delays=self._settings.webhook_retry_delays,
            now=self._clock(),
        )
        WEBHOOK_ATTEMPTS.labels("delivered" if error is None else "failed").inc()
        if error is None:
            log.info("webhook %s to %s: delivered (attempt %d)", delivery.id, delivery.url, attempts)
        else:
            log.warning("webhook %s to %s: attempt %d failed (%s); now %s", delivery.id, delivery.url, attempts, error, status)
