"""store/upsert/validate.py and options.py: a ContactInput (as GraphQL coerced it) becomes an
item and every problem of it at once, each at its field's path — no database, no app."""

from __future__ import annotations

from typing import Any

import pytest

from contactql.store.errors import ErrorCode
from contactql.store.model import ContactField, MatchAction, MatchRule, NoMatchAction
from contactql.store.upsert.options import validate_events, validate_match
from contactql.store.upsert.validate import validate_contact


def problems_of(raw: dict[str, Any], country: str | None = None) -> list[tuple[tuple[str, ...], ErrorCode]]:
    _, problems = validate_contact(raw, default_country=country)
    return [(p.path, p.code) for p in problems]


def test_omitted_stays_omitted_and_null_clears() -> None:
    item, problems = validate_contact({"email": "A@B.no", "firstName": None})
    assert problems == []
    assert item.values == {"email": "a@b.no", "first_name": None}  # lastName omitted: not in values at all


def test_blank_strings_count_as_null_and_text_is_trimmed() -> None:
    item, _ = validate_contact({"email": "  a@b.no ", "firstName": "   ", "lastName": " Merg "})
    assert (item.values["email"], item.values["first_name"], item.values["last_name"]) == ("a@b.no", None, "Merg")


def test_every_problem_of_an_item_comes_at_once_at_its_path() -> None:
    raw = {
        "email": "not-an-address",
        "mobile": "12",
        "firstName": "x" * 300,
        "externalUrls": [{"ref": str(i), "url": f"https://e.no/{i}"} for i in range(4)],
        "properties": [{"value": "orphan"}],
    }
    assert sorted(problems_of(raw)) == sorted([
        (("email",), ErrorCode.INVALID_EMAIL),
        (("mobile",), ErrorCode.INVALID_PHONE),
        (("firstName",), ErrorCode.INVALID_INPUT),
        (("externalUrls",), ErrorCode.TOO_MANY_EXTERNAL_URLS),
        (("properties", "0"), ErrorCode.INVALID_INPUT),
    ])  # fmt: skip


def test_a_national_number_is_read_in_the_country_given() -> None:
    item, problems = validate_contact({"mobile": "953 45 259"}, default_country="NO")
    assert problems == [] and (item.values["mobile"], item.values["mobile_country_code"]) == ("+4795345259", 47)
    assert problems_of({"mobile": "953 45 259"}) == [(("mobile",), ErrorCode.INVALID_PHONE)]


def test_built_in_names_as_properties_write_the_fields_seed_000() -> None:
    item, problems = validate_contact({"properties": [{"name": "FirstName", "value": "Jennifer"}, {"name": "email", "value": "J@E.no"}, {"name": "city", "value": "Oslo"}]})
    assert problems == []
    assert (item.values["first_name"], item.values["email"]) == ("Jennifer", "j@e.no")
    assert [(p.name, p.value) for p in item.properties] == [("city", "Oslo")]


def test_a_field_given_twice_must_agree() -> None:
    assert problems_of({"email": "a@b.no", "properties": [{"name": "email", "value": "c@d.no"}]}) == [(("properties", "0", "value"), ErrorCode.INVALID_INPUT)]
    assert problems_of({"email": "a@b.no", "properties": [{"name": "email", "value": " a@b.no "}]}) == []


@pytest.mark.parametrize(
    "raw",
    [
        {"email": "Ase@Example.com", "properties": [{"name": "EMAIL", "value": "ase@example.com"}]},
        {"mobile": "+47 912 34 567", "properties": [{"name": "mobile", "value": "+4791234567"}]},
        {"mobile": "+44 7400 123456", "properties": [{"name": "Mobile", "value": "+44-7400-123-456"}]},
        {"firstName": " Ann ", "properties": [{"name": "firstname", "value": "Ann"}]},
        {"externalId": "", "properties": [{"name": "externalId", "value": "  "}]},
        {"mobileCountryCode": 47, "mobileNumber": "912 34 567", "properties": [{"name": "mobile", "value": "+4791234567"}]},
    ],
)
def test_a_field_given_twice_agrees_when_both_normalise_alike(raw: dict[str, Any]) -> None:
    item, problems = validate_contact(raw)
    assert problems == []
    assert item.properties == ()


def test_a_field_given_twice_is_judged_after_normalising() -> None:
    # Names keep their case, so two cases of a name disagree; a national number read in the
    # caller's country is the same number as its international form.
    assert problems_of({"firstName": "ann", "properties": [{"name": "firstName", "value": "Ann"}]}) == [(("properties", "0", "value"), ErrorCode.INVALID_INPUT)]
    national = {"mobile": "+44 7400 123456", "properties": [{"name": "mobile", "value": "07400 123456"}]}
    assert problems_of(national) == [(("properties", "0", "value"), ErrorCode.INVALID_PHONE)]
    item, problems = validate_contact(national, default_country="GB")
    assert problems == [] and item.values["mobile"] == "+447400123456"
    # A mobile given as a country code and number is a mobile given: a property naming another
    # number, or blank, disagrees with it rather than replacing it.
    for other in ("+4798765432", " "):
        pair = {"mobileCountryCode": 47, "mobileNumber": "91234567", "properties": [{"name": "mobile", "value": other}]}
        assert problems_of(pair) == [(("properties", "0", "value"), ErrorCode.INVALID_INPUT)]
    # Each side that is invalid is its own problem; a good property beside a bad field is not compared.
    assert problems_of({"email": "a@b.no", "properties": [{"name": "email", "value": "not an email"}]}) == [(("properties", "0", "value"), ErrorCode.INVALID_EMAIL)]
    assert problems_of({"email": "not an email", "properties": [{"name": "email", "value": "not an email"}]}) == [
        (("email",), ErrorCode.INVALID_EMAIL),
        (("properties", "0", "value"), ErrorCode.INVALID_EMAIL),
    ]
    assert problems_of({"email": "not an email", "properties": [{"name": "email", "value": "a@b.no"}]}) == [(("email",), ErrorCode.INVALID_EMAIL)]
    assert problems_of({"email": "", "properties": [{"name": "email", "value": "a@b.no"}]}) == [(("properties", "0", "value"), ErrorCode.INVALID_INPUT)]


@pytest.mark.parametrize(
    ("raw", "status"),
    [({"emailOptIn": True}, "SUBSCRIBED"), ({"emailOptIn": False}, "UNSUBSCRIBED"), ({"emailStatus": "BOUNCED"}, "BOUNCED")],
)
def test_opt_in_flags_map_onto_statuses(raw: dict[str, Any], status: str) -> None:
    item, problems = validate_contact({"email": "a@b.no", **raw})
    assert problems == [] and item.values["email_status"] == status


def test_a_flag_and_a_status_that_disagree_are_refused() -> None:
    assert problems_of({"email": "a@b.no", "emailOptIn": True, "emailStatus": "UNSUBSCRIBED"}) == [(("emailOptIn",), ErrorCode.INVALID_INPUT)]


def test_the_same_property_twice_is_refused() -> None:
    assert problems_of({"properties": [{"name": "City", "value": "a"}, {"name": "city", "value": "b"}]}) == [(("properties", "1"), ErrorCode.INVALID_INPUT)]


def test_a_list_ref_names_exactly_one_of_id_or_name() -> None:
    assert problems_of({"lists": {"add": [{"id": "x", "name": "y"}, {}]}}) == [(("lists", "add", "0"), ErrorCode.INVALID_INPUT), (("lists", "add", "1"), ErrorCode.INVALID_INPUT)]


def test_a_match_strategy_has_defaults_and_its_problems_under_match() -> None:
    strategy, problems = validate_match(None)
    assert problems == [] and strategy.on_match is MatchAction.UPDATE and strategy.on_no_match is NoMatchAction.CREATE
    strategy, problems = validate_match({"rules": ["PROPERTIES"], "requireOnCreate": ["EMAIL"]})
    assert strategy.rules == (MatchRule.PROPERTIES,) and strategy.require_on_create == (ContactField.EMAIL,)
    assert [(p.path, p.code) for p in problems] == [(("match", "properties"), ErrorCode.INVALID_INPUT)]
    assert [p.path for p in validate_match({"rules": []})[1]] == [("match", "rules")]


def test_event_types_are_checked_and_deduplicated() -> None:
    options, problems = validate_events({"onCreate": ["a", "a", "b-c"], "onUpdate": ["bad type", "x" * 65]})
    assert options.on_create == ("a", "b-c")
    assert [p.path for p in problems] == [("events", "onUpdate", "0"), ("events", "onUpdate", "1")]
