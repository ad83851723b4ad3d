"""contacts(search:): any part of names, email, mobile digits and externalId, case and accents
ignored, best matches first; kept in step with every write path — through HTTP, both engines."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import POSTGRES, Api, query
from tests.test_batches import wait_finished
from tests.test_import import upload

PAGE = """query S($s: String, $f: ContactFilter, $o: [ContactOrder!], $first: Int, $after: String) {
  contacts(search: $s, filter: $f, orderBy: $o, first: $first, after: $after) {
    totalCount edges { node { email } } pageInfo { hasNextPage endCursor }
  }
}"""


async def found(api: Api, search: str, **more: Any) -> list[str]:
    page = (await api.gql(PAGE, {"s": search, "first": 100, **more}))["contacts"]
    emails = [e["node"]["email"] for e in page["edges"]]
    assert page["totalCount"] == len(emails), "totalCount counts what the search finds"
    return emails


@pytest.fixture
async def people(api: Api) -> None:
    for contact in [
        {"email": "zoe.angstrom@example.com", "firstName": "Zoë", "lastName": "Ångström", "mobile": "+1 646 755 1998"},
        {"email": "strasse@example.de", "firstName": "Jürgen", "lastName": "STRASSE", "externalId": "CRM-0042"},
        {"email": "sophia@example.gr", "firstName": "Σοφία", "lastName": "Παπαδοπούλου", "mobile": "+44 7911 123456"},
        {"email": "ann@example.com", "firstName": "Ann", "lastName": "Lee"},
        {"email": "joanna@example.com", "firstName": "Joanna", "lastName": "Mann"},
        {"email": "marianne@example.com", "firstName": "Marianne", "lastName": "Berg"},
        {"email": "100%_off@example.com", "firstName": "Promo"},
        {"email": "aero@example.dk", "lastName": "Ærøskøbing"},
    ]:
        made = await api.upsert(contact)
        assert made["userErrors"] == [], made


async def test_any_part_of_a_name_or_email_case_and_accents_ignored(api: Api, people: None) -> None:
    assert await found(api, "angstrom") == ["zoe.angstrom@example.com"]
    assert await found(api, "ÅNGSTRÖM") == ["zoe.angstrom@example.com"]
    assert await found(api, "zoe") == ["zoe.angstrom@example.com"]
    assert await found(api, "jurgen strasse") == ["strasse@example.de"]
    assert await found(api, "aeroskobing") == ["aero@example.dk"], "letters without a decomposition: æ, ø"
    assert await found(api, "Straße") == ["strasse@example.de"], "ß folds to ss"
    assert await found(api, "σοφια") == ["sophia@example.gr"], "Greek, accents and case"
    assert await found(api, "ΠΑΠΑΔ") == ["sophia@example.gr"]
    assert await found(api, "example.de") == ["strasse@example.de"]
    assert await found(api, "crm-0042") == ["strasse@example.de"], "externalId"
    assert await found(api, "nobody") == []


async def test_a_mobile_is_found_by_its_digits_however_written(api: Api, people: None) -> None:
    for typed in ("6467551998", "(646) 755-1998", "+1 646 755 1998", "755 1998", "646.755"):
        assert await found(api, typed) == ["zoe.angstrom@example.com"], typed
    assert await found(api, "07911 123456") == ["sophia@example.gr"], "a national number with its trunk 0"


async def test_every_word_must_appear_in_any_order(api: Api, people: None) -> None:
    assert await found(api, "berg marianne") == ["marianne@example.com"]
    assert await found(api, "marianne mann") == []
    assert await found(api, "ann") == ["ann@example.com", "joanna@example.com", "marianne@example.com"]
    assert await found(api, "an ee") == ["ann@example.com"], "words under three characters are checked too"
    assert await found(api, "lee q") == []


async def test_best_matches_first_unless_ordered(api: Api, people: None) -> None:
    # "ann": a name that is "ann" (ann@…, first name), then one starting with it, then the rest.
    await api.upsert({"email": "anneli@example.com", "firstName": "Anneli"})
    assert await found(api, "ann") == ["ann@example.com", "anneli@example.com", "joanna@example.com", "marianne@example.com"]
    ordered = await found(api, "ann", o=[{"field": "EMAIL", "direction": "DESC"}])
    assert ordered == ["marianne@example.com", "joanna@example.com", "anneli@example.com", "ann@example.com"]
    # relevance pages: one at a time, each contact once
    seen, after = [], None
    for _ in range(10):
        page = (await api.gql(PAGE, {"s": "ann", "first": 1, "after": after}))["contacts"]
        seen += [e["node"]["email"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["ann@example.com", "anneli@example.com", "joanna@example.com", "marianne@example.com"]


async def test_search_combines_with_filters(api: Api, people: None) -> None:
    assert await found(api, "ann", f={"emailIn": ["joanna@example.com", "ann@example.com"]}) == ["ann@example.com", "joanna@example.com"]
    assert await found(api, "ann", f={"not": {"email": "ann@example.com"}}) == ["joanna@example.com", "marianne@example.com"]


@pytest.mark.parametrize("typed", ['"', '"ann', "ann OR zoe", "NEAR(ann zoe)", "ann*", "^ann", "-ann", "{email}: x", "100%_", "%", "_", "\\"])
async def test_search_syntax_is_text_never_an_expression(api: Api, people: None, typed: str) -> None:
    page = (await api.gql(PAGE, {"s": typed}))["contacts"]
    emails = [e["node"]["email"] for e in page["edges"]]
    if typed in ("100%_", "%", "_"):
        assert emails == ["100%_off@example.com"], "% and _ are characters, not wildcards"
    assert all(typed.strip('"*^-{}:\\() ').split()[0].lower() in e for e in emails if typed.strip('"*^-{}:\\() ')), emails


@pytest.mark.parametrize(
    ("search", "says"),
    [("x" * 201, "at most 200 characters"), (" ".join(f"w{i}" for i in range(11)), "at most 10 words"), ("a\x00b", "NUL")],
)
async def test_a_search_that_cannot_run_is_refused(api: Api, search: str, says: str) -> None:
    errors = await api.errors(PAGE, {"s": search})
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and says in errors[0]["message"], errors


async def test_relevance_needs_a_search_and_a_blank_search_finds_everyone(api: Api, people: None) -> None:
    errors = await api.errors(PAGE, {"o": [{"field": "RELEVANCE"}]})
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and "give search" in errors[0]["message"]
    assert len(await found(api, "   ")) == 8


async def test_another_workspace_finds_nothing(api: Api, other_workspace: Api, people: None) -> None:
    assert await found(other_workspace, "ann") == []
    assert await found(other_workspace, "646") == []


async def test_every_write_path_keeps_the_search_in_step(api: Api, settings: Any) -> None:
    made = await api.upsert({"email": "old.name@example.com", "firstName": "Gunnhild"})
    assert await found(api, "gunnhild") == ["old.name@example.com"]
    # an update: the old name is no longer found, the new one is
    await api.upsert({"email": "old.name@example.com", "firstName": "Sigrun"})
    assert await found(api, "gunnhild") == [] and await found(api, "sigrun") == ["old.name@example.com"]
    # a batch
    batch = await api.gql(
        "mutation B($c: [ContactInput!]!) { upsertContacts(input: {contacts: $c}) { batch { id } } }",
        {"c": [{"email": f"batch{i}@example.com", "lastName": f"Øvre{i}"} for i in range(3)]},
    )
    await wait_finished(api, batch["upsertContacts"]["batch"]["id"])
    assert await found(api, "ovre1") == ["batch1@example.com"]
    # an import
    imported = (await upload(api, b"email,first_name\nimported@example.com,Ingrid\n")).json()["data"]["importContacts"]
    await wait_finished(api, imported["batch"]["id"])
    assert await found(api, "ingrid") == ["imported@example.com"]
    # a delete: not found unless deleted contacts are asked for
    await api.gql("mutation D($id: ID!) { deleteContact(id: $id) { deletedId } }", {"id": made["contact"]["id"]})
    assert await found(api, "sigrun") == []
    assert await found(api, "sigrun", f={"includeDeleted": True}) == ["old.name@example.com"]
    if POSTGRES is None:  # the FTS5 index holds what the rows hold, no more, no less
        assert query(settings.database_url, "SELECT count(*) FROM contact_search WHERE contact_search MATCH '\"gunnhild\"'") == [(0,)]
        assert query(settings.database_url, "INSERT INTO contact_search(contact_search) VALUES ('integrity-check')") == []


async def test_a_search_with_a_segment_that_has_its_own_search_keeps_both(api: Api, people: None) -> None:
    segment = await api.gql('mutation { createSegment(name: "Anns", search: "ann") { segment { id } } }')
    segment_id = segment["createSegment"]["segment"]["id"]
    assert await found(api, "mann", f={"segmentId": segment_id}) == ["joanna@example.com"]
    assert await found(api, "berg", f={"and": [{"segmentId": segment_id}]}) == ["marianne@example.com"]
    ranked = await api.gql('query S($id: ID!) { segment(id: $id) { contacts(orderBy: [{field: RELEVANCE}]) { edges { node { email } } } } }', {"id": segment_id})
    assert [e["node"]["email"] for e in ranked["segment"]["contacts"]["edges"]][0] == "ann@example.com", "a segment's search orders its contacts by relevance"


async def test_typed_text_is_found_as_well_as_a_phone_number_s_digits(api: Api) -> None:
    await api.upsert({"email": "ext@example.com", "externalId": "12-34"})
    await api.upsert({"email": "mob@example.com", "mobile": "+4791234567"})
    await api.upsert({"email": "date@example.com", "externalId": "2024/05/01"})
    assert await found(api, "12-34") == ["ext@example.com", "mob@example.com"], "the externalId as typed, or 1234 in a mobile"
    assert await found(api, "2024/05/01") == ["date@example.com"]
    assert await found(api, "+47") == ["mob@example.com"], "a short international prefix"


async def test_invisible_characters_and_typographic_quotes_are_ignored(api: Api) -> None:
    await api.upsert({"email": "ob@example.com", "lastName": "O'Brien"})
    for typed in ("\u200bo'brien", "\ufeffO\u2019Brien", "o'brien\x01"):
        assert await found(api, typed) == ["ob@example.com"], repr(typed)


async def test_a_cursor_of_another_search_is_refused(api: Api, people: None) -> None:
    page = (await api.gql(PAGE, {"s": "ann", "first": 1}))["contacts"]
    errors = await api.errors(PAGE, {"s": "berg", "first": 1, "after": page["pageInfo"]["endCursor"]})
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and "not a cursor" in errors[0]["message"]
