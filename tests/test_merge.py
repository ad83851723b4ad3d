"""mergeContacts (issue 22): duplicates become one contact, with nothing lost, and the merged
contacts' identities keep finding the survivor so the duplicate never comes back."""

from __future__ import annotations

import asyncio
from typing import Any

from contactql.store.model import Scope
from tests.conftest import make_key
from tests.helpers import CONTACT_FIELDS, Api
from tests.test_erase import ERASE, SUPPRESSIONS, sha
from tests.test_subscribe import CONFIRM, SUBSCRIBE, events

MERGE = f"""
mutation M($input: MergeContactsInput!) {{
  mergeContacts(input: $input) {{
    contact {{ {CONTACT_FIELDS} history {{ edges {{ node {{ source changes {{ field old new }} }} }} }} }}
    mergedIds changedFields aliases dryRun userErrors {{ field code message }}
  }}
}}
"""


async def merge(api: Api, into: str, *from_: str, **options: Any) -> dict[str, Any]:
    return (await api.gql(MERGE, {"input": {"into": into, "from": list(from_), **options}}))["mergeContacts"]


def props(contact: dict[str, Any]) -> dict[str, str]:
    return {p["field"]["name"]: p["value"] for p in contact["properties"]}


async def two_of_one_person(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    await api.property_field("tier")
    await api.property_field("note")
    ann = await api.upsert(
        {"email": "ann@example.com", "firstName": "Ann", "externalId": "crm-1", "lists": {"add": [{"name": "Newsletter"}]},
         "properties": [{"name": "tier", "value": "Gold"}], "externalUrls": [{"ref": "site", "url": "https://example.com/ann"}]}
    )  # fmt: skip
    old = await api.upsert(
        {"email": "ann.old@example.com", "mobile": "+4791234567", "lastName": "Berg", "externalId": "legacy-9", "lists": {"add": [{"name": "Events"}]},
         "properties": [{"name": "tier", "value": "Silver"}, {"name": "note", "value": "met at fair"}],
         "externalUrls": [{"ref": "site", "url": "https://example.com/other"}, {"ref": "crm", "url": "https://crm.example.com/9"}]},
        events={"onCreate": ["imported"]},
    )  # fmt: skip
    return ann["contact"], old["contact"]


async def test_a_merge_keeps_everything_of_both_in_the_survivor(admin: Api, api: Api) -> None:
    ann, old = await two_of_one_person(api)
    done = await merge(api, ann["id"], old["id"])
    assert done["userErrors"] == [] and done["mergedIds"] == [old["id"]] and done["dryRun"] is False
    merged = done["contact"]
    # NON_EMPTY: the survivor's values, and the other's where the survivor had none
    assert (merged["id"], merged["email"], merged["externalId"], merged["firstName"]) == (ann["id"], "ann@example.com", "crm-1", "Ann")
    assert (merged["mobile"], merged["lastName"]) == ("+4791234567", "Berg")
    assert props(merged) == {"tier": "Gold", "note": "met at fair"}
    assert sorted(x["name"] for x in merged["lists"]) == ["Events", "Newsletter"]
    assert {u["ref"]: u["url"] for u in merged["externalUrls"]} == {"site": "https://example.com/ann", "crm": "https://crm.example.com/9"}
    assert sorted(done["aliases"]) == ["ann.old@example.com", "legacy-9"]
    assert set(done["changedFields"]) >= {"mobile", "lastName", "properties.note", "lists", "externalUrls"}
    # the other is gone; its history and events are the survivor's now, and a last entry says so
    assert await api.contact(old["id"]) is None
    stored = await api.contact(ann["id"])
    assert stored is not None and props(stored) == props(merged) and stored["mobile"] == "+4791234567"
    history = [e["node"] for e in merged["history"]["edges"]]
    assert history[-1]["source"] == "MERGE" and history[-1]["changes"][0] == {"field": "mergedFrom", "old": None, "new": [old["id"]]}
    assert any(c["new"] == "Berg" for e in history[:-1] for c in e["changes"])  # the other's own entries
    assert [e["key"] for e in await events(admin, contactId=ann["id"])] == ["ann.old@example.com"]


async def test_the_merged_identities_find_the_survivor_and_do_not_replace_its_own(api: Api) -> None:
    ann, old = await two_of_one_person(api)
    assert (await merge(api, ann["id"], old["id"]))["userErrors"] == []
    # the old address, alone, by the EMAIL rule; the old externalId by the default rules
    by_email = await api.upsert({"email": "ann.old@example.com", "firstName": "Annie"}, match={"rules": ["EMAIL"]})
    assert (by_email["outcome"], by_email["contact"]["id"]) == ("UPDATED", ann["id"])
    assert (by_email["contact"]["email"], by_email["contact"]["firstName"]) == ("ann@example.com", "Annie")
    by_external = await api.upsert({"externalId": "legacy-9", "lastName": "Berg-Hansen"})
    assert (by_external["outcome"], by_external["contact"]["id"], by_external["contact"]["externalId"]) == ("UPDATED", ann["id"], "crm-1")
    # the old pair, as the default EMAIL_AND_MOBILE rule keys it
    by_pair = await api.upsert({"email": "ann.old@example.com", "mobile": "+47 912 34 567", "address": {"town": "Oslo"}})
    assert (by_pair["outcome"], by_pair["contact"]["id"], by_pair["contact"]["address"]["town"]) == ("UPDATED", ann["id"], "Oslo")
    total = (await api.gql("{ contacts { totalCount } }"))["contacts"]["totalCount"]
    assert total == 1


async def test_a_dry_run_shows_the_merge_and_writes_nothing(api: Api) -> None:
    ann, old = await two_of_one_person(api)
    shown = await merge(api, ann["id"], old["id"], dryRun=True, fieldPriority=[{"field": "properties.tier", "rule": "NEWEST"}, {"field": "email", "rule": "NEWEST"}])
    assert shown["userErrors"] == [] and shown["dryRun"] is True
    assert (shown["contact"]["email"], props(shown["contact"])["tier"]) == ("ann.old@example.com", "Silver")  # the newer contact's
    assert "ann@example.com" in shown["aliases"]  # the survivor's own address it would give up
    assert await api.contact(old["id"]) is not None
    assert (await api.contact(ann["id"]))["email"] == "ann@example.com"


async def test_consent_goes_with_its_address_and_an_opt_out_wins(api: Api) -> None:
    a = await api.upsert({"email": "a@example.com", "firstName": "Old"})
    b = await api.upsert({"email": "b@example.com", "firstName": "New", "emailStatus": "SUBSCRIBED", "smsStatus": "SUBSCRIBED", "mobile": "+4790000001"})
    merged = (await merge(api, a["contact"]["id"], b["contact"]["id"], fieldPriority=[{"field": "firstName", "rule": "NEWEST"}]))["contact"]
    assert merged["firstName"] == "New"
    # a@ never opted in: b@'s consent stays with b@ (now an alias); the mobile brings its own
    assert (merged["email"], merged["emailStatus"]) == ("a@example.com", "NO_MARKETING")
    assert (merged["mobile"], merged["smsStatus"]) == ("+4790000001", "SUBSCRIBED")
    # taking the other address takes its consent with it
    c = await api.upsert({"email": "c@example.com", "emailStatus": "SUBSCRIBED"})
    d = await api.upsert({"email": "d@example.com"})
    newest = (await merge(api, c["contact"]["id"], d["contact"]["id"], fieldPriority=[{"field": "email", "rule": "NEWEST"}]))["contact"]
    assert (newest["email"], newest["emailStatus"]) == ("d@example.com", "NO_MARKETING")
    # an UNSUBSCRIBED on any of them wins, whatever the rule
    e = await api.upsert({"email": "e@example.com", "emailStatus": "SUBSCRIBED"})
    f = await api.upsert({"email": "f@example.com", "emailStatus": "UNSUBSCRIBED"})
    assert (await merge(api, e["contact"]["id"], f["contact"]["id"]))["contact"]["emailStatus"] == "UNSUBSCRIBED"
    refused = await merge(api, e["contact"]["id"], a["contact"]["id"], fieldPriority=[{"field": "emailStatus", "rule": "TARGET"}])
    assert [(x["field"], x["code"]) for x in refused["userErrors"]] == [(["input", "fieldPriority", "0", "field"], "INVALID_INPUT")]


async def test_links_and_confirmations_made_for_a_merged_contact(app: Any, admin: Api, api: Api) -> None:
    kept = (await api.upsert({"email": "kept@example.com", "emailStatus": "SUBSCRIBED"}))["contact"]["id"]
    pending = (await api.gql(SUBSCRIBE, {"input": {"contact": {"email": "pending@example.com"}, "formType": "news"}}))["subscribeContact"]["contact"]["id"]
    params = next(e["params"] for e in await events(admin, contactId=pending) if e["params"].get("UnsubscribeToken"))
    assert (await merge(api, kept, pending))["userErrors"] == []
    # the confirmation was for an address the survivor does not keep: it is gone, not left dangling
    confirmed = (await api.gql(CONFIRM, {"t": params["ConfirmationToken"]}))["confirmContact"]
    assert [e["code"] for e in confirmed["userErrors"]] == ["NOT_FOUND"]
    assert (await api.contact(kept))["emailStatus"] == "SUBSCRIBED"
    # the merged contact's unsubscribe link still works: it unsubscribes the survivor
    page = await api.http.get("/unsubscribe", params={"token": params["UnsubscribeToken"]})
    assert page.status_code == 200
    assert (await api.contact(kept))["emailStatus"] == "UNSUBSCRIBED"
    # keeping the pending address keeps its confirmation
    other = (await api.upsert({"email": "other@example.com"}))["contact"]["id"]
    again = (await api.gql(SUBSCRIBE, {"input": {"contact": {"email": "again@example.com"}, "formType": "news"}}))["subscribeContact"]["contact"]["id"]
    token = next(e["params"]["ConfirmationToken"] for e in await events(admin, contactId=again) if e["params"].get("ConfirmationToken"))
    assert (await merge(api, other, again, fieldPriority=[{"field": "email", "rule": "NEWEST"}]))["contact"]["email"] == "again@example.com"
    assert (await api.gql(CONFIRM, {"t": token}))["confirmContact"]["contact"] == {"id": other, "emailStatus": "SUBSCRIBED", "confirmed": True}


async def test_an_alias_gives_way_to_a_contact_that_holds_the_identity(api: Api) -> None:
    a = (await api.upsert({"email": "a@example.com", "firstName": "Ann", "lastName": "Aa"}))["contact"]["id"]
    b = (await api.upsert({"email": "b@example.com", "mobile": "+4790000003", "firstName": "Bob", "lastName": "Bee"}))["contact"]["id"]
    c = (await api.upsert({"email": "c@example.com"}))["contact"]["id"]
    assert (await merge(api, a, b))["userErrors"] == []
    # NAME_AND_EMAIL needs the names too: other names are another person, created without a clash
    named = await api.upsert({"email": "b@example.com", "firstName": "Bob", "lastName": "Bee"}, match={"rules": ["NAME_AND_EMAIL"]})
    assert named["outcome"] == "CREATED" and named["userErrors"] == []
    # a contact that takes the old address itself is found by it, never the survivor beside it
    assert (await api.upsert({"id": c, "email": "b@example.com", "mobile": "+4790000004"}, match={"rules": ["ID"]}))["outcome"] == "UPDATED"
    found = await api.upsert({"email": "b@example.com", "lastName": "Holder"}, match={"rules": ["EMAIL"], "onMultipleMatches": "UPDATE_ALL"})
    assert found["userErrors"] == [] and sorted(x["id"] for x in found["contacts"]) == sorted([c, named["contact"]["id"]])
    assert (await api.contact(a))["lastName"] == "Aa"


async def test_refusals_name_the_field(api: Api, other_workspace: Api) -> None:
    a = (await api.upsert({"email": "a@example.com", "externalId": "x-1"}))["contact"]["id"]
    b = (await api.upsert({"email": "b@example.com"}))["contact"]["id"]
    c = (await api.upsert({"email": "c@example.com", "externalId": "x-2"}))["contact"]["id"]
    theirs = (await other_workspace.upsert({"email": "t@example.com"}))["contact"]["id"]

    async def refused(into: str, *from_: str, **options: Any) -> list[tuple[list[str], str]]:
        done = await merge(api, into, *from_, **options)
        assert done["contact"] is None
        return [(e["field"], e["code"]) for e in done["userErrors"]]

    assert await refused(a) == [(["input", "from"], "INVALID_INPUT")]
    assert await refused(a, a) == [(["input", "from", "0"], "INVALID_INPUT")]
    assert await refused(a, b, b) == [(["input", "from", "1"], "INVALID_INPUT")]
    assert await refused(a, "999999") == [(["input", "from", "0"], "NOT_FOUND")]
    assert await refused("abc", b) == [(["input", "into"], "NOT_FOUND")]
    assert await refused(a, theirs) == [(["input", "from", "0"], "NOT_FOUND")]
    assert await refused(a, *[str(i) for i in range(1, 23)]) == [(["input", "from"], "INVALID_INPUT")]
    assert await refused(a, b, fieldPriority=[{"field": "shoeSize", "rule": "NEWEST"}]) == [(["input", "fieldPriority", "0", "field"], "INVALID_INPUT")]
    # the merged email and mobile would be a third contact's pair
    x = (await api.upsert({"email": "x@example.com"}))["contact"]["id"]
    m = (await api.upsert({"mobile": "+4790000002"}))["contact"]["id"]
    await api.upsert({"email": "x@example.com", "mobile": "+4790000002"})
    assert await refused(x, m) == [(["input", "fieldPriority"], "DUPLICATE_IDENTITY")]
    await api.gql("mutation D($id: ID!) { deleteContact(id: $id) { deletedId } }", {"id": c})
    assert await refused(a, c) == [(["input", "from", "0"], "CONTACT_DELETED")]
    assert await api.contact(b) is not None


async def test_erasing_the_survivor_suppresses_the_merged_identities_too(admin: Api, api: Api) -> None:
    ann, old = await two_of_one_person(api)
    assert (await merge(api, ann["id"], old["id"]))["userErrors"] == []
    assert (await admin.gql(ERASE, {"id": ann["id"], "reason": "r"}))["eraseContact"]["userErrors"] == []
    digests = {e["node"]["digest"] for e in (await admin.gql(SUPPRESSIONS))["suppressions"]["edges"]}
    assert {sha("ann@example.com"), sha("ann.old@example.com"), sha("legacy-9"), sha("crm-1"), sha("+4791234567")} <= digests
    back = await api.upsert({"email": "ann.old@example.com"}, match={"rules": ["EMAIL"]})
    assert back["outcome"] == "SKIPPED" and back["userErrors"][0]["code"] == "SUPPRESSED"


async def test_no_duplicate_comes_back_while_both_identities_are_written(app: Any, api: Api) -> None:
    """Upserts of either identity, before, during and after the merge: all land on one contact."""
    a = (await api.upsert({"email": "one@example.com"}))["contact"]["id"]
    b = (await api.upsert({"email": "two@example.com"}))["contact"]["id"]
    writes = [api.upsert({"email": email, "firstName": f"{email[:3]}{i}"}, match={"rules": ["EMAIL"]}) for i in range(30) for email in ("one@example.com", "two@example.com")]
    results = await asyncio.gather(*writes[:20], merge(api, a, b), *writes[20:])
    done = results[20]
    assert done["userErrors"] == []
    outcomes = [r for i, r in enumerate(results) if i != 20]
    assert all(r["outcome"] == "UPDATED" and r["userErrors"] == [] for r in outcomes), [r["outcome"] for r in outcomes]
    assert (await api.gql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 1
    assert (await api.contact(a))["email"] == "one@example.com"
    after = await api.upsert({"email": "two@example.com", "lastName": "Last"}, match={"rules": ["EMAIL"]})
    assert (after["outcome"], after["contact"]["id"]) == ("UPDATED", a)


async def test_merging_needs_a_write_key(app: Any, api: Api) -> None:
    reader = Api(api.http, await make_key(app, scope=Scope.READ))
    a = (await api.upsert({"email": "a@example.com"}))["contact"]["id"]
    b = (await api.upsert({"email": "b@example.com"}))["contact"]["id"]
    [error] = await reader.errors(MERGE, {"input": {"into": a, "from": [b]}})
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_a_resubscription_waiting_for_its_confirmation_is_not_merged(admin: Api, api: Api) -> None:
    """The pending contact an erased person's new subscription makes may be written by nothing
    but that subscription: a merge neither writes to it nor carries its email onto another."""
    gone = (await api.upsert({"email": "again@example.com"}))["contact"]
    assert (await admin.gql(ERASE, {"id": gone["id"], "reason": "request 40"}))["eraseContact"]["userErrors"] == []
    pending = (await api.gql(SUBSCRIBE, {"input": {"contact": {"email": "again@example.com"}, "formType": "news"}}))["subscribeContact"]["contact"]
    other = (await api.upsert({"email": "other@example.com"}))["contact"]
    for into, from_, field in ((other["id"], pending["id"], ["input", "from", "0"]), (pending["id"], other["id"], ["input", "into"])):
        refused = await merge(api, into, from_)
        assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(field, "SUPPRESSED")]
        assert (await merge(api, into, from_, dryRun=True))["dryRun"] is True  # a refused dry run says it was one
    assert (await api.contact(other["id"]))["email"] == "other@example.com"
    token = next(e["params"]["ConfirmationToken"] for e in await events(admin) if e["params"].get("ConfirmationToken"))
    assert (await api.gql(CONFIRM, {"t": token}))["confirmContact"]["userErrors"] == []
    merged = await merge(api, other["id"], pending["id"])
    assert merged["userErrors"] == [] and merged["mergedIds"] == [pending["id"]]
