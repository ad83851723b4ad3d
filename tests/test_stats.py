"""contactStats: total, by status and by list, for any filter and search — both engines."""

from __future__ import annotations

from tests.helpers import Api

STATS = """query S($f: ContactFilter, $s: String) {
  contactStats(filter: $f, search: $s) {
    total byEmailStatus { status count } bySmsStatus { status count } byList { list { name } count }
  }
}"""


async def test_counts_by_status_and_list_follow_the_filter_and_search(api: Api, other_workspace: Api) -> None:
    customers, vips = await api.create_list("Customers"), await api.create_list("VIP")
    for i in range(6):
        contact = {"email": f"c{i}@example.com", "firstName": "Kari" if i < 4 else "Ola", "emailStatus": "BOUNCED" if i == 0 else "SUBSCRIBED"}
        if i % 2:
            contact["mobile"] = f"+479000000{i}"
            contact["smsStatus"] = "SUBSCRIBED"
        made = await api.upsert(contact, listId=customers if i < 5 else vips)
        assert made["userErrors"] == [], made
    deleted = await api.upsert({"email": "gone@example.com", "firstName": "Kari"}, listId=customers)
    await api.gql("mutation D($id: ID!) { deleteContact(id: $id) { deletedId } }", {"id": deleted["contact"]["id"]})

    everyone = (await api.gql(STATS))["contactStats"]
    assert everyone["total"] == 6, "deleted contacts are not counted"
    assert everyone["byEmailStatus"] == [{"status": "SUBSCRIBED", "count": 5}, {"status": "BOUNCED", "count": 1}]
    assert everyone["bySmsStatus"] == [{"status": "NO_MARKETING", "count": 3}, {"status": "SUBSCRIBED", "count": 3}]
    assert everyone["byList"] == [{"list": {"name": "Customers"}, "count": 5}, {"list": {"name": "VIP"}, "count": 1}]

    karis = (await api.gql(STATS, {"s": "kari"}))["contactStats"]
    assert karis["total"] == 4 and karis["byList"] == [{"list": {"name": "Customers"}, "count": 4}]
    with_mobile = (await api.gql(STATS, {"f": {"hasMobile": True, "notInListIds": [vips]}}))["contactStats"]
    assert with_mobile["total"] == 2 and with_mobile["bySmsStatus"] == [{"status": "SUBSCRIBED", "count": 2}]
    nobody = (await api.gql(STATS, {"s": "nobody"}))["contactStats"]
    assert nobody == {"total": 0, "byEmailStatus": [], "bySmsStatus": [], "byList": []}

    theirs = (await other_workspace.gql(STATS))["contactStats"]
    assert theirs == {"total": 0, "byEmailStatus": [], "bySmsStatus": [], "byList": []}, "another workspace counts only its own"


async def test_only_what_is_asked_is_counted_and_a_bad_filter_is_refused(api: Api) -> None:
    body = (await api.post("{ contactStats { total } }")).json()
    assert body["data"] == {"contactStats": {"total": 0}}
    assert body["extensions"]["cost"]["requestedQueryCost"] < (await api.post(STATS)).json()["extensions"]["cost"]["requestedQueryCost"]
    errors = await api.errors(STATS, {"f": {"properties": [{"name": "nope", "eq": "1"}]}})
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and "no property named" in errors[0]["message"]
