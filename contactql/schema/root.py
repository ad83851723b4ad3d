"""The root types: the one place the schema's fields are assembled. Every field calls its
domain's resolver (resolvers/, scoped to the calling key's workspace) and maps what comes back
to types; mutations need a write key, and the workspace's webhook secret an admin key.

One direction: schema → resolvers → store. Resolvers return rows and raise StoreError for a
refusal; `answer` (errors.py) turns that into the payload's userErrors."""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import functools
from collections.abc import AsyncGenerator, Callable
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.types.base_scalars import DateTimeDefinition
from strawberry.types import ExecutionContext
from strawberry.types.execution import PreExecutionError

from contactql import coercion
from contactql.context import Info
from contactql.resolvers import batches, changes, companies, contacts, duplicates, events, exports, lists, properties, segments, subscribe, webhooks, workspace
from contactql.schema.batches import Batch, BatchConnection, BatchStatus, ImportContactsInput, UpsertContactsInput, UpsertContactsPayload
from contactql.schema.bulk import BulkMutation, BulkQuery, BulkSubscription
from contactql.schema.catalog import CatalogMutation
from contactql.schema.changes import ContactChange
from contactql.schema.companies import Company, CompanyPayload
from contactql.schema.contacts import Contact, ContactConnection
from contactql.schema.duplicates import DuplicateGroup, DuplicateGroupConnection, DuplicateRule
from contactql.schema.erase import EraseMutation, EraseQuery
from contactql.schema.errors import answer
from contactql.schema.events import Event, EventConnection, EventFilter
from contactql.schema.exports import Export, ExportContactsInput, ExportPayload
from contactql.schema.filters import ContactFilter, ContactOrder, Search, contact_query
from contactql.schema.hardening import extensions
from contactql.schema.inputs import UpsertContactInput
from contactql.schema.lists import ContactList, ContactListConnection, ContactListPayload
from contactql.schema.merge import MergeMutation
from contactql.schema.payloads import DeleteContactPayload, UpsertContactPayload
from contactql.schema.permissions import CanSubscribe, CanWrite, IsAdmin
from contactql.schema.properties import PropertyField, PropertyFieldInput, PropertyFieldPayload
from contactql.schema.segments import DeleteSegmentPayload, Segment, SegmentConnection, SegmentPayload
from contactql.schema.stats import ContactStats
from contactql.schema.subscribe import PublishableKeyPayload, SubscribeContactInput
from contactql.schema.webhooks import DeleteWebhookEndpointPayload, WebhookEndpoint, WebhookEndpointPayload
from contactql.schema.workspace import UpdateWorkspaceInput, Workspace, WorkspacePayload
from contactql.store import model
from contactql.store.workspace.duplicates import DuplicateRule as StoreDuplicateRule
from contactql.store.workspace.keys import FormKey

First = Annotated[int | None, strawberry.argument(description="How many items (at most 100; null: the default).")]
After = Annotated[str | None, strawberry.argument(description="The cursor to continue after (a page's endCursor).")]


@strawberry.type(description="Reading contacts, lists and the workspace.")
class Query(EraseQuery, BulkQuery):
    @strawberry.field(description="One contact by id; deleted contacts are returned with their deletedAt.")
    async def contact(self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The contact's id.")]) -> Contact | None:
        row = await contacts.get_contact(info, id)
        return None if row is None else Contact.from_row(row)

    @strawberry.field(description="Contacts, filtered, by id or in orderBy's order; deleted contacts only with includeDeleted.")
    async def contacts(
        self,
        info: Info,
        first: First = 50,
        after: After = None,
        filter: Annotated[ContactFilter | None, strawberry.argument(description="Conditions to meet.")] = None,
        order_by: Annotated[
            builtins.list[ContactOrder] | None,
            strawberry.argument(description="Sort keys, first to last (at most 5); default: by id, or by RELEVANCE with a search."),
        ] = None,
        search: Search = None,
    ) -> ContactConnection:
        query = contact_query(filter, search)
        order = [o.to_order() for o in order_by or ()]
        page = await contacts.page_contacts(info, first=50 if first is None else first, after=after, query=query, order=order)
        return await ContactConnection.of_page(info, page)

    @strawberry.field(description="Counts of the contacts a filter and search find, for a dashboard: total, by status, by list.")
    async def contact_stats(
        self,
        filter: Annotated[ContactFilter | None, strawberry.argument(description="Conditions to meet.")] = None,
        search: Search = None,
    ) -> ContactStats:
        return ContactStats(query=contact_query(filter, search))

    @strawberry.field(description="One export job by id.")
    async def export(self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The export's id.")]) -> Export | None:
        row = await exports.get_export(info, id)
        return None if row is None else Export.from_row(row)

    @strawberry.field(description="The workspace's saved segments, in creation order.")
    async def segments(self, info: Info, first: First = 50, after: After = None) -> SegmentConnection:
        return SegmentConnection.of(await segments.page_segments(info, 50 if first is None else first, after), Segment.from_row)

    @strawberry.field(description="One segment by id.")
    async def segment(self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The segment's id.")]) -> Segment | None:
        row = await segments.get_segment(info, id)
        return None if row is None else Segment.from_row(row)

    @strawberry.field(
        description="Candidate duplicates: groups of two or more contacts (not deleted) that a match rule says are one person, in the order of what they share — for a review screen before merging."
    )
    async def duplicates(
        self,
        info: Info,
        rule: Annotated[DuplicateRule, strawberry.argument(description="Which contacts count as one person.")] = DuplicateRule.EMAIL,
        first: Annotated[int, strawberry.argument(description="Groups of this page (0 to 50).")] = 20,
        after: After = None,
    ) -> DuplicateGroupConnection:
        page = await duplicates.page_duplicates(info, StoreDuplicateRule(rule.value), first, after)
        return DuplicateGroupConnection.of(page, DuplicateGroup.of)

    @strawberry.field(description="The workspace's static lists, in creation order.")
    async def lists(self, info: Info, first: First = 50, after: After = None) -> ContactListConnection:
        return ContactListConnection.of(await lists.page_lists(info, 50 if first is None else first, after), ContactList.from_row)

    @strawberry.field(description="One list by id.")
    async def list(self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The list's id.")]) -> ContactList | None:
        row = await lists.get_list(info, id)
        return None if row is None else ContactList.from_row(row)

    @strawberry.field(description="The workspace's custom property fields, in creation order.")
    async def properties(self, info: Info) -> builtins.list[PropertyField]:
        return [PropertyField.from_def(field) for field in await properties.get_properties(info)]

    @strawberry.field(description="One batch — an upsertContacts call or a file import — by id.")
    async def batch(self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The batch's id.")]) -> Batch | None:
        row = await batches.get_batch(info, id)
        return None if row is None else Batch.from_row(row)

    @strawberry.field(description="The workspace's batches, newest first.")
    async def batches(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="How many batches (at most 100; null: 20).")] = 20,
        after: After = None,
        status: Annotated[BatchStatus | None, strawberry.argument(description="Only batches with this status.")] = None,
    ) -> BatchConnection:
        wanted = None if status is None else model.BatchStatus(status.value)
        return BatchConnection.of(await batches.page_batches(info, 20 if first is None else first, after, wanted), Batch.from_row)

    @strawberry.field(description="Events, oldest first: what workflows act on.")
    async def events(
        self,
        info: Info,
        first: First = 50,
        after: After = None,
        filter: Annotated[EventFilter | None, strawberry.argument(description="Conditions to meet.")] = None,
    ) -> EventConnection:
        f = filter or EventFilter()
        page = await events.page_events(info, 50 if first is None else first, after, f.type, f.contact_id, f.since)
        with_token = info.context.principal.is_admin
        return EventConnection.of(page, lambda pair: Event.from_row(pair[1], with_token=with_token))

    @strawberry.field(description="Where the workspace's events are delivered.")
    async def webhook_endpoints(self, info: Info) -> builtins.list[WebhookEndpoint]:
        return [WebhookEndpoint.from_row(row) for row in await webhooks.list_endpoints(info)]

    @strawberry.field(description="The workspace of the calling API key.")
    async def workspace(self, info: Info) -> Workspace:
        return Workspace.from_row(await workspace.get_workspace(info))


@strawberry.type(description="Creating and changing contacts, lists, properties and companies (write keys).")
class Mutation(CatalogMutation, EraseMutation, MergeMutation, BulkMutation):
    @strawberry.mutation(
        description="Create or update one contact, matched by the rules of `match`.",
        permission_classes=[CanWrite],
    )
    async def upsert_contact(self, info: Info, input: Annotated[UpsertContactInput, strawberry.argument(description="The contact and how to match it.")]) -> UpsertContactPayload:
        result = contacts.upsert_contact(info, input)  # type: ignore[arg-type]  # a raw mapping, see inputs.raw_input
        return await answer(result, UpsertContactPayload.from_result, UpsertContactPayload)

    @strawberry.mutation(
        description="Create or update many contacts as one batch: stored and returned QUEUED, applied in the background.",
        permission_classes=[CanWrite],
    )
    async def upsert_contacts(self, info: Info, input: Annotated[UpsertContactsInput, strawberry.argument(description="The contacts and how to match them.")]) -> UpsertContactsPayload:
        batch = batches.upsert_contacts(info, input)  # type: ignore[arg-type]  # a raw mapping, see inputs.raw_input
        return await answer(batch, UpsertContactsPayload.of, UpsertContactsPayload)

    @strawberry.mutation(
        description="Soft-delete a contact: it keeps its identity and can be restored with restoreDeleted.",
        permission_classes=[CanWrite],
    )
    async def delete_contact(self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The contact's id.")]) -> DeleteContactPayload:
        return await answer(contacts.delete_contact(info, id), lambda deleted: DeleteContactPayload(deleted_id=strawberry.ID(str(deleted))), DeleteContactPayload)

    @strawberry.mutation(
        description="Subscribe a contact from a form: matched by email or mobile, double opt-in, workflow events. A publishable key (a website form's) may run it, and may select only accepted, confirmationPending and userErrors.",
        permission_classes=[CanSubscribe],
    )
    async def subscribe_contact(self, info: Info, input: Annotated[SubscribeContactInput, strawberry.argument(description="The contact and the form type.")]) -> UpsertContactPayload:
        result = subscribe.subscribe_contact(info, input)  # type: ignore[arg-type]  # a raw mapping, see inputs.raw_input
        payload = await answer(result, UpsertContactPayload.from_result, UpsertContactPayload)
        payload.confirmation_pending = not payload.user_errors  # double opt-in, whoever the address is
        return payload

    @strawberry.mutation(
        description="Confirm a subscription with its token: email SUBSCRIBED, contact confirmed. A publishable key may run it (see subscribeContact).",
        permission_classes=[CanSubscribe],
    )
    async def confirm_contact(self, info: Info, token: Annotated[str, strawberry.argument(description="The ConfirmationToken of the subscribe event.")]) -> UpsertContactPayload:
        return await answer(subscribe.confirm_contact(info, token), UpsertContactPayload.confirmed, UpsertContactPayload)

    @strawberry.mutation(
        description="Make a publishable key for a website form (admin keys): safe to publish, it runs subscribeContact and confirmContact only, from its origins. As `contactql keys create --scope publishable`.",
        permission_classes=[IsAdmin],
    )
    async def create_publishable_key(
        self,
        info: Info,
        origins: Annotated[list[str], strawberry.argument(description="The origins its form is on (https://www.example.com; http only for localhost), at most 20.")],
        name: Annotated[str | None, strawberry.argument(description="Its name; by default publishable-key-<n>.")] = None,
        form: Annotated[str | None, strawberry.argument(description="The form it is for (Latin letters, digits, - and _): names the events, subscribeFromApi-<form>.")] = None,
        thank_you_url: Annotated[str | None, strawberry.argument(description="The page, on one of its origins, GET /confirm sends a visitor to once confirmed.")] = None,
    ) -> PublishableKeyPayload:
        def made(result: tuple[str, str, FormKey]) -> PublishableKeyPayload:
            secret, named, key = result
            return PublishableKeyPayload(key=secret, name=named, origins=list(key.origins), form=key.form, thank_you_url=key.thank_you_url)

        return await answer(subscribe.create_publishable_key(info, name, origins, form, thank_you_url), made, PublishableKeyPayload)

    @strawberry.mutation(description="Deliver events of these types to a URL, signed (admin keys).", permission_classes=[IsAdmin])
    async def create_webhook_endpoint(
        self,
        info: Info,
        url: Annotated[str, strawberry.argument(description="An https URL on a public address.")],
        event_types: Annotated[list[str], strawberry.argument(description='Event types to deliver; "*" for all.')],
    ) -> WebhookEndpointPayload:
        return await answer(webhooks.create_endpoint(info, url, event_types), lambda row: WebhookEndpointPayload(endpoint=WebhookEndpoint.from_row(row)), WebhookEndpointPayload)

    @strawberry.mutation(description="Stop delivering events to an endpoint (admin keys).", permission_classes=[IsAdmin])
    async def delete_webhook_endpoint(self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint's id.")]) -> DeleteWebhookEndpointPayload:
        return await answer(webhooks.delete_endpoint(info, id), lambda deleted: DeleteWebhookEndpointPayload(deleted_id=strawberry.ID(str(deleted))), DeleteWebhookEndpointPayload)

    @strawberry.mutation(
        description="Import a CSV or NDJSON file — uploaded (multipart) or fetched from an https URL — as a batch.",
        permission_classes=[CanWrite],
    )
    async def import_contacts(self, info: Info, input: Annotated[ImportContactsInput, strawberry.argument(description="The file and where its contacts go.")]) -> UpsertContactsPayload:
        batch = batches.import_contacts(info, input)  # type: ignore[arg-type]  # a raw mapping, see inputs.raw_input
        return await answer(batch, UpsertContactsPayload.of_import, UpsertContactsPayload)

    @strawberry.mutation(description="Change the workspace's settings (admin keys).", permission_classes=[IsAdmin])
    async def update_workspace(self, info: Info, input: Annotated[UpdateWorkspaceInput, strawberry.argument(description="The settings to change.")]) -> WorkspacePayload:
        change = workspace.update_workspace(info, input)  # type: ignore[arg-type]  # a raw mapping, see inputs.raw_input
        return await answer(change, lambda row: WorkspacePayload(workspace=Workspace.from_row(row)), WorkspacePayload, "input")

    @strawberry.mutation(description="Create a static list.", permission_classes=[CanWrite])
    async def create_list(self, info: Info, name: Annotated[str, strawberry.argument(description="The list's name, unique in the workspace.")]) -> ContactListPayload:
        return await answer(lists.create_list(info, name), lambda row: ContactListPayload(list=ContactList.from_row(row)), ContactListPayload)

    @strawberry.mutation(description="Save a filter and search as a segment, a list whose members are whoever matches when it is read.", permission_classes=[CanWrite])
    async def create_segment(
        self,
        info: Info,
        name: Annotated[str, strawberry.argument(description="The segment's name, unique in the workspace.")],
        filter: Annotated[ContactFilter | None, strawberry.argument(description="Conditions to meet (not naming another segment).")] = None,
        search: Search = None,
    ) -> SegmentPayload:
        made = segments.create_segment(info, name, contact_query(filter, search))
        return await answer(made, lambda row: SegmentPayload(segment=Segment.from_row(row)), SegmentPayload)

    @strawberry.mutation(
        description="Export contacts to a CSV or NDJSON file: a job, watched with export(id) or exportProgress, downloaded from GET /exports/{id}. A read key may run it: it writes nothing of the workspace."
    )
    async def export_contacts(self, info: Info, input: Annotated[ExportContactsInput, strawberry.argument(description="What to export.")]) -> ExportPayload:
        query = contact_query(input.filter, input.search)
        order = [o.to_order() for o in input.order_by or ()]
        made = exports.export_contacts(info, query, order, str(input.format.value), input.fields)  # type: ignore[attr-defined]
        return await answer(made, lambda row: ExportPayload(export=Export.from_row(row)), ExportPayload, "input")

    @strawberry.mutation(description="Delete a segment (its contacts are not touched).", permission_classes=[CanWrite])
    async def delete_segment(self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The segment's id.")]) -> DeleteSegmentPayload:
        return await answer(segments.delete_segment(info, id), lambda deleted: DeleteSegmentPayload(deleted_id=strawberry.ID(deleted)), DeleteSegmentPayload)

    @strawberry.mutation(description="Define a custom property field.", permission_classes=[CanWrite])
    async def create_property_field(self, info: Info, input: Annotated[PropertyFieldInput, strawberry.argument(description="The field's name and type.")]) -> PropertyFieldPayload:
        field = properties.create_property_field(info, input.name, model.PropertyType(input.type.value), input.options)
        return await answer(field, lambda row: PropertyFieldPayload(field=PropertyField.from_def(row)), PropertyFieldPayload, "input")

    @strawberry.mutation(description="Create a company contacts can be linked to.", permission_classes=[CanWrite])
    async def create_company(self, info: Info, name: Annotated[str, strawberry.argument(description="The company's name, unique in the workspace.")]) -> CompanyPayload:
        return await answer(companies.create_company(info, name), lambda row: CompanyPayload(company=Company.from_row(row)), CompanyPayload)


@strawberry.type(description="Live updates over graphql-transport-ws (key in the connection_init payload).")
class Subscription(BulkSubscription):
    @strawberry.subscription(description="The batch now, after every chunk of its items (CONTACTQL_BATCH_CHUNK_SIZE, 500), and when it finishes; then the stream ends.")
    async def batch_progress(self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The batch's id.")]) -> AsyncGenerator[Batch, None]:
        async for row in batches.batch_progress(info, id):
            yield Batch.from_row(row)


    @strawberry.subscription(
        description="Every contact of the workspace as it is created, updated or deleted, from any write path and any process, with whether it matches filter and search now; pushed within about a second."
    )
    async def contacts_changed(
        self,
        info: Info,
        filter: Annotated[ContactFilter | None, strawberry.argument(description="Conditions a contact is matched against after each change.")] = None,
        search: Search = None,
    ) -> AsyncGenerator[ContactChange, None]:
        async for change in changes.contacts_changed(info, contact_query(filter, search)):
            yield ContactChange.of(change)

    @strawberry.subscription(description="The export now, after every megabyte it writes, and when it finishes; then the stream ends.")
    async def export_progress(self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The export's id.")]) -> AsyncGenerator[Export, None]:
        async for row in exports.export_progress(info, id):
            yield Export.from_row(row)


class ContactQLSchema(strawberry.Schema):
    async def _prepare_operation_async(self, context: ExecutionContext, extensions_runner: Any) -> PreExecutionError | None:
        # A GraphQLError raised by a parsing hook (ParserCache's parse, TokenLimit's size check)
        # escapes Strawberry's own handling, which only wraps the parse it does itself: over
        # HTTP a general handler caught it, but a subscription (WebSocket, SSE, multipart)
        # stalled with a traceback in the log. Here it is the request error it is, everywhere.
        try:
            return await super()._prepare_operation_async(context, extensions_runner)
        except GraphQLError as error:
            context.pre_execution_errors = [error]
            return PreExecutionError(data=None, errors=[error])

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        # Unexpected errors are logged, with the request id, where they are masked
        # (hardening.ErrorMasking); the rest are the client's and do not belong in the server log.
        return None


# Strawberry's DateTime, with `@specifiedBy` the format it follows (RFC 3339, as the GraphQL
# Scalars project writes it down): codegen and clients know it is a timestamp string.
DATE_TIME = dataclasses.replace(
    DateTimeDefinition,
    description="A date and time with its UTC offset, RFC 3339: 2026-12-05T18:00:00.123456+00:00.",
    specified_by_url="https://scalars.graphql.org/andimarek/date-time.html",
)


@functools.cache  # one per process and flag: the schema depends on nothing else, and building it costs ~30 ms
def build_schema(*, introspection: bool = True, trusted: bool = False, traced: Callable[[], SchemaExtension] | None = None) -> strawberry.Schema:
    """`trusted`: only trusted documents run for keys that are not admin (persisted.py);
    `traced`: the OpenTelemetry extension's factory (tracing.py), when tracing is on."""
    coercion.install()  # variables coerced by compiled functions (issue 23)
    return ContactQLSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions(introspection=introspection, trusted=trusted, traced=traced),
        scalar_overrides={dt.datetime: DATE_TIME},
    )


def export_sdl() -> str:
    return build_schema().as_str() + "\n"

