"""eraseContact and a value another contact holds too (a family's mobile): it is that contact's
as well, so it is not suppressed and that contact stays writable, by id and by the value, on
every path; the erased person's own values are suppressed as before."""

from __future__ import annotations

from contactql.config import Settings
from contactql.store.model import Scope
from tests.conftest import make_key, running
from tests.helpers import Api, query
from tests.test_batches import STATUS, submit, wait_finished
from tests.test_erase import ERASE, SUPPRESSIONS
from tests.test_import import upload
from tests.test_merge import merge

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


async def test_an_email_a_survivor_knows_from_a_merge_stays_its_own(admin: Api, api: Api) -> None:
    """The survivor of a merge is found by the merged contact's email (an alias): erasing
    another contact that holds that email leaves it unsuppressed, so a sync naming it still
    finds the survivor."""
    survivor = (await api.upsert({"email": "s3@example.com", "firstName": "S"}))["contact"]
    merged = (await api.upsert({"email": "s3x@example.com", "mobile": "+4790000042"}))["contact"]
    assert (await merge(api, survivor["id"], merged["id"]))["userErrors"] == []
    holder = (await api.upsert({"email": "s3x@example.com", "mobile": "+4790000043"}))["contact"]
    assert holder["id"] not in (survivor["id"], merged["id"])
    done = (await admin.gql(ERASE, {"id": holder["id"], "reason": "request 32"}))["eraseContact"]
    assert done["userErrors"] == [] and done["erasure"]["suppressed"] == ["MOBILE"]
    synced = await api.upsert({"email": "s3x@example.com", "firstName": "Synced"}, match={"rules": ["EMAIL"]})
    assert (synced["outcome"], synced["userErrors"], synced["contact"]["id"]) == ("UPDATED", [], survivor["id"])
    again = await api.upsert({"email": "other@example.com", "mobile": "+4790000043"})
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == [(["contact", "mobile"], "SUPPRESSED")]


async def test_a_queued_item_about_someone_else_loses_a_client_ref_quoting_the_erased_email(settings: Settings) -> None:
    async with running(settings, workers=False) as (app, api):
        admin = Api(api.http, await make_key(app, scope=Scope.ADMIN))
        gone = (await api.upsert({"email": "s6a@example.com"}))["contact"]
        batch = (await submit(api, [{"email": "s6b@example.com", "clientRef": "from S6A@example.com's sheet"}]))["batch"]
        assert (await admin.gql(ERASE, {"id": gone["id"], "reason": "request 33"}))["eraseContact"]["userErrors"] == []
        assert "s6a@" not in str(query(settings.database_url, "SELECT items FROM batch_part")).lower()
        await app.state.batch_worker.drain()
        done = await wait_finished(api, batch["id"])
        assert (done["created"], done["skipped"]) == (1, 0)  # the item is someone else's: written as sent
        [result] = (await api.gql(STATUS, {"id": batch["id"]}))["batch"]["results"]["edges"]
        assert result["node"]["clientRef"] == "[erased]"
