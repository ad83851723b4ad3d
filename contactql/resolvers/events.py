"""Subscribe and confirm (seed 004), events, contact history, webhook endpoints, segments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import strawberry

from contactql import outbound
from contactql.context import Info
from contactql.resolvers.workspace import country_for
from contactql.schema.contact import Contact
from contactql.schema.enums import UpsertOutcome
from contactql.schema.errors import user_errors
from contactql.schema.events import (
    ContactHistoryConnection,
    DeleteWebhookEndpointPayload,
    Event,
    EventConnection,
    EventEdge,
    HistoryEdge,
    HistoryEntry,
    WebhookEndpoint,
    WebhookEndpointPayload,
)
from contactql.schema.lists import ContactList, ListMembershipPayload
from contactql.schema.pagination import check_first, decode_id_cursor, encode_cursor, page_info
from contactql.schema.payloads import UpsertContactPayload
from contactql.store.errors import ErrorCode, Problem, StoreError
from contactql.store.model import MatchRule, MatchStrategy, MultipleMatchAction, Outcome, Source, Subscription, UpsertOptions
from contactql.store.upsert.effects import SUBSCRIBED_AGAIN_EVENT
from contactql.store.upsert.pipeline import Request, Work
from contactql.store.upsert.validate import EVENT_TYPE, parse_contact_id, validate_contact
from contactql.store.workspace import events, lists

# A subscription form cannot set consent: that is what the double opt-in is for.
FORM_CANNOT_SET = ("emailStatus", "emailOptIn")


async def subscribe_contact(info: Info, raw: Mapping[str, Any]) -> UpsertContactPayload:
    """Seed 004's subscribe: match by email or phone (the oldest of two), new contacts pending
    confirmation and unconfirmed, an event per call for the workflow that sends the email."""
    contact = raw["contact"]
    country, problems = await country_for(info, raw, [contact])
    if problems:  # the contact's numbers cannot be read without it
        return UpsertContactPayload.failed(problems)
    item, item_problems = validate_contact(contact, default_country=country)
    problems += [p.under("contact") for p in item_problems]
    problems += [
        Problem(("contact", name), ErrorCode.INVALID_INPUT, "a subscription sets the email status through double opt-in")
        for name in FORM_CANNOT_SET
        if contact.get(name) is not None
    ]
    form = raw.get("formType")
    if form is not None and not EVENT_TYPE.match(f"{SUBSCRIBED_AGAIN_EVENT}-{form}"):
        problems.append(Problem(("formType",), ErrorCode.INVALID_INPUT, "a form type is Latin letters, digits, '-' or '_' (the event name is at most 64)"))
    if problems:
        return UpsertContactPayload.failed(problems)
    options = UpsertOptions(
        match=MatchStrategy(rules=(MatchRule.EMAIL_OR_MOBILE,), on_multiple=MultipleMatchAction.UPDATE_OLDEST),
        source=Source.SUBSCRIBE,
        actor=info.context.principal.key_name,
        subscription=Subscription(form_type=form),
    )
    results = await info.context.services.writer.submit(Request(info.context.workspace_id, [Work(item, options)]))
    return UpsertContactPayload.from_result(results[0])


async def confirm_contact(info: Info, token: str) -> UpsertContactPayload:
    try:
        row, changed = await info.context.db.write(
            events.confirm, workspace_id=info.context.workspace_id, token=token[:200], actor=info.context.principal.key_name
        )
    except StoreError as refused:
        return UpsertContactPayload.failed(refused.problems)
    contact = Contact.from_row(row)
    return UpsertContactPayload(
        outcome=UpsertOutcome((Outcome.UPDATED if changed else Outcome.UNCHANGED).value),
        matched_by=None, changed_fields=changed, contact=contact, contacts=[contact],
        invalid_properties=[], invalid_contact_ids=[], user_errors=[],
    )  # fmt: skip


async def page_events(info: Info, first: int, after: str | None, type: str | None, contact_id: Any, since: dt.datetime | None) -> EventConnection:
    limit = check_first(first)
    cid = None if contact_id is None else parse_contact_id(contact_id)
    if contact_id is not None and cid is None:
        return EventConnection(edges=[], page_info=page_info([], has_next=False, after=after), count=_none)
    where: dict[str, Any] = {"workspace_id": info.context.workspace_id, "type": type, "contact_id": cid, "since": since}
    rows = await info.context.db.read(events.page_events, **where, limit=limit + 1, after=decode_id_cursor(after))

    async def count() -> int:
        return await info.context.db.read(events.count_events, **where)

    with_token = info.context.principal.is_admin
    edges = [EventEdge(cursor=encode_cursor(seq), node=Event.from_row(r, with_token=with_token)) for seq, r in rows[:limit]]
    return EventConnection(edges=edges, page_info=page_info([e.cursor for e in edges], has_next=len(rows) > limit, after=after), count=count)


async def _none() -> int:
    return 0


async def page_history(info: Info, contact_id: int, first: int, after: str | None) -> ContactHistoryConnection:
    limit = check_first(first)
    rows, total = await info.context.db.read(
        events.page_history, workspace_id=info.context.workspace_id, contact_id=contact_id, limit=limit + 1, after_id=decode_id_cursor(after)
    )
    edges = [HistoryEdge(cursor=encode_cursor(r.id), node=HistoryEntry.from_row(r)) for r in rows[:limit]]
    return ContactHistoryConnection(edges=edges, page_info=page_info([e.cursor for e in edges], has_next=len(rows) > limit, after=after), total_count=total)


async def list_endpoints(info: Info) -> list[WebhookEndpoint]:
    rows = await info.context.db.read(events.list_endpoints, workspace_id=info.context.workspace_id)
    return [WebhookEndpoint.from_row(r) for r in rows]


async def create_endpoint(info: Info, url: str, event_types: Sequence[str]) -> WebhookEndpointPayload:
    why = await outbound.problem_with(url, allow_private=info.context.services.settings.allow_private_webhooks)
    problems = [] if why is None else [Problem(("url",), ErrorCode.INVALID_INPUT, f"url {why}")]
    problems += events.endpoint_type_problems(event_types)
    if problems:
        return WebhookEndpointPayload(endpoint=None, user_errors=user_errors(problems))
    try:
        row = await info.context.db.write(events.create_endpoint, workspace_id=info.context.workspace_id, url=url, event_types=event_types)
    except StoreError as refused:
        return WebhookEndpointPayload(endpoint=None, user_errors=user_errors(refused.problems))
    return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_row(row), user_errors=[])


async def delete_endpoint(info: Info, id: strawberry.ID) -> DeleteWebhookEndpointPayload:
    if await info.context.db.write(events.delete_endpoint, workspace_id=info.context.workspace_id, endpoint_id=str(id)):
        return DeleteWebhookEndpointPayload(deleted_id=id, user_errors=[])
    problem = Problem(("id",), ErrorCode.NOT_FOUND, f"no webhook endpoint with id {id}")
    return DeleteWebhookEndpointPayload(deleted_id=None, user_errors=user_errors([problem]))


async def change_members(
    info: Info, list_id: strawberry.ID, contact_ids: Sequence[strawberry.ID] | None, external_ids: Sequence[str] | None, *, add: bool
) -> ListMembershipPayload:
    try:
        row, changed, unknown = await info.context.db.write(
            lists.change_members,
            workspace_id=info.context.workspace_id,
            list_id=str(list_id),
            contact_ids=None if contact_ids is None else [str(c) for c in contact_ids],
            external_ids=None if external_ids is None else list(external_ids),
            add=add,
            actor=info.context.principal.key_name,
        )
    except StoreError as refused:
        return ListMembershipPayload(list=None, changed=0, unknown_ids=[], user_errors=user_errors(refused.problems))
    return ListMembershipPayload(list=ContactList.from_row(row), changed=changed, unknown_ids=unknown, user_errors=[])
