"""The Contact type and its connection. Rows map to types explicitly (`Contact.from_row`), so a
column rename never changes the API; related rows come through the request's DataLoaders.

Contact.lists ↔ ContactList.contacts is a cycle of the GraphQL graph itself: lists.py imports
this module, and `lists` here names ContactList lazily (strawberry.lazy) and imports it when
the field is resolved."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types.nodes import SelectedField

from contactql.context import ApiError, Info
from contactql.resolvers import history
from contactql.resolvers.pagination import Page
from contactql.schema.companies import Company
from contactql.schema.enums import ContactSource, EmailStatus, SmsStatus
from contactql.schema.history import ConsentRecord, ContactHistoryConnection, HistoryEntry
from contactql.schema.pagination import Connection, Edge, connection
from contactql.schema.properties import PropertyField, PropertyValue
from contactql.store.workspace.consents import MAX_SHOWN
from contactql.store.workspace.contacts import relations_of_contacts

if TYPE_CHECKING:
    from contactql.schema.lists import ContactList
    from contactql.store.workspace.lists import ListRow
    from contactql.store.workspace.properties import FieldSet


@strawberry.type(description="A postal address.")
class Address:
    town: str | None = strawberry.field(description="Town or city.")
    region: str | None = strawberry.field(description="Region, state or county.")
    address: str | None = strawberry.field(description="Street address.")
    postcode: str | None = strawberry.field(description="Postal code.")


@strawberry.type(description="A link to the contact in another system (at most 3).")
class ExternalUrl:
    ref: str = strawberry.field(description="The unique reference key of the URL.")
    url: str = strawberry.field(description="The https URL.")
    label: str | None = strawberry.field(description="The label to display.")


@strawberry.type(description="A person in the workspace, with their identity, consent and properties.")
class Contact:
    key: strawberry.Private[int]
    id: strawberry.ID = strawberry.field(description="The contact's id: a 64-bit integer as a decimal string.")
    external_id: str | None = strawberry.field(description="The id in another system, unique in the workspace.")
    email: str | None = strawberry.field(description="The email address, lower-case.")
    mobile: str | None = strawberry.field(description="The mobile number in E.164 form, e.g. +4790812501.")
    mobile_country_code: int | None = strawberry.field(description="The calling code of the mobile number, e.g. 47.")
    first_name: str | None = strawberry.field(description="The first name.")
    last_name: str | None = strawberry.field(description="The last name.")
    email_status: EmailStatus = strawberry.field(description="Consent to marketing email.")
    sms_status: SmsStatus = strawberry.field(description="Consent to marketing SMS.")
    email_opt_in: bool = strawberry.field(description="True only when emailStatus is SUBSCRIBED.")
    mobile_opt_in: bool = strawberry.field(description="True only when smsStatus is SUBSCRIBED.")
    privacy_consent: bool | None = strawberry.field(description="Whether privacy consent was given.")
    confirmed: bool = strawberry.field(description="Whether the email is confirmed (double opt-in).")
    source: ContactSource = strawberry.field(description="How the contact was created.")
    address: Address | None = strawberry.field(description="The postal address; null when none is known.")
    created_by: str | None = strawberry.field(description="The name of the API key that created the contact.")
    created_at: dt.datetime = strawberry.field(description="When the contact was created.")
    updated_at: dt.datetime = strawberry.field(description="When the contact last changed.")
    deleted_at: dt.datetime | None = strawberry.field(description="When the contact was deleted; null when it is not.")
    # Relations read for a whole page at once (`preload`); a field not here reads its DataLoader.
    preloaded: strawberry.Private[dict[str, Any]] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Contact:
        parts = (row["address_town"], row["address_region"], row["address_address"], row["address_postcode"])
        return cls(
            key=row["id"],
            id=strawberry.ID(str(row["id"])),
            external_id=row["external_id"],
            email=row["email"],
            mobile=row["mobile"],
            mobile_country_code=row["mobile_country_code"],
            first_name=row["first_name"],
            last_name=row["last_name"],
            email_status=EmailStatus(row["email_status"]),
            sms_status=SmsStatus(row["sms_status"]),
            email_opt_in=row["email_status"] == "SUBSCRIBED",
            mobile_opt_in=row["sms_status"] == "SUBSCRIBED",
            privacy_consent=row["privacy_consent"],
            confirmed=bool(row["confirmed"]),
            source=ContactSource(row["source"]),
            address=None if all(p is None for p in parts) else Address(town=parts[0], region=parts[1], address=parts[2], postcode=parts[3]),
            created_by=row["created_by"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            deleted_at=row["deleted_at"],
        )

    # The relations below are plain functions that answer from `preloaded` when the page read them,
    # else hand graphql-core an awaitable: an `async def` field costs a coroutine and a task per
    # contact however it is answered — 200 for a page of 50 with its relations, most of the time
    # ContactQL added to a stock Strawberry app's (benchmarks/page_overhead.py).
    @strawberry.field(description="Every custom property value the contact has, by field creation order.")
    def properties(self, info: Info) -> list[PropertyValue]:
        if "properties" in self.preloaded:
            return self.preloaded["properties"]
        return self._properties(info)  # type: ignore[return-value]

    async def _properties(self, info: Info) -> list[PropertyValue]:
        values = await info.context.loaders.properties.load(self.key)
        fields = await info.context.loaders.fields(*((field_id, None) for field_id in values))
        return property_values(values, fields)

    @strawberry.field(description="The value of one custom property, by name (case-insensitive); null when unset.")
    async def property(self, info: Info, name: Annotated[str, strawberry.argument(description="The property's name, case-insensitive.")]) -> str | None:
        fields = await info.context.loaders.fields((None, name.strip()))
        field = fields.by_name.get(name.strip().lower())
        if field is None:
            return None
        return (await info.context.loaders.properties.load(self.key)).get(field.id)

    @strawberry.field(description="The static lists the contact belongs to, by name.")
    def lists(self, info: Info) -> list[Annotated[ContactList, strawberry.lazy("contactql.schema.lists")]]:
        if "lists" in self.preloaded:
            return self.preloaded["lists"]
        return self._lists(info)  # type: ignore[return-value]

    async def _lists(self, info: Info) -> list[ContactList]:
        return list_types(await info.context.loaders.lists.load(self.key))

    @strawberry.field(description="The companies the contact is linked to, by name.")
    def companies(self, info: Info) -> list[Company]:
        if "companies" in self.preloaded:
            return self.preloaded["companies"]
        return self._companies(info)  # type: ignore[return-value]

    async def _companies(self, info: Info) -> list[Company]:
        return [Company.from_row(row) for row in await info.context.loaders.companies.load(self.key)]

    @strawberry.field(description="One entry per write, oldest first: time, source, key, batch and each changed field's old and new value.")
    async def history(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="How many entries (at most 100; null: 50).")] = 50,
        after: Annotated[str | None, strawberry.argument(description="The cursor to continue after.")] = None,
    ) -> ContactHistoryConnection:
        page = await history.page_history(info, self.key, 50 if first is None else first, after)
        return ContactHistoryConnection.of(page, lambda row: HistoryEntry.from_row(row, self.key))

    @strawberry.field(
        description="Consent evidence, oldest first: each subscribe, confirm and unsubscribe of the email with the visitor's IP, user agent, page, form and consent text. `last`: the newest so many (1–1000); an export holds them all."
    )
    async def consents(self, info: Info, last: Annotated[int, strawberry.argument(description="The newest so many records (1 to 1000).")] = 100) -> list[ConsentRecord]:
        if not 1 <= last <= MAX_SHOWN:
            raise ApiError(f"last must be between 1 and {MAX_SHOWN}, got {last}", "INVALID_INPUT")
        rows = await info.context.loaders.consents.load(self.key)
        return [ConsentRecord.from_row(row) for row in rows[-last:]]

    @strawberry.field(description="Links to the contact in other systems, by ref.")
    def external_urls(self, info: Info) -> list[ExternalUrl]:
        if "externalUrls" in self.preloaded:
            return self.preloaded["externalUrls"]
        return self._external_urls(info)  # type: ignore[return-value]

    async def _external_urls(self, info: Info) -> list[ExternalUrl]:
        return url_types(await info.context.loaders.urls.load(self.key))


def property_values(values: dict[str, str], fields: FieldSet) -> list[PropertyValue]:
    return [PropertyValue(field=PropertyField.from_def(field), value=values[field.id]) for field in fields.by_id.values() if field.id in values]


def list_types(rows: list[ListRow]) -> list[ContactList]:
    from contactql.schema.lists import ContactList  # the graph's own cycle: see the module's doc

    return [ContactList.from_row(row) for row in rows]


def url_types(rows: list[tuple[str, str, str | None]]) -> list[ExternalUrl]:
    return [ExternalUrl(ref=ref, url=url, label=label) for ref, url, label in rows]


PRELOADED = ("properties", "lists", "companies", "externalUrls")
# (GraphQL field, store relation, a contact's value when it has none)
_DEFAULTS: tuple[tuple[str, str, Any], ...] = (("properties", "properties", {}), ("lists", "lists", []), ("companies", "companies", []), ("externalUrls", "urls", []))
# A relation's store rows as GraphQL types, by GraphQL field (properties need their fields too).
_AS_TYPES: dict[str, Callable[[Any], list[Any]]] = {"lists": list_types, "companies": lambda rows: [Company.from_row(r) for r in rows], "externalUrls": url_types}


def planned_relations(planned: dict[str, Any]) -> dict[str, list[Any]]:
    """A dry run's relations as they would be (ItemResult.planned), as `preloaded` holds them;
    properties come as (field, value) pairs, the others in the store's read shapes."""
    fields = {name: field for field, name, _ in _DEFAULTS}
    return {
        fields[name]: [PropertyValue(field=PropertyField.from_def(f), value=v) for f, v in value] if name == "properties" else _AS_TYPES[fields[name]](value)
        for name, value in planned.items()
    }


def wanted_relations(info: Info) -> set[str]:
    """Which of PRELOADED the query asks of each `node` of this connection field (fragments too)."""
    found: set[str] = set()

    def walk(selections: list[Any], in_node: bool) -> None:
        for selection in selections:
            name = getattr(selection, "name", None)
            if isinstance(selection, SelectedField):
                if in_node and name in PRELOADED:
                    found.add(name)
                if not in_node:
                    walk(selection.selections, name == "node")
            else:  # a fragment: its selections are at this level
                walk(selection.selections, in_node)

    walk(info.selected_fields[0].selections, False)
    return found


async def preload(info: Info, contacts: list[Contact]) -> None:
    """Read the relations the query asks for, for the whole page at once: a statement each (the
    DataLoaders' own), then every contact answers them without awaiting."""
    wanted = wanted_relations(info) if contacts else set()
    if not wanted:
        return
    keys = [c.key for c in contacts]
    names = {"properties": "properties", "lists": "lists", "companies": "companies", "externalUrls": "urls"}
    read = await info.context.db.read(
        relations_of_contacts, workspace_id=info.context.workspace_id, contact_ids=keys, wanted=frozenset(names[w] for w in wanted)
    )
    done: dict[str, list[Any]] = {field: [read[name].get(key, default) for key in keys] for field, name, default in _DEFAULTS if name in read}
    if "properties" in done:
        ids = {field_id for values in done["properties"] for field_id in values}
        fields = await info.context.loaders.fields(*((field_id, None) for field_id in ids))
        done["properties"] = [property_values(values, fields) for values in done["properties"]]
    for name, per_contact in done.items():
        for contact, value in zip(contacts, per_contact, strict=True):
            contact.preloaded[name] = _AS_TYPES[name](value) if name in _AS_TYPES else value


@connection("ContactEdge", "A contact and its cursor.", cursor="Pass as `after` to get the contacts after this one.", node="The contact.")
class ContactEdge(Edge[Contact]):
    pass


@connection(
    "ContactConnection",
    "A page of contacts (Relay cursor connection).",
    edges="The contacts of this page, by id.",
    total_count="How many contacts the whole result has (counted only when asked for).",
)
class ContactConnection(Connection[ContactEdge]):
    @classmethod
    async def of_page(cls, info: Info, page: Page[dict[str, Any]]) -> ContactConnection:
        """The page's connection, the relations the query asks for read for all its contacts at once."""
        connection = cls.of(page, Contact.from_row)
        await preload(info, [edge.node for edge in connection.edges])
        return connection
