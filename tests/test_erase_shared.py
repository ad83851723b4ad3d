"""eraseContact and a value another contact holds too (a family's mobile): it is that contact's
as well, so it is not suppressed and that contact stays writable, by id and by the value, on
every path; the erased person's own values are suppressed as before."""

from __future__ import annotations

from tests.helpers import Api
from tests.test_batches import STATUS, submit, wait_finished
from tests.test_erase import ERASE, SUPPRESSIONS
from tests.test_import import upload

SHARED = "+4790812777"


async def test_a_mobile_another_contact_holds_stays_theirs_and_writable(admin: Api, api: Api) -> None:
    erased = (await api.upsert({"email": "sharea@example.com", "mobile": SHARED, "firstName": "A"}))["contact"]
    twin = (await api.upsert({"email": "shareb@example.com", "mobile": SHARED, "firstName": "B"}))["contact"]
    done = (await admin.gql(ERASE, {"id": erased["id"], "reason": "request 31"}))["eraseContact"]
    assert done["userErrors"] == [] and done["erasure"]["suppressed"] == ["EMAIL"]
    assert [e["node"]["kind"] for e in (await admin.gql(SUPPRESSIONS))["suppressions"]["edges"]] == ["EMAIL"]

    # the twin: by id, by its own email and the shared mobile, in a batch and in an import
    by_id = await api.upsert({"id": twin["id"], "firstName": "B2"})
    assert (by_id["outcome"], by_id["userErrors"]) == ("UPDATED", [])
    by_pair = await api.upsert({"email": "shareb@example.com", "mobile": "+47 908 12 777", "lastName": "Twin"})
    assert (by_pair["outcome"], by_pair["userErrors"], by_pair["contact"]["id"]) == ("UPDATED", [], twin["id"])
    batch = (await submit(api, [{"email": "shareb@example.com", "mobile": SHARED, "lastName": "Batch"}, {"mobile": SHARED, "firstName": "Mobile only"}]))["batch"]
    finished = await wait_finished(api, batch["id"])
    assert (finished["updated"], finished["created"], finished["skipped"], finished["failed"]) == (1, 1, 0, 0)
    csv = f"email,mobile,firstName\nshareb@example.com,{SHARED},Imported\n".encode()
    imported = await wait_finished(api, (await upload(api, csv)).json()["data"]["importContacts"]["batch"]["id"])
    assert (imported["updated"], imported["skipped"], imported["failed"]) == (1, 0, 0)
    assert (await api.contact(twin["id"]))["firstName"] == "Imported"

    # the erased person's own email is still kept out, and says so
    again = await api.upsert({"email": "sharea@example.com", "mobile": SHARED})
    assert again["outcome"] == "SKIPPED" and [(e["field"], e["code"]) for e in again["userErrors"]] == [(["contact", "email"], "SUPPRESSED")]
    results = (await api.gql(STATUS, {"id": batch["id"], "outcome": "SKIPPED"}))["batch"]["results"]["edges"]
    assert results == []
