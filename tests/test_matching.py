"""Every match rule of SPEC §4, rule order, and the onMatch/onNoMatch/onMultipleMatches actions."""

from __future__ import annotations

import logging

import pytest

from tests.helpers import Api
from tests.test_batches import submit, wait_finished


async def test_email_and_mobile_rule_follows_seed_000(api: Api) -> None:
    both = await api.upsert({"email": "ann@example.com", "mobile": "+4790812501"})
    email_only = await api.upsert({"email": "ann@example.com"})
    mobile_only = await api.upsert({"mobile": "+4790812501"})
    assert [both["outcome"], email_only["outcome"], mobile_only["outcome"]] == ["CREATED"] * 3
    ids = {both["contact"]["id"], email_only["contact"]["id"], mobile_only["contact"]["id"]}
    assert len(ids) == 3, "the pair, the email with no mobile and the mobile with no email are three contacts"

    again = await api.upsert({"email": "ANN@example.com", "mobile": "0047 908 12 501", "firstName": "Ann"})
    assert again["outcome"] == "UPDATED"
    assert again["matchedBy"] == "EMAIL_AND_MOBILE"
    assert again["contact"]["id"] == both["contact"]["id"]
    assert again["changedFields"] == ["firstName"]

    only_email_again = await api.upsert({"email": "ann@example.com", "lastName": "Merg"})
    assert only_email_again["contact"]["id"] == email_only["contact"]["id"]
    only_mobile_again = await api.upsert({"mobile": "+47 90812501", "lastName": "Merg"})
    assert only_mobile_again["contact"]["id"] == mobile_only["contact"]["id"]


async def test_id_rule_updates_that_contact_and_reports_unknown_ids(api: Api) -> None:
    created = await api.upsert({"email": "bob@example.com"})
    contact_id = created["contact"]["id"]
    by_id = await api.upsert({"id": contact_id, "email": "robert@example.com"})
    assert by_id["outcome"] == "UPDATED"
    assert by_id["matchedBy"] == "ID"
    assert by_id["contact"]["email"] == "robert@example.com"
    assert by_id["changedFields"] == ["email"]

    unknown = await api.upsert({"id": "987654", "email": "robert@example.com", "firstName": "Rob"})
    assert unknown["invalidContactIds"] == ["987654"]
    assert unknown["matchedBy"] == "EMAIL_AND_MOBILE", "the next rule is tried after an unknown id"
    assert unknown["contact"]["id"] == contact_id


async def test_external_id_rule_comes_before_email(api: Api) -> None:
    first = await api.upsert({"externalId": "crm-1", "email": "carl@example.com"})
    second = await api.upsert({"externalId": "crm-1", "email": "carl.new@example.com"})
    assert second["matchedBy"] == "EXTERNAL_ID"
    assert second["contact"]["id"] == first["contact"]["id"]
    assert second["contact"]["email"] == "carl.new@example.com"


async def test_external_id_only_contacts_do_not_collide(api: Api) -> None:
    one = await api.upsert({"externalId": "a"})
    two = await api.upsert({"externalId": "b"})
    assert one["outcome"] == two["outcome"] == "CREATED"
    assert one["contact"]["id"] != two["contact"]["id"]


@pytest.mark.parametrize(
    ("rule", "probe", "expected"),
    [
        ("EMAIL", {"email": "dora@example.com"}, "with_mobile"),
        ("MOBILE", {"mobile": "+4791111111"}, "with_mobile"),
        ("EMAIL_OR_MOBILE", {"mobile": "+4791111111", "email": "other@example.com"}, "with_mobile"),
    ],
)
async def test_single_key_rules_find_contacts_whatever_the_other_key(api: Api, rule: str, probe: dict[str, str], expected: str) -> None:
    contacts = {"with_mobile": await api.upsert({"email": "dora@example.com", "mobile": "+4791111111"})}
    result = await api.upsert({**probe, "firstName": "Dora"}, match={"rules": [rule]})
    assert result["matchedBy"] == rule
    assert result["contact"]["id"] == contacts[expected]["contact"]["id"]
    assert result["contact"]["firstName"] == "Dora"


async def test_email_or_mobile_with_two_candidates_is_ambiguous_by_default(api: Api) -> None:
    one = await api.upsert({"email": "eve@example.com"})
    two = await api.upsert({"mobile": "+4792222222"})
    result = await api.upsert({"email": "eve@example.com", "mobile": "+4792222222"}, match={"rules": ["EMAIL_OR_MOBILE"]})
    assert result["outcome"] is None
    assert [e["code"] for e in result["userErrors"]] == ["AMBIGUOUS_MATCH"]
    assert result["userErrors"][0]["field"] == ["contact"]
    message = result["userErrors"][0]["message"]
    assert one["contact"]["id"] in message and two["contact"]["id"] in message


async def test_update_all_and_update_oldest(api: Api) -> None:
    one = await api.upsert({"email": "fay@example.com", "mobile": "+4793333333"})
    two = await api.upsert({"email": "fay@example.com"})
    every = await api.upsert(
        {"email": "fay@example.com", "lastName": "Lund"}, match={"rules": ["EMAIL"], "onMultipleMatches": "UPDATE_ALL"}
    )
    assert every["outcome"] == "UPDATED"
    assert sorted(c["id"] for c in every["contacts"]) == sorted([one["contact"]["id"], two["contact"]["id"]])
    oldest = await api.upsert(
        {"email": "fay@example.com", "firstName": "Fay"}, match={"rules": ["EMAIL"], "onMultipleMatches": "UPDATE_OLDEST"}
    )
    assert [c["id"] for c in oldest["contacts"]] == [one["contact"]["id"]]
    assert (await api.contact(two["contact"]["id"]))["firstName"] is None


async def test_name_and_email_rule_is_case_insensitive_on_names(api: Api) -> None:
    made = await api.upsert({"email": "gus@example.com", "firstName": "Gus", "lastName": "Berg", "mobile": "+4794444444"})
    found = await api.upsert(
        {"email": "gus@example.com", "firstName": " GUS ", "lastName": "berg", "privacyConsent": True},
        match={"rules": ["ID", "NAME_AND_EMAIL"]},
    )
    assert found["matchedBy"] == "NAME_AND_EMAIL"
    assert found["contact"]["id"] == made["contact"]["id"]
    other = await api.upsert(
        {"email": "gus@example.com", "firstName": "Gustav", "lastName": "Berg"}, match={"rules": ["NAME_AND_EMAIL"]}
    )
    assert other["outcome"] == "CREATED"


async def test_properties_rule_matches_every_named_value(api: Api) -> None:
    await api.property_field("ReferanceAccountId", "NUMBER")
    a = await api.upsert({"email": "h1@example.com", "properties": [{"name": "ReferanceAccountId", "value": "123456"}]})
    b = await api.upsert({"email": "h2@example.com", "properties": [{"name": "ReferanceAccountId", "value": "123456.0"}]})
    await api.upsert({"email": "h3@example.com", "properties": [{"name": "ReferanceAccountId", "value": "7"}]})
    result = await api.upsert(
        {"email": "h1@example.com", "properties": [{"name": "referanceaccountid", "value": "123456"}], "lastName": "Hansen"},
        match={"rules": ["PROPERTIES"], "properties": ["ReferanceAccountId", "email"], "onMultipleMatches": "UPDATE_ALL"},
    )
    assert result["matchedBy"] == "PROPERTIES"
    assert [c["id"] for c in result["contacts"]] == [a["contact"]["id"]]

    patch = await api.upsert(
        {"mobile": "353871234567"},
        match={
            "rules": ["PROPERTIES"],
            "properties": ["ReferanceAccountId"],
            "values": [{"name": "ReferanceAccountId", "value": "123456"}],
            "onMultipleMatches": "UPDATE_ALL",
        },
    )
    assert patch["outcome"] == "UPDATED"
    assert sorted(c["id"] for c in patch["contacts"]) == sorted([a["contact"]["id"], b["contact"]["id"]])
    assert (await api.contact(b["contact"]["id"]))["mobile"] == "+353871234567"


async def test_properties_rule_with_an_unknown_name_is_an_input_error(api: Api) -> None:
    result = await api.upsert({"email": "i@example.com"}, match={"rules": ["PROPERTIES"], "properties": ["nope"]})
    assert result["userErrors"] == [
        {"field": ["match", "properties", "0"], "code": "INVALID_INPUT", "message": "no property or field named 'nope'"}
    ]


@pytest.mark.parametrize(
    ("match", "outcome", "code"),
    [
        ({"onNoMatch": "FAIL"}, None, "NOT_FOUND"),
        ({"onNoMatch": "SKIP"}, "SKIPPED", None),
        ({"onNoMatch": "CREATE"}, "CREATED", None),
    ],
)
async def test_on_no_match(api: Api, match: dict[str, str], outcome: str | None, code: str | None) -> None:
    result = await api.upsert({"email": "nobody@example.com"}, match=match)
    assert result["outcome"] == outcome
    assert [e["code"] for e in result["userErrors"]] == ([code] if code else [])
    assert (result["contact"] is None) == (outcome != "CREATED")


async def test_update_by_id_only_fails_for_an_unknown_id(api: Api) -> None:
    # seed 004's PUT /contact/{id}: identification by id only, no creation.
    result = await api.upsert({"id": "424242", "firstName": "X"}, match={"rules": ["ID"], "onNoMatch": "FAIL"})
    assert result["outcome"] is None
    assert result["userErrors"][0]["code"] == "NOT_FOUND"
    assert result["userErrors"][0]["field"] == ["contact", "id"]
    assert result["invalidContactIds"] == ["424242"]


async def test_on_match_skip_is_insert_only(api: Api) -> None:
    made = await api.upsert({"email": "j@example.com", "firstName": "J"})
    skipped = await api.upsert({"email": "j@example.com", "firstName": "Changed"}, match={"onMatch": "SKIP"})
    assert skipped["outcome"] == "SKIPPED"
    assert skipped["matchedBy"] == "EMAIL_AND_MOBILE"
    assert skipped["contact"]["firstName"] == "J"
    assert (await api.contact(made["contact"]["id"]))["firstName"] == "J"


async def test_unchanged_when_every_value_is_already_there(api: Api) -> None:
    await api.upsert({"email": "k@example.com", "firstName": "K"})
    again = await api.upsert({"email": "k@example.com", "firstName": "K"})
    assert again["outcome"] == "UNCHANGED"
    assert again["changedFields"] == []


async def test_require_on_create_lists_every_missing_field(api: Api) -> None:
    result = await api.upsert(
        {"email": "l@example.com"}, match={"rules": ["ID", "NAME_AND_EMAIL"], "requireOnCreate": ["FIRST_NAME", "LAST_NAME", "EMAIL"]}
    )
    assert result["outcome"] is None
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [
        (["contact", "firstName"], "INVALID_INPUT"),
        (["contact", "lastName"], "INVALID_INPUT"),
    ]


async def test_duplicate_identity_when_an_update_takes_another_contacts_external_id(api: Api) -> None:
    holder = await api.upsert({"externalId": "ext-9", "email": "m1@example.com"})
    other = await api.upsert({"email": "m2@example.com"})
    result = await api.upsert({"id": other["contact"]["id"], "externalId": "ext-9"})
    assert result["outcome"] is None
    assert result["userErrors"][0]["code"] == "DUPLICATE_IDENTITY"
    assert result["userErrors"][0]["field"] == ["contact", "externalId"]
    assert holder["contact"]["id"] in result["userErrors"][0]["message"]
    assert (await api.contact(other["contact"]["id"]))["externalId"] is None


async def test_duplicate_identity_when_a_create_collides_on_an_external_id_the_rules_skipped(api: Api) -> None:
    await api.upsert({"externalId": "ext-1", "email": "n1@example.com"})
    result = await api.upsert({"externalId": "ext-1", "email": "n2@example.com"}, match={"rules": ["EMAIL"]})
    assert [e["code"] for e in result["userErrors"]] == ["DUPLICATE_IDENTITY"]


async def test_duplicate_identity_when_an_update_takes_another_pair(api: Api) -> None:
    await api.upsert({"email": "o@example.com"})
    second = await api.upsert({"mobile": "+4795555555"})
    result = await api.upsert({"id": second["contact"]["id"], "email": "o@example.com", "mobile": None})
    assert result["userErrors"][0]["code"] == "DUPLICATE_IDENTITY"


async def test_an_identity_given_up_by_an_earlier_item_is_taken_in_the_same_chunk(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    # Items are decided in their order, rows written in id order: the older contact takes what
    # the newer one gave up an item before. Applied as one chunk, at once — not retried after an
    # IntegrityError and then item by item.
    a = await api.upsert({"email": "give-a@example.com", "mobile": "+4790000101"})
    b = await api.upsert({"email": "give-b@example.com"})
    c = await api.upsert({"email": "give-c@example.com", "externalId": "give-1"})
    d = await api.upsert({"email": "give-d@example.com", "externalId": "give-2"})
    ids = [made["contact"]["id"] for made in (a, b, c, d)]
    items = [
        {"id": ids[1], "email": "give-b2@example.com"},
        {"id": ids[0], "email": "give-b@example.com"},
        {"id": ids[3], "externalId": "give-3"},
        {"id": ids[2], "externalId": "give-2"},
    ]
    with caplog.at_level(logging.WARNING, logger="contactql"):
        batch = (await submit(api, items, match={"rules": ["ID"]}))["batch"]
        done = await wait_finished(api, batch["id"])
    assert (done["updated"], done["failed"]) == (4, 0)
    assert [r.getMessage() for r in caplog.records if "trying again" in r.getMessage()] == []
    after = [await api.contact(cid) for cid in ids]
    assert [(x["email"], x["mobile"], x["externalId"]) for x in after] == [
        ("give-b@example.com", "+4790000101", None),  # the mobile it kept is written back
        ("give-b2@example.com", None, None),
        ("give-c@example.com", None, "give-2"),
        ("give-d@example.com", None, "give-3"),
    ]


async def test_deleted_contact_is_skipped_unless_restored(api: Api) -> None:
    made = await api.upsert({"email": "p@example.com"})
    deleted = await api.gql("mutation D($id: ID!) { deleteContact(id: $id) { deletedId userErrors { code } } }", {"id": made["contact"]["id"]})
    assert deleted["deleteContact"]["deletedId"] == made["contact"]["id"]

    skipped = await api.upsert({"email": "p@example.com", "firstName": "P"})
    assert skipped["outcome"] == "SKIPPED"
    assert [e["code"] for e in skipped["userErrors"]] == ["CONTACT_DELETED"]
    assert skipped["contact"] is None

    restored = await api.upsert({"email": "p@example.com", "firstName": "P"}, restoreDeleted=True)
    assert restored["outcome"] == "UPDATED"
    assert set(restored["changedFields"]) == {"firstName", "deletedAt"}
    assert restored["contact"]["deletedAt"] is None


async def test_dry_run_reports_without_writing(api: Api) -> None:
    dry = await api.upsert({"email": "q@example.com", "firstName": "Q"}, dryRun=True)
    assert dry["outcome"] == "CREATED"
    assert dry["contact"] is None
    assert dry["changedFields"][:2] == ["email", "firstName"]
    listing = await api.gql('{ contacts(filter: {email: "q@example.com"}) { totalCount } }')
    assert listing["contacts"]["totalCount"] == 0

    await api.upsert({"email": "q@example.com", "firstName": "Q"})
    dry_update = await api.upsert({"email": "q@example.com", "firstName": "Quinn"}, dryRun=True)
    assert dry_update["outcome"] == "UPDATED"
    assert dry_update["changedFields"] == ["firstName"]
    stored = await api.gql('{ contacts(filter: {email: "q@example.com"}) { edges { node { firstName } } } }')
    assert stored["contacts"]["edges"][0]["node"]["firstName"] == "Q"


async def test_a_dry_run_update_answers_the_contact_as_it_would_be(api: Api) -> None:
    """Every field of a dry run's contact is as the upsert would leave it — its properties, lists,
    companies and URLs too, not the stored ones beside the new names — and nothing is written."""
    await api.property_field("city")
    await api.property_field("tier")
    made = await api.gql('mutation { a: createCompany(name: "Acme") { company { id } } b: createCompany(name: "Beta") { company { id } } }')
    acme, beta = made["a"]["company"]["id"], made["b"]["company"]["id"]
    stored = {
        "email": "w@example.com", "firstName": "W", "lists": {"add": [{"name": "Probe"}]}, "companies": [acme],
        "properties": [{"name": "city", "value": "Oslo"}, {"name": "tier", "value": "gold"}], "externalUrls": [{"ref": "web", "url": "https://w.example.com"}],
    }  # fmt: skip
    before = (await api.upsert(stored))["contact"]
    # The lists the item does not name are the contact's still (Probe: made by this process's
    # write, not in its cache of lists until a chunk names it).
    added = await api.upsert({"email": "w@example.com", "lists": {"add": [{"name": "Known"}]}}, dryRun=True)
    assert [item["name"] for item in added["contact"]["lists"]] == ["Known", "Probe"]
    change = {
        "email": "w@example.com", "firstName": "Dry", "lists": {"set": [{"name": "Known"}, {"name": "probe"}]}, "companies": [beta, acme],
        "properties": [{"name": "city", "value": "Bergen"}], "externalUrls": [{"ref": "cv", "url": "https://cv.example.com", "label": "CV"}],
    }  # fmt: skip
    dry = await api.upsert(change, dryRun=True)
    assert dry["outcome"] == "UPDATED" and dry["changedFields"] == ["firstName", "properties.city", "lists", "companies", "externalUrls"]
    assert dry["contact"]["firstName"] == "Dry"
    assert [(p["field"]["name"], p["value"]) for p in dry["contact"]["properties"]] == [("city", "Bergen"), ("tier", "gold")]
    assert [item["name"] for item in dry["contact"]["lists"]] == ["Known", "Probe"]
    assert [c["name"] for c in dry["contact"]["companies"]] == ["Acme", "Beta"]
    assert dry["contact"]["externalUrls"] == [{"ref": "cv", "url": "https://cv.example.com", "label": "CV"}, {"ref": "web", "url": "https://w.example.com", "label": None}]

    after = await api.contact(before["id"])
    assert {k: after[k] for k in ("firstName", "properties", "lists", "companies", "externalUrls")} == {k: before[k] for k in ("firstName", "properties", "lists", "companies", "externalUrls")}
    assert [e["node"]["name"] for e in (await api.gql("{ lists { edges { node { name } } } }"))["lists"]["edges"]] == ["Probe"]
    written = await api.upsert(change)  # the answer the dry run gave, now for real
    assert {k: written["contact"][k] for k in ("firstName", "lists", "companies", "externalUrls")} == {
        "firstName": "Dry", "lists": [{"id": written["contact"]["lists"][0]["id"], "name": "Known"}, before["lists"][0]],
        "companies": dry["contact"]["companies"], "externalUrls": dry["contact"]["externalUrls"],
    }  # fmt: skip
    assert written["contact"]["properties"] == dry["contact"]["properties"]


async def test_clearing_the_last_identity_is_refused(api: Api) -> None:
    made = await api.upsert({"email": "r@example.com"})
    result = await api.upsert({"id": made["contact"]["id"], "email": None})
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [(["contact"], "IDENTITY_REQUIRED")]
    assert (await api.contact(made["contact"]["id"]))["email"] == "r@example.com"


async def test_an_input_with_no_identity_is_identity_required(api: Api) -> None:
    result = await api.upsert({"firstName": "Nobody"})
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [(["contact"], "IDENTITY_REQUIRED")]
