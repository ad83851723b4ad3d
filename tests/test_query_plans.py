"""Every statement of the everyday operations is answered from an index, never by reading a
whole workspace: an upsert or a page costs the same with 200 contacts as with 200 000.

SQLite plans without statistics (nothing runs ANALYZE), and then takes `workspace_id = ?` for
a selective term: it read every contact of the workspace for each upsert's identity look-up
and each page of contacts (measured on 200 000 contacts: 23 ms and 97 ms, 0.03 ms and 0.07 ms
once answered from ix_contact_page). A plan depends on the schema and the SQL, not on how many
rows there are, so a small database shows the plan a big one gets. This test runs on SQLite
whichever database the suite is pointed at: PostgreSQL plans from its own statistics.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from contactql.config import Settings
from tests.conftest import count_statements, running
from tests.helpers import Api
from tests.test_batches import submit, wait_finished

# Tables that grow with the contacts. property_field is left out: its catalog is read whole.
GROWING = {
    "contact", "property_value", "list_membership", "contact_company", "external_url", "contact_history", "event",
    "batch", "batch_part", "batch_result", "company", "contact_list", "webhook_delivery", "idempotency_key",
    "confirmation_token", "segment", "export", "export_chunk",
}  # fmt: skip
# Pages that may sort, and why: what they sort does not grow with the workspace.
SORTS_ALLOWED = {
    "SELECT batch.id FROM batch WHERE batch.status IN": "the worker's claim: only the batches not finished",
    "SELECT export.id FROM export WHERE export.status": "the export worker's claim: only the exports not finished",
    "SELECT bulk_job.id FROM bulk_job WHERE bulk_job.status IN": "the bulk worker's claim: only the jobs not finished (5 a workspace at most)",
}
FULL = "id email mobile externalId firstName properties { field { name } value } lists { id } companies { id } externalUrls { url }"
ORDERED = "query($o: [ContactOrder!], $a: String) { contacts(first: 5, after: $a, orderBy: $o) { edges { node { id } } pageInfo { endCursor } } }"
PAGE = "query($f: ContactFilter, $a: String) { contacts(first: 5, after: $a, filter: $f) { edges { cursor node { %s } } } }" % FULL


def whole_workspace_reads(path: Path, seen: list[tuple[str, Any]], *, page_may_sort: bool = False, filtered: bool = False) -> list[str]:
    """Plan lines that read a growing table whole, or all of a workspace's rows in it, and pages
    (LIMIT) that sort: a sort reads every match before the first row.

    Allowed: a page read in the index's own order, which stops after its rows — unless the page
    is `filtered`: then it stops after its matches, and reads the whole workspace for a value
    few contacts have (a page of BOUNCED contacts, 55 ms on 200 000 contacts)."""
    bad = []
    with sa.create_engine(f"sqlite:///{path}").connect() as conn:
        raw = conn.connection.driver_connection
        for statement, params in seen:
            if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH", "INSERT")):
                continue
            plan = [row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + statement, params)]
            # A sort of every match; not "FOR RIGHT PART OF ORDER BY", which sorts only the rows
            # tied on the index's own order (ties by id) as the page is read.
            sorts = any(line.endswith("TEMP B-TREE FOR ORDER BY") for line in plan)
            ordered_page = " LIMIT " in statement and not sorts and not filtered
            allowed = page_may_sort or any(" ".join(statement.split()).startswith(prefix) for prefix in SORTS_ALLOWED)
            if " LIMIT " in statement and sorts and not allowed:
                bad.append(f"a page that sorts its matches\n    in: {' '.join(statement.split())[:300]}")
            for line in plan:
                scan = re.match(r"SCAN (\w+)", line)
                search = re.match(r"SEARCH (\w+) USING .*\(workspace_id=\?\)$", line)
                if (scan and scan.group(1) in GROWING) or (search and search.group(1) in GROWING and not ordered_page):
                    bad.append(f"{line}\n    in: {' '.join(statement.split())[:300]}")
    return bad


async def test_everyday_operations_never_read_a_whole_workspace(tmp_path: Path) -> None:
    path = tmp_path / "plans.db"
    async with running(Settings(database_url=f"sqlite+aiosqlite:///{path}"), max_batch_size=50, batch_chunk_size=10) as (app, api):
        await api.property_field("city")
        await api.property_field("score", "NUMBER")
        list_id = await api.create_list("Customers")
        company = (await api.gql('mutation { createCompany(name: "Acme") { company { id } } }'))["createCompany"]["company"]["id"]
        for i in range(30):  # some contacts to find, in a list, with properties, companies and URLs
            made = await api.upsert(
                {"email": f"p{i}@example.com", "mobile": f"+4790000{i:03d}", "firstName": "Pat", "lastName": f"L{i}",
                 "externalId": f"x{i}", "properties": [{"name": "city", "value": f"c{i % 3}"}, {"name": "score", "value": str(i * 7 % 30)}], "companies": [company],
                 "externalUrls": [{"ref": "web", "url": f"https://example.com/{i}"}]},
                listId=list_id,
            )  # fmt: skip
            assert made["userErrors"] == []
        first_id = (await api.gql(PAGE, {}))["contacts"]["edges"][0]["node"]["id"]
        known = {"id": first_id, "externalId": "x3", "email": "p3@example.com", "mobile": "+4790000003", "firstName": "Pat",
                 "lastName": "L3", "properties": [{"name": "city", "value": "c0"}]}  # fmt: skip

        operations: dict[str, Any] = {
            "a new contact with everything": lambda: api.upsert(
                {"email": "new@example.com", "mobile": "+4791111111", "firstName": "N", "properties": [{"name": "city", "value": "Oslo"}],
                 "lists": {"add": [{"name": "Customers"}]}, "companies": [company], "externalUrls": [{"ref": "web", "url": "https://example.com/n"}]},
                listId=list_id,
            ),  # fmt: skip
            "an update by email": lambda: api.upsert({"email": "p1@example.com", "firstName": "Zed", "lists": {"set": [{"id": list_id}]}}),
            **{
                f"rule {rule}": (lambda rule=rule: api.upsert(known, match={"rules": [rule], "properties": ["city"], "onMultipleMatches": "UPDATE_OLDEST"}))
                for rule in ("ID", "EXTERNAL_ID", "EMAIL_AND_MOBILE", "EMAIL", "MOBILE", "EMAIL_OR_MOBILE", "NAME_AND_EMAIL", "PROPERTIES")
            },
            "a dry run": lambda: api.upsert({"email": "dry@example.com"}, dryRun=True),
            "a batch, applied": lambda: _batch(api),
            "a page": lambda: api.gql(PAGE, {}),
            "a later page": lambda: api.gql(PAGE, {"a": _cursor(first_id)}),
            **{
                f"a page filtered by {name}": (lambda f=f: api.gql(PAGE, {"f": f}))
                for name, f in {
                    "email": {"email": "p4@example.com"}, "mobile": {"mobile": "+4790000004"}, "externalId": {"externalId": "x4"},
                    "list": {"listId": list_id}, "property": {"property": {"name": "city", "value": "c1"}},
                    "updatedSince": {"updatedSince": "2999-01-01T00:00:00Z"}, "emailStatus": {"emailStatus": "BOUNCED"},
                    "smsStatus": {"smsStatus": "SUBSCRIBED"},
                }.items()
            },  # fmt: skip
            # a search starts from its index; the page then sorts what it found (by relevance)
            "a search": lambda: api.gql('{ contacts(first: 5, search: "pat l3") { totalCount edges { node { id } } } }'),
            "a search of an email in id order": lambda: api.gql('{ contacts(first: 5, search: "p4@exa", orderBy: [{field: ID}]) { edges { node { id } } } }'),
            "a search of phone digits": lambda: api.gql('{ contacts(first: 5, search: "900 00 004") { edges { node { id } } } }'),
            **{
                f"a page by {label}": (lambda order=order: api.gql(ORDERED, {"o": order}))
                for label, order in {
                    "LAST_NAME": [{"field": "LAST_NAME"}], "FIRST_NAME DESC": [{"field": "FIRST_NAME", "direction": "DESC"}],
                    "EMAIL": [{"field": "EMAIL"}], "CREATED_AT DESC": [{"field": "CREATED_AT", "direction": "DESC"}],
                    "UPDATED_AT": [{"field": "UPDATED_AT"}], "LAST_NAME then FIRST_NAME": [{"field": "LAST_NAME"}, {"field": "FIRST_NAME"}],
                    "a TEXT property": [{"field": "PROPERTY", "property": "city"}],
                    "a NUMBER property DESC": [{"field": "PROPERTY", "property": "score", "direction": "DESC"}],
                }.items()
            },  # fmt: skip
            "a later page by LAST_NAME DESC": lambda: _later_page(api, [{"field": "LAST_NAME", "direction": "DESC"}]),
            "a later page by a NUMBER property": lambda: _later_page(api, [{"field": "PROPERTY", "property": "score"}]),
            "a later page of a list": lambda: api.gql(PAGE, {"f": {"listId": list_id}, "a": _cursor(first_id)}),
            "a later page by property": lambda: api.gql(PAGE, {"f": {"property": {"name": "city", "value": "c1"}}, "a": _cursor(first_id)}),
            "a contact with its history": lambda: api.gql(
                '{ contact(id: "%s") { %s history(first: 5) { edges { node { source } } } } }' % (first_id, FULL)
            ),
            "lists": lambda: api.gql("{ lists(first: 5) { edges { node { id name size } } } }"),
            "list members added and removed": lambda: _members(api, list_id, first_id),
            "events": lambda: api.gql("{ events(first: 5) { edges { node { id type } } } }"),
            "a contact's events": lambda: api.gql('{ events(first: 5, filter: {contactId: "%s"}) { edges { node { id } } } }' % first_id),
            "batches": lambda: api.gql("{ batches(first: 5) { edges { node { id status } } } }"),
            "a deletion": lambda: api.gql('mutation { deleteContact(id: "%s") { deletedId } }' % first_id),
        }
        problems = {}
        for label, operation in operations.items():
            with count_statements(app, with_params=True) as seen:
                await operation()
            assert seen, f"{label}: no statements captured"
            # contacts changed since a time are found by ix_contact_updated, then put in id order
            filtered = label.startswith(("a page filtered", "a later page of", "a later page by"))
            page_may_sort = label == "a page filtered by updatedSince" or label.startswith("a search")
            if bad := whole_workspace_reads(path, seen, page_may_sort=page_may_sort, filtered=filtered):
                problems[label] = bad
        assert problems == {}, "\n".join(f"{k}:\n  " + "\n  ".join(v) for k, v in problems.items())


async def _later_page(api: Api, order: list[dict[str, Any]]) -> None:
    first = (await api.gql(ORDERED, {"o": order}))["contacts"]["pageInfo"]["endCursor"]
    await api.gql(ORDERED, {"o": order, "a": first})


def _cursor(contact_id: str) -> str:
    from contactql.resolvers.pagination import encode_cursor

    return encode_cursor(int(contact_id))


async def _batch(api: Api) -> None:
    contacts = [{"email": f"p{i}@example.com" if i % 2 else f"b{i}@example.com", "firstName": "B"} for i in range(20)]
    batch = (await submit(api, contacts))["batch"]
    done = await wait_finished(api, batch["id"])
    assert done["status"] == "COMPLETED" and done["failed"] == 0, done


async def _members(api: Api, list_id: str, contact_id: str) -> None:
    for verb in ("removeContactsFromList", "addContactsToList"):
        await api.gql('mutation { %s(listId: "%s", contactIds: ["%s"], externalIds: ["x5"]) { changed } }' % (verb, list_id, contact_id))
