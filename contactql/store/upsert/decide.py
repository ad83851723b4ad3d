"""Deciding one item against a chunk's state: match, plan each target, check, then commit.

Nothing of an item reaches the state unless every target of the item passes (identity
uniqueness, required fields, URL count, lists and companies that exist): a failed item leaves
no trace, and a later item of the same chunk sees exactly the earlier successful ones.
Invalid property values are the one exception SPEC §3 makes: reported, skipped, and the rest
of the contact is still written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from contactql.store.db.tables import CONTACT_COLUMNS
from contactql.store.errors import ErrorCode, Problem
from contactql.store.model import (
    FIELD_COLUMNS,
    IDENTITY_COLUMNS,
    EmailStatus,
    InvalidProperty,
    ItemResult,
    MatchAction,
    MultipleMatchAction,
    NoMatchAction,
    Outcome,
    SmsStatus,
    UpsertOptions,
)
from contactql.store.upsert import suppress
from contactql.store.upsert.chunk import ChunkState, Work, pair_key
from contactql.store.upsert.matching import MatchProblem, find_matches
from contactql.store.values import MAX_EXTERNAL_URLS
from contactql.store.workspace.lists import ListRow, new_list_row
from contactql.store.workspace.subscribe import HELD_COLUMNS, new_token

# Contact columns a client can see change, by their GraphQL names (changedFields, history).
COLUMN_FIELDS = {
    "external_id": "externalId",
    "email": "email",
    "mobile": "mobile",
    "first_name": "firstName",
    "last_name": "lastName",
    "email_status": "emailStatus",
    "sms_status": "smsStatus",
    "privacy_consent": "privacyConsent",
    "address_town": "address.town",
    "address_region": "address.region",
    "address_address": "address.address",
    "address_postcode": "address.postcode",
    "confirmed": "confirmed",
    "deleted_at": "deletedAt",
}
_GRAPHQL_NAMES = {"external_id": "externalId", "email": "email", "mobile": "mobile",
                  "first_name": "firstName", "last_name": "lastName"}  # fmt: skip


class ItemFailed(Exception):
    def __init__(self, *problems: Problem) -> None:
        self.problems = problems


@dataclasses.dataclass(slots=True)
class Resolved:
    """What an item says about properties, lists and companies, resolved once for all targets."""

    props: dict[str, str | None]
    prop_names: dict[str, str]
    list_add: set[str]
    list_remove: set[str]
    list_set: set[str] | None
    new_lists: dict[str, ListRow]


@dataclasses.dataclass(slots=True)
class Plan:
    cid: int
    created: bool
    row: dict[str, Any]
    props: dict[str, str] | None = None
    lists: set[str] | None = None
    companies: set[str] | None = None
    urls: dict[str, tuple[str, str | None]] | None = None
    changes: list[tuple[str, Any, Any]] = dataclasses.field(default_factory=list)
    token: str | None = None  # a double opt-in token, when subscribing leaves the email pending
    held: dict[str, Any] | None = None  # what the token writes once confirmed (Subscription.hold)


def decide(state: ChunkState, work: Work, now: dt.datetime) -> ItemResult:
    item, options = work.item, work.options
    result = ItemResult(index=item.index, client_ref=item.client_ref)
    if state.suppressed and (refused := suppress.item_problem(state, work)) is not None:
        return _skipped(result, refused)
    try:
        rule, found = find_matches(state, work, result.invalid_contact_ids)
        resolved = _resolve(state, work, now, result)
        match_ = options.match
        if not found:
            if match_.on_no_match is NoMatchAction.FAIL:
                path = ("id",) if item.contact_id is not None else ()
                raise ItemFailed(Problem(path, ErrorCode.NOT_FOUND, "no contact matches this input"))
            if match_.on_no_match is NoMatchAction.SKIP:
                result.outcome = Outcome.SKIPPED
                return result
            plans = [_plan_create(state, work, resolved, now)]
        else:
            result.matched_by = rule
            if match_.on_match is MatchAction.SKIP:
                result.outcome = Outcome.SKIPPED
                result.contact_ids = list(found)
                result.contacts = [state.rows[cid] for cid in found]
                return result
            targets = _targets(state, work, rule, found)
            if not targets:  # every target is deleted and may not be restored
                ids = ", ".join(str(cid) for cid in found)
                return _skipped(result, Problem((), ErrorCode.CONTACT_DELETED, f"contact {ids} is deleted; send restoreDeleted: true to restore it"))
            if state.suppressed and (refused := suppress.target_problem(state, work, targets)) is not None:
                return _skipped(result, refused)
            plans = [_plan_update(state, work, resolved, cid, now) for cid in targets]
        _check_limit(state, work, plans)
        _check_identities(state, plans)
    except MatchProblem as failure:
        return result.fail(failure.problem)
    except ItemFailed as failure:
        result.outcome = None
        result.errors.extend(failure.problems)
        return result

    _commit(state, plans, resolved, options)
    result.contact_ids = [p.cid for p in plans]
    result.contacts = [p.row for p in plans]
    if plans[0].created:
        result.outcome = Outcome.CREATED
    else:
        result.outcome = Outcome.UPDATED if any(p.changes for p in plans) else Outcome.UNCHANGED
    result.changed_fields = list(dict.fromkeys(name for p in plans for name, _, _ in p.changes))
    return result


def _skipped(result: ItemResult, problem: Problem) -> ItemResult:
    result.outcome = Outcome.SKIPPED
    result.errors.append(problem)
    return result


def _targets(state: ChunkState, work: Work, rule: Any, found: list[int]) -> list[int]:
    on_multiple = work.options.match.on_multiple
    if len(found) > 1:
        if on_multiple is MultipleMatchAction.FAIL:
            ids = ", ".join(_shown_id(cid) for cid in found)
            raise ItemFailed(Problem((), ErrorCode.AMBIGUOUS_MATCH, f"{len(found)} contacts match by {rule}: {ids}"))
        if on_multiple is MultipleMatchAction.UPDATE_OLDEST:
            found = [min(found, key=lambda cid: (cid < 0, state.rows[cid]["created_at"], abs(cid)))]
    if work.options.restore_deleted:
        return found
    return [cid for cid in found if state.rows[cid]["deleted_at"] is None]


def _shown_id(cid: int) -> str:
    return str(cid) if cid > 0 else "(a contact created earlier in this batch)"


def _resolve(state: ChunkState, work: Work, now: dt.datetime, result: ItemResult) -> Resolved:
    item, options = work.item, work.options
    props: dict[str, str | None] = {}
    names: dict[str, str] = {}
    for prop in item.properties:
        field = state.fields.find(prop.id, prop.name)
        if field is None:
            what = f"id {prop.id}" if prop.id is not None else f"name {prop.name!r}"
            result.invalid_properties.append(InvalidProperty(prop.id, prop.name, prop.value, f"no property with this {what}"))
            continue
        try:
            props[field.id] = None if prop.value is None else field.canonical(prop.value)
            names[field.id] = field.name
        except ValueError as error:
            result.invalid_properties.append(InvalidProperty(field.id, field.name, prop.value, str(error)))

    resolved = Resolved(props, names, set(), set(), None, {})
    missing: list[str] = []
    if options.list_id is not None:
        if options.list_id in state.lists_by_id:
            resolved.list_add.add(options.list_id)
        else:
            raise ItemFailed(Problem(("listId",), ErrorCode.LIST_NOT_FOUND, f"no list with id {options.list_id}"))
    if (changes := item.lists) is not None:
        for refs, into, create in ((changes.add, resolved.list_add, True), (changes.remove, resolved.list_remove, False)):
            for ref in refs:
                if (list_id := _list_id(state, ref.id, ref.name, resolved, now, create, missing)) is not None:
                    into.add(list_id)
        if changes.set is not None:
            resolved.list_set = set()
            for ref in changes.set:
                if (list_id := _list_id(state, ref.id, ref.name, resolved, now, True, missing)) is not None:
                    resolved.list_set.add(list_id)
    problems = [Problem(("lists",), ErrorCode.LIST_NOT_FOUND, f"no list with id {list_id}") for list_id in missing]
    unknown = [c for c in item.companies or () if c not in state.known_companies]
    problems += [Problem(("companies",), ErrorCode.COMPANY_NOT_FOUND, f"no company with id {c}") for c in unknown]
    if problems:
        raise ItemFailed(*problems)
    return resolved


def _list_id(
    state: ChunkState, list_id: str | None, name: str | None, resolved: Resolved, now: dt.datetime, create: bool, missing: list[str]
) -> str | None:
    if list_id is not None:
        if list_id not in state.lists_by_id:
            missing.append(list_id)
            return None
        return list_id
    key = name.lower()  # type: ignore[union-attr]
    if (existing := state.lists_by_name.get(key) or resolved.new_lists.get(key)) is not None:
        return existing.id
    if not create:
        return None  # removing from a list that does not exist changes nothing
    row = new_list_row(workspace_id=state.workspace_id, name=name, now=now)  # type: ignore[arg-type]
    resolved.new_lists[key] = ListRow(row["id"], row["name"], now)
    return row["id"]


def _plan_create(state: ChunkState, work: Work, resolved: Resolved, now: dt.datetime) -> Plan:
    item, options = work.item, work.options
    row = dict.fromkeys(CONTACT_COLUMNS)
    row.update(
        workspace_id=state.workspace_id,
        email_status=EmailStatus.NO_MARKETING.value,  # seed 000: not given → no consent
        sms_status=SmsStatus.NO_MARKETING.value,
        confirmed=options.subscription is None,  # seed 004: API contacts are already confirmed
        source=options.source.value,
        created_by=options.actor,
        created_at=now,
        updated_at=now,
    )
    row.update(item.values)
    problems = [
        Problem((_GRAPHQL_NAMES[FIELD_COLUMNS[f]],), ErrorCode.INVALID_INPUT, "is required when a contact is created")
        for f in options.match.require_on_create
        if row[FIELD_COLUMNS[f]] is None
    ]
    if all(row[c] is None for c in IDENTITY_COLUMNS):
        problems.append(Problem((), ErrorCode.IDENTITY_REQUIRED, "give an email, a mobile or an externalId"))
    if problems:
        raise ItemFailed(*problems)
    row["id"] = cid = state.new_placeholder()
    plan = Plan(cid, True, row)
    if options.subscription is not None and row["email"] is not None:
        row["email_status"] = EmailStatus.PENDING_CONFIRMATION.value
        plan.token = new_token()
    _plan_related(state, work, resolved, plan, empty=True)
    plan.changes = [(COLUMN_FIELDS[c], None, v) for c, v in row.items() if c in COLUMN_FIELDS and c != "confirmed" and v is not None] + plan.changes
    return plan


def _plan_update(state: ChunkState, work: Work, resolved: Resolved, cid: int, now: dt.datetime) -> Plan:
    old = state.rows[cid]
    row = dict(old)
    values = state.unaliased(cid, work.item.values)
    subscription = work.options.subscription
    hold = subscription is not None and subscription.hold
    held: dict[str, Any] = {}
    if hold:
        # Whoever knows an address may send it through a form: the contact's email status and
        # names change only once the address's owner confirms (the token holds the names).
        held = {column: values[column] for column in HELD_COLUMNS if column in values and values[column] != old[column]}
        values = {column: value for column, value in values.items() if column not in HELD_COLUMNS}
    row.update(values)
    if work.options.restore_deleted:
        row["deleted_at"] = None
    pending = subscription is not None and row["email"] is not None and row["email_status"] != EmailStatus.SUBSCRIBED.value
    if pending and not hold:  # a SUBSCRIBED email stays so; a form's waits for the confirmation
        row["email_status"] = EmailStatus.PENDING_CONFIRMATION.value
    if all(row[c] is None for c in IDENTITY_COLUMNS):
        raise ItemFailed(Problem((), ErrorCode.IDENTITY_REQUIRED, "a contact must keep an email, a mobile or an externalId"))
    plan = Plan(cid, False, row, token=new_token() if pending else None, held=held or None)
    plan.changes = [(name, old[c], row[c]) for c, name in COLUMN_FIELDS.items() if old[c] != row[c]]
    _plan_related(state, work, resolved, plan, empty=False)
    if plan.changes:
        row["updated_at"] = now
    return plan


def _plan_related(state: ChunkState, work: Work, resolved: Resolved, plan: Plan, *, empty: bool) -> None:
    """Property values, lists, companies and URLs of one target, with their changes."""
    item, cid, changes = work.item, plan.cid, plan.changes
    if resolved.props:
        old_props = {} if empty else state.props.get(cid, {})
        props = dict(old_props)
        for field_id, value in resolved.props.items():
            if value is None:
                props.pop(field_id, None)
            else:
                props[field_id] = value
            if old_props.get(field_id) != props.get(field_id):
                changes.append((f"properties.{resolved.prop_names[field_id]}", old_props.get(field_id), props.get(field_id)))
        plan.props = props
    if resolved.list_add or resolved.list_remove or resolved.list_set is not None:
        old_lists = set() if empty else state.lists_of.get(cid, set())
        base = resolved.list_set if resolved.list_set is not None else old_lists
        plan.lists = (base | resolved.list_add) - resolved.list_remove
        if plan.lists != old_lists:
            changes.append(("lists", sorted(old_lists), sorted(plan.lists)))
    if item.companies is not None:
        old_companies = set() if empty else state.companies_of.get(cid, set())
        plan.companies = set(item.companies)
        if plan.companies != old_companies:
            changes.append(("companies", sorted(old_companies), sorted(plan.companies)))
    if item.urls is not None:
        old_urls = {} if empty else state.urls_of.get(cid, {})
        urls = {} if item.urls.clear_all else dict(old_urls)
        for entry in item.urls.upserts:
            if entry.url is None:
                urls.pop(entry.ref, None)
            else:
                urls[entry.ref] = (entry.url, entry.label)
        if len(urls) > MAX_EXTERNAL_URLS:
            raise ItemFailed(Problem(("externalUrls",), ErrorCode.TOO_MANY_EXTERNAL_URLS, f"a contact has at most {MAX_EXTERNAL_URLS} external URLs"))
        plan.urls = urls
        if urls != old_urls:
            changes.append(("externalUrls", _urls_json(old_urls), _urls_json(urls)))


def _urls_json(urls: dict[str, tuple[str, str | None]]) -> list[dict[str, str | None]]:
    return [{"ref": ref, "url": url, "label": label} for ref, (url, label) in sorted(urls.items())]


def _check_limit(state: ChunkState, work: Work, plans: list[Plan]) -> None:
    """CONFIRMATION_LIMIT when a subscription's contact took its limit of subscribe requests in
    SUBSCRIBE_WINDOW (no mail-bombing a victim through a form): nothing is written."""
    subscription = work.options.subscription
    if subscription is None or subscription.limit is None:
        return
    for plan in plans:
        if (taken := state.subscribes.get(plan.cid, 0)) >= subscription.limit:
            raise ItemFailed(Problem(("email",), ErrorCode.CONFIRMATION_LIMIT, f"this address took {taken} subscribe requests in 24 hours, the most it may (CONTACTQL_CONFIRMATIONS_PER_ADDRESS={subscription.limit})"))


def _check_identities(state: ChunkState, plans: list[Plan]) -> None:
    """DUPLICATE_IDENTITY when a target would take an identity another contact holds."""
    planned = {p.cid: p for p in plans}
    claimed_ext: dict[str, int] = {}
    claimed_pair: dict[tuple[str, str], int] = {}
    for plan in plans:
        if (external_id := plan.row["external_id"]) is not None:
            holders = {
                cid for cid in state.with_column("external_id", external_id)
                if cid != plan.cid and (cid not in planned or planned[cid].row["external_id"] == external_id)
            }  # fmt: skip
            holder = next(iter(holders), claimed_ext.get(external_id))
            if holder is not None:
                raise ItemFailed(Problem(("externalId",), ErrorCode.DUPLICATE_IDENTITY, f"contact {_shown_id(holder)} already has this externalId"))
            claimed_ext[external_id] = plan.cid
        if (key := pair_key(plan.row)) is not None:
            holder = state.pairs.get(key)
            if holder == plan.cid or (holder in planned and pair_key(planned[holder].row) != key):
                holder = None
            holder = holder if holder is not None else claimed_pair.get(key)
            if holder is not None:
                field = "email" if plan.row["email"] is not None else "mobile"
                raise ItemFailed(Problem((field,), ErrorCode.DUPLICATE_IDENTITY, f"contact {_shown_id(holder)} already has this email and mobile"))
            claimed_pair[key] = plan.cid


def _commit(state: ChunkState, plans: list[Plan], resolved: Resolved, options: UpsertOptions) -> None:
    joined = set().union(*(plan.lists for plan in plans if plan.lists is not None)) if resolved.new_lists else set()
    for key, new_list in resolved.new_lists.items():
        # Made when a contact joins it: a name only removed again (add and remove) makes no empty list.
        if key not in state.lists_by_name and new_list.id in joined:
            state.add_list(key, new_list)
            state.new_lists[new_list.id] = new_list_row(workspace_id=state.workspace_id, name=new_list.name, now=new_list.created_at) | {"id": new_list.id}
    for plan in plans:
        state.effects.record(plan.cid, plan.created, plan.changes, plan.row, options, plan.token, plan.held)
        if options.subscription is not None:
            state.subscribes[plan.cid] = state.subscribes.get(plan.cid, 0) + 1
        if not plan.created and not plan.changes:
            continue
        state.set_row(plan.cid, plan.row)
        if plan.props is not None:
            state.set_props(plan.cid, plan.props)
        if plan.lists is not None:
            state.lists_of[plan.cid] = plan.lists
        if plan.companies is not None:
            state.companies_of[plan.cid] = plan.companies
        if plan.urls is not None:
            state.urls_of[plan.cid] = plan.urls
