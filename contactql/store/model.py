"""The store's vocabulary: enums and plain dataclasses shared by every write path.

A `ContactItem` is one contact input after normalisation (see `validate.py`): only the fields the
client sent are present, `None` meaning "clear". It is JSON-serialisable so a batch can be stored
durably once validated and applied later without validating again. `UpsertOptions` is what a
request says about all of its items (match strategy, list, source…). `ItemResult` is what one
item came to, the same shape for `upsertContact` and for every item of a batch.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import Any

from contactql.store.errors import Problem


class EmailStatus(enum.StrEnum):
    SUBSCRIBED = "SUBSCRIBED"
    UNSUBSCRIBED = "UNSUBSCRIBED"
    BOUNCED = "BOUNCED"
    NO_MARKETING = "NO_MARKETING"
    PENDING_CONFIRMATION = "PENDING_CONFIRMATION"


class SmsStatus(enum.StrEnum):
    SUBSCRIBED = "SUBSCRIBED"
    UNSUBSCRIBED = "UNSUBSCRIBED"
    FAILED = "FAILED"
    NO_MARKETING = "NO_MARKETING"


class Outcome(enum.StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    UNCHANGED = "UNCHANGED"
    SKIPPED = "SKIPPED"


class MatchRule(enum.StrEnum):
    ID = "ID"
    EXTERNAL_ID = "EXTERNAL_ID"
    EMAIL_AND_MOBILE = "EMAIL_AND_MOBILE"
    EMAIL = "EMAIL"
    MOBILE = "MOBILE"
    EMAIL_OR_MOBILE = "EMAIL_OR_MOBILE"
    NAME_AND_EMAIL = "NAME_AND_EMAIL"
    PROPERTIES = "PROPERTIES"


class MatchAction(enum.StrEnum):
    UPDATE = "UPDATE"
    SKIP = "SKIP"


class NoMatchAction(enum.StrEnum):
    CREATE = "CREATE"
    SKIP = "SKIP"
    FAIL = "FAIL"


class MultipleMatchAction(enum.StrEnum):
    FAIL = "FAIL"
    UPDATE_ALL = "UPDATE_ALL"
    UPDATE_OLDEST = "UPDATE_OLDEST"


class ContactField(enum.StrEnum):
    EXTERNAL_ID = "EXTERNAL_ID"
    EMAIL = "EMAIL"
    MOBILE = "MOBILE"
    FIRST_NAME = "FIRST_NAME"
    LAST_NAME = "LAST_NAME"


class Source(enum.StrEnum):
    API = "API"
    BATCH = "BATCH"
    SUBSCRIBE = "SUBSCRIBE"
    CSV_IMPORT = "CSV_IMPORT"
    MERGE = "MERGE"  # history entries only: a contact is never created by a merge
    BULK = "BULK"  # history entries only: deleteContacts, restoreContacts, list changes by filter


class PropertyType(enum.StrEnum):
    TEXT = "TEXT"
    NUMBER = "NUMBER"
    BOOLEAN = "BOOLEAN"
    DATE = "DATE"
    SELECT = "SELECT"


class BatchStatus(enum.StrEnum):
    RECEIVING = "RECEIVING"  # a streamed import still storing its file's items (store/batches/parts.py)
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


UNFINISHED_BATCH = (BatchStatus.RECEIVING.value, BatchStatus.QUEUED.value, BatchStatus.PROCESSING.value)


class DeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class Scope(enum.StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
    PUBLISHABLE = "publishable"  # a website form's: subscribeContact and confirmContact, from its origins


DEFAULT_RULES = (MatchRule.ID, MatchRule.EXTERNAL_ID, MatchRule.EMAIL_AND_MOBILE)

# ContactField -> contact column; also the columns that identify a contact.
FIELD_COLUMNS = {
    ContactField.EXTERNAL_ID: "external_id",
    ContactField.EMAIL: "email",
    ContactField.MOBILE: "mobile",
    ContactField.FIRST_NAME: "first_name",
    ContactField.LAST_NAME: "last_name",
}
IDENTITY_COLUMNS = ("external_id", "email", "mobile")


@dataclasses.dataclass(frozen=True, slots=True)
class PropertyInput:
    """One property value of an input, by field id or name; `value=None` clears it."""

    id: str | None
    name: str | None
    value: str | None
    position: int  # index in the input list, for error paths


@dataclasses.dataclass(frozen=True, slots=True)
class ListRef:
    id: str | None
    name: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class ListChanges:
    add: tuple[ListRef, ...] = ()
    remove: tuple[ListRef, ...] = ()
    set: tuple[ListRef, ...] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class UrlInput:
    ref: str
    url: str | None  # None removes the ref (seed 002)
    label: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class UrlChanges:
    clear_all: bool = False  # externalUrls: null removes all (seed 002)
    upserts: tuple[UrlInput, ...] = ()


@dataclasses.dataclass(slots=True)
class ContactItem:
    index: int
    contact_id: int | None = None
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    properties: tuple[PropertyInput, ...] = ()
    lists: ListChanges | None = None
    companies: tuple[str, ...] | None = None
    urls: UrlChanges | None = None
    client_ref: str | None = None

    def to_json(self) -> dict[str, Any]:
        # Written out rather than walked generically: every item of every batch passes here.
        lists = self.lists
        return {
            "index": self.index,
            "contact_id": self.contact_id,
            "values": self.values,
            "properties": [{"id": p.id, "name": p.name, "value": p.value, "position": p.position} for p in self.properties],
            "lists": None
            if lists is None
            else {
                "add": [{"id": r.id, "name": r.name} for r in lists.add],
                "remove": [{"id": r.id, "name": r.name} for r in lists.remove],
                "set": None if lists.set is None else [{"id": r.id, "name": r.name} for r in lists.set],
            },
            "companies": None if self.companies is None else list(self.companies),
            "urls": None
            if self.urls is None
            else {"clear_all": self.urls.clear_all, "upserts": [{"ref": u.ref, "url": u.url, "label": u.label} for u in self.urls.upserts]},
            "client_ref": self.client_ref,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContactItem:
        lists = data.get("lists")
        urls = data.get("urls")
        return cls(
            index=data["index"],
            contact_id=data.get("contact_id"),
            values=dict(data.get("values") or {}),
            properties=tuple([PropertyInput(p["id"], p["name"], p["value"], p["position"]) for p in data.get("properties") or ()]),
            lists=None
            if lists is None
            else ListChanges(
                add=_refs(lists["add"]),
                remove=_refs(lists["remove"]),
                set=None if lists["set"] is None else _refs(lists["set"]),
            ),
            companies=None if data.get("companies") is None else tuple(data["companies"]),
            urls=None
            if urls is None
            else UrlChanges(urls["clear_all"], tuple(UrlInput(**u) for u in urls["upserts"])),
            client_ref=data.get("client_ref"),
        )


def _refs(rows: Sequence[Mapping[str, Any]]) -> tuple[ListRef, ...]:
    return tuple([ListRef(r["id"], r["name"]) for r in rows])


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class MatchStrategy:
    rules: tuple[MatchRule, ...] = DEFAULT_RULES
    properties: tuple[str, ...] = ()
    values: tuple[PropertyInput, ...] | None = None
    on_match: MatchAction = MatchAction.UPDATE
    on_no_match: NoMatchAction = NoMatchAction.CREATE
    on_multiple: MultipleMatchAction = MultipleMatchAction.FAIL
    require_on_create: tuple[ContactField, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class EventOptions:
    """Event types written per created / updated contact (seed 004's eventKeyForNewContacts,
    seed 003's customevents)."""

    on_create: tuple[str, ...] = ()
    on_update: tuple[str, ...] = ()


class ConsentAction(enum.StrEnum):
    SUBSCRIBE = "SUBSCRIBE"
    CONFIRM = "CONFIRM"
    UNSUBSCRIBE = "UNSUBSCRIBE"


@dataclasses.dataclass(frozen=True, slots=True)
class Evidence:
    """Consent evidence (issue 21): the visitor's IP and user agent, the page the form was on,
    the form, and the consent text or legal basis the form showed."""

    ip: str | None = None
    user_agent: str | None = None
    page_url: str | None = None
    form: str | None = None
    consent_text: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Subscription:
    """subscribeContact's double opt-in (seed 004): pending email status, confirmation token,
    events suffixed with the form type; the key that asked and the consent evidence. `limit`:
    subscribe requests a contact takes in SUBSCRIBE_WINDOW (counted in the write's transaction).
    `hold`: a form's — a known contact's status and names wait for the confirmation."""

    form_type: str | None = None
    key_id: int | None = None
    evidence: Evidence | None = None
    limit: int | None = None
    hold: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Subscription:
        evidence = data.get("evidence")
        return cls(data.get("form_type"), data.get("key_id"), None if evidence is None else Evidence(**evidence), data.get("limit"), bool(data.get("hold")))


@dataclasses.dataclass(frozen=True, slots=True)
class UpsertOptions:
    match: MatchStrategy = MatchStrategy()
    list_id: str | None = None
    restore_deleted: bool = False
    source: Source = Source.API
    actor: str | None = None  # the API key's name, shown as Contact.createdBy
    batch_id: str | None = None
    events: EventOptions = EventOptions()
    subscription: Subscription | None = None
    override_suppression: bool = False  # an admin's: erased identities may come back (store/workspace/erase.py)

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UpsertOptions:
        match = dict(data["match"])
        values = match.get("values")
        strategy = MatchStrategy(
            rules=tuple(MatchRule(r) for r in match["rules"]),
            properties=tuple(match["properties"]),
            values=None if values is None else tuple(PropertyInput(**v) for v in values),
            on_match=MatchAction(match["on_match"]),
            on_no_match=NoMatchAction(match["on_no_match"]),
            on_multiple=MultipleMatchAction(match["on_multiple"]),
            require_on_create=tuple(ContactField(f) for f in match["require_on_create"]),
        )
        return cls(
            match=strategy,
            list_id=data.get("list_id"),
            restore_deleted=bool(data.get("restore_deleted")),
            source=Source(data["source"]),
            actor=data.get("actor"),
            batch_id=data.get("batch_id"),
            events=EventOptions(**{k: tuple(v) for k, v in (data.get("events") or {}).items()}),
            subscription=None if data.get("subscription") is None else Subscription.from_json(data["subscription"]),
            override_suppression=bool(data.get("override_suppression")),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class InvalidProperty:
    id: str | None
    name: str | None
    value: str | None
    reason: str


@dataclasses.dataclass(slots=True)
class ItemResult:
    index: int
    client_ref: str | None = None
    outcome: Outcome | None = None
    matched_by: MatchRule | None = None
    contact_ids: list[int] = dataclasses.field(default_factory=list)
    changed_fields: list[str] = dataclasses.field(default_factory=list)
    invalid_properties: list[InvalidProperty] = dataclasses.field(default_factory=list)
    invalid_contact_ids: list[str] = dataclasses.field(default_factory=list)
    errors: list[Problem] = dataclasses.field(default_factory=list)
    # The written contacts' rows (column -> value), for the payload; not part of a stored result.
    contacts: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    # A dry run's relations as they would be, per contact, for those it would change (store/
    # upsert/entry.py: "properties", "lists", "companies", "urls"); not part of a stored result.
    planned: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def fail(self, problem: Problem) -> ItemResult:
        self.outcome = None
        self.errors.append(problem)
        return self

    def to_json(self) -> dict[str, Any]:
        """The stored form of a batch item's result (the contacts' rows are not part of it)."""
        return {
            "index": self.index,
            "client_ref": self.client_ref,
            "outcome": None if self.outcome is None else self.outcome.value,
            "matched_by": None if self.matched_by is None else self.matched_by.value,
            "contact_ids": self.contact_ids,
            "changed_fields": self.changed_fields,
            "invalid_properties": [_to_json(p) for p in self.invalid_properties],
            "invalid_contact_ids": self.invalid_contact_ids,
            "errors": [p.to_json() for p in self.errors],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ItemResult:
        return cls(
            index=data["index"],
            client_ref=data.get("client_ref"),
            outcome=None if data.get("outcome") is None else Outcome(data["outcome"]),
            matched_by=None if data.get("matched_by") is None else MatchRule(data["matched_by"]),
            contact_ids=list(data.get("contact_ids") or ()),
            changed_fields=list(data.get("changed_fields") or ()),
            invalid_properties=[InvalidProperty(**p) for p in data.get("invalid_properties") or ()],
            invalid_contact_ids=list(data.get("invalid_contact_ids") or ()),
            errors=[Problem.from_json(p) for p in data.get("errors") or ()],
        )
