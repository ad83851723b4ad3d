"""Lists (listId, add/remove/set, by name), companies and external URLs of a contact."""

from __future__ import annotations

import re

from tests.helpers import Api

LIST = "query L($id: ID!) { list(id: $id) { id name size contacts { totalCount edges { node { email } } } } }"


async def test_list_id_adds_the_contact_to_an_existing_list(api: Api) -> None:
    list_id = await api.create_list("Newsletter")
    result = await api.upsert({"email": "a@example.com"}, listId=list_id)
    assert [item["name"] for item in result["contact"]["lists"]] == ["Newsletter"]
    listed = (await api.gql(LIST, {"id": list_id}))["list"]
    assert listed["size"] == 1
    assert [e["node"]["email"] for e in listed["contacts"]["edges"]] == ["a@example.com"]


async def test_an_unknown_list_id_fails_and_writes_nothing(api: Api) -> None:
    result = await api.upsert({"email": "b@example.com"}, listId="3fa85f64-5717-4562-b3fc-2c963f66afa6")
    assert result["outcome"] is None
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [(["listId"], "LIST_NOT_FOUND")]
    assert (await api.gql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 0

    nested = await api.upsert({"email": "b@example.com", "lists": {"add": [{"id": "nope"}]}})
    assert [(e["field"], e["code"]) for e in nested["userErrors"]] == [(["contact", "lists"], "LIST_NOT_FOUND")]


async def test_lists_by_name_are_created_on_first_use_once(api: Api) -> None:
    one = await api.upsert({"email": "c1@example.com", "lists": {"add": [{"name": "VIP"}]}})
    two = await api.upsert({"email": "c2@example.com", "lists": {"add": [{"name": "vip"}]}})
    assert one["contact"]["lists"][0]["id"] == two["contact"]["lists"][0]["id"]
    lists = await api.gql("{ lists { totalCount edges { node { name size } } } }")
    assert lists["lists"]["totalCount"] == 1
    assert lists["lists"]["edges"][0]["node"] == {"name": "VIP", "size": 2}


async def test_a_list_only_a_dry_run_a_failed_item_or_a_removal_named_is_not_made(api: Api) -> None:
    """A chunk reads the lists the process has cached and keeps the ones it makes to itself until
    they are committed: a dry run's list, or a failed item's, must not be taken for a list that
    exists by the next upsert (it would then be joined but never made); and a name an item both
    adds and removes makes no empty list."""
    known = await api.create_list("Known")  # the cache holds a list before the dry run
    dry = await api.upsert({"email": "d1@example.com", "lists": {"add": [{"name": "Trial"}, {"id": known}]}}, dryRun=True)
    assert dry["outcome"] == "CREATED" and dry["userErrors"] == []
    failed = await api.upsert({"email": "d2@example.com", "lists": {"add": [{"name": "Lost"}]}, "companies": ["no-such-company"]})
    assert failed["outcome"] is None and [e["code"] for e in failed["userErrors"]] == ["COMPANY_NOT_FOUND"]
    names = await api.gql("{ lists { edges { node { name size } } } }")
    assert [e["node"] for e in names["lists"]["edges"]] == [{"name": "Known", "size": 0}]

    both = await api.upsert({"email": "d4@example.com", "lists": {"add": [{"name": "AddRem"}], "remove": [{"name": "addrem"}]}})
    assert both["outcome"] == "CREATED" and both["contact"]["lists"] == []  # removal wins, and no empty list is made
    real = await api.upsert({"email": "d3@example.com", "lists": {"add": [{"name": "trial"}, {"name": "lost"}]}})
    assert real["outcome"] == "CREATED" and sorted(item["name"] for item in real["contact"]["lists"]) == ["lost", "trial"]
    names = await api.gql("{ lists { edges { node { name size } } } }")
    assert sorted((e["node"]["name"], e["node"]["size"]) for e in names["lists"]["edges"]) == [("Known", 0), ("lost", 1), ("trial", 1)]


async def test_add_remove_and_set(api: Api) -> None:
    made = await api.upsert({"email": "d@example.com", "lists": {"add": [{"name": "A"}, {"name": "B"}]}})
    contact_id = made["contact"]["id"]
    removed = await api.upsert({"id": contact_id, "lists": {"remove": [{"name": "A"}, {"name": "never-existed"}]}})
    assert removed["changedFields"] == ["lists"]
    assert [item["name"] for item in removed["contact"]["lists"]] == ["B"]
    replaced = await api.upsert({"id": contact_id, "lists": {"set": [{"name": "C"}]}})
    assert [item["name"] for item in replaced["contact"]["lists"]] == ["C"]
    again = await api.upsert({"id": contact_id, "lists": {"set": [{"name": "c"}]}})
    assert again["outcome"] == "UNCHANGED"
    emptied = await api.upsert({"id": contact_id, "lists": {"set": []}})
    assert emptied["contact"]["lists"] == []


async def test_create_list_refuses_a_duplicate_name(api: Api) -> None:
    await api.create_list("Dup")
    result = await api.gql('mutation { createList(name: "DUP") { list { id } userErrors { field code } } }')
    assert result["createList"] == {"list": None, "userErrors": [{"field": ["name"], "code": "INVALID_INPUT"}]}


async def test_companies_must_exist_and_replace(api: Api) -> None:
    made = await api.gql('mutation { a: createCompany(name: "Acme") { company { id name } } b: createCompany(name: "Beta") { company { id } } }')
    acme, beta = made["a"]["company"]["id"], made["b"]["company"]["id"]
    missing = await api.upsert({"email": "e@example.com", "companies": [acme, "nope"]})
    assert [(e["field"], e["code"]) for e in missing["userErrors"]] == [(["contact", "companies"], "COMPANY_NOT_FOUND")]
    assert (await api.gql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 0

    linked = await api.upsert({"email": "e@example.com", "companies": [acme]})
    assert linked["contact"]["companies"] == [{"id": acme, "name": "Acme"}]
    swapped = await api.upsert({"email": "e@example.com", "companies": [beta]})
    assert [c["id"] for c in swapped["contact"]["companies"]] == [beta]
    assert swapped["changedFields"] == ["companies"]
    cleared = await api.upsert({"email": "e@example.com", "companies": None})
    assert cleared["contact"]["companies"] == []


async def test_external_urls_merge_by_ref_null_removes_and_at_most_three(api: Api) -> None:
    made = await api.upsert(
        {
            "email": "f@example.com",
            "externalUrls": [
                {"ref": "crm", "url": "https://crm.example.com/1", "label": "CRM"},
                {"ref": "shop", "url": "https://shop.example.com/1"},
            ],
        }
    )
    contact_id = made["contact"]["id"]
    assert [u["ref"] for u in made["contact"]["externalUrls"]] == ["crm", "shop"]
    third = await api.upsert({"id": contact_id, "externalUrls": [{"ref": "web", "url": "https://web.example.com"}]})
    assert [u["ref"] for u in third["contact"]["externalUrls"]] == ["crm", "shop", "web"]
    too_many = await api.upsert({"id": contact_id, "externalUrls": [{"ref": "four", "url": "https://four.example.com"}]})
    assert [(e["field"], e["code"]) for e in too_many["userErrors"]] == [(["contact", "externalUrls"], "TOO_MANY_EXTERNAL_URLS")]
    removed = await api.upsert({"id": contact_id, "externalUrls": [{"ref": "shop", "url": None}]})
    assert [u["ref"] for u in removed["contact"]["externalUrls"]] == ["crm", "web"]
    all_gone = await api.upsert({"id": contact_id, "externalUrls": None})
    assert all_gone["contact"]["externalUrls"] == []


UPSERT_WITH_LISTS = "mutation U($c: ContactInput!) { upsertContact(input: {contact: $c}) { outcome userErrors { code } } }"


async def test_a_list_ref_is_one_of_id_or_name_by_its_type(api: Api) -> None:
    """`ListRef @oneOf`: a typed client cannot build one with both or neither, and a request that
    does is refused before anything runs, in a variable or written in the document."""
    for ref in ({"id": "1", "name": "VIP"}, {}, {"name": None}):
        errors = await api.errors(UPSERT_WITH_LISTS, {"c": {"email": "one@example.com", "lists": {"add": [ref]}}})
        # Strawberry's words: "OneOf Input Object 'ListRef' must specify exactly one key." or
        # "Value for member field 'name' must be non-null".
        assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and re.search(r"'ListRef'|member field 'name'", errors[0]["message"]), (ref, errors)
    literal = 'mutation { upsertContact(input: {contact: {email: "one@example.com", lists: {add: [{id: "1", name: "VIP"}]}}}) { outcome } }'
    assert (await api.errors(literal))[0]["extensions"]["code"] == "INVALID_INPUT"
    introspected = await api.gql('{ __type(name: "ListRef") { isOneOf } }')
    assert introspected["__type"]["isOneOf"] is True
    assert (await api.gql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 0


async def test_date_times_say_the_format_they_follow_and_keep_it(api: Api) -> None:
    typed = await api.gql('{ __type(name: "DateTime") { specifiedByURL } }')
    assert typed["__type"]["specifiedByURL"] == "https://scalars.graphql.org/andimarek/date-time.html"
    made = await api.upsert({"email": "when@example.com"})
    created = (await api.gql("query C($id: ID!) { contact(id: $id) { createdAt } }", {"id": made["contact"]["id"]}))["contact"]["createdAt"]
    # RFC 3339: date, T, time with fraction, and an offset
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", created), created
