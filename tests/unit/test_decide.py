"""store/upsert/decide.py on an in-memory chunk: match, plan, check — no database.

A ChunkState is what load_chunk reads; here it is filled by hand, so each rule of deciding is
seen on its own: items are decided in order against one state, which is what makes twenty
concurrent upserts of one new email one contact."""

from __future__ import annotations

import datetime as dt
from typing import Any

from contactql.store.db.tables import CONTACT_COLUMNS
from contactql.store.errors import ErrorCode
from contactql.store.model import MatchAction, MatchRule, MatchStrategy, MultipleMatchAction, Outcome, PropertyType, UpsertOptions
from contactql.store.upsert.chunk import ChunkState, Work
from contactql.store.upsert.decide import decide
from contactql.store.upsert.validate import validate_contact
from contactql.store.workspace.properties import FieldDef, FieldSet

NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
CITY = FieldDef("f-city", "city", PropertyType.TEXT, None, NOW)
SIZE = FieldDef("f-size", "size", PropertyType.NUMBER, None, NOW)


def state_with(*contacts: dict[str, Any], fields: tuple[FieldDef, ...] = ()) -> ChunkState:
    state = ChunkState(1, FieldSet.of(fields))
    for contact in contacts:
        row = dict.fromkeys(CONTACT_COLUMNS)
        row.update(workspace_id=1, email_status="NO_MARKETING", sms_status="NO_MARKETING", confirmed=True, source="API", created_at=NOW, updated_at=NOW)
        row.update(contact)
        state.add_loaded(tuple(row[c] for c in CONTACT_COLUMNS))
        state.props[row["id"]] = {}
        state.original_props[row["id"]] = {}
    return state


def work(raw: dict[str, Any], index: int = 0, **options: Any) -> Work:
    item, problems = validate_contact(raw, index)
    assert problems == []
    return Work(item, UpsertOptions(**options))


def test_a_new_identity_is_created_with_a_stand_in_id() -> None:
    state = state_with()
    result = decide(state, work({"email": "new@example.com", "firstName": "N"}), NOW)
    assert result.outcome is Outcome.CREATED and result.errors == []
    assert result.contact_ids[0] < 0, "a stand-in until the flush gives the real id"
    assert set(result.changed_fields) >= {"email", "firstName"}


def test_the_second_item_of_one_new_email_updates_what_the_first_created() -> None:
    state = state_with()
    first = decide(state, work({"email": "same@example.com"}, 0, match=MatchStrategy(rules=(MatchRule.EMAIL,))), NOW)
    second = decide(state, work({"email": "same@example.com", "firstName": "Again"}, 1, match=MatchStrategy(rules=(MatchRule.EMAIL,))), NOW)
    assert (first.outcome, second.outcome) == (Outcome.CREATED, Outcome.UPDATED)
    assert second.contact_ids == first.contact_ids and second.matched_by is MatchRule.EMAIL


def test_a_match_with_every_value_already_there_is_unchanged() -> None:
    state = state_with({"id": 7, "email": "a@example.com", "first_name": "A"})
    result = decide(state, work({"email": "a@example.com", "firstName": "A"}, match=MatchStrategy(rules=(MatchRule.EMAIL,))), NOW)
    assert (result.outcome, result.contact_ids, result.changed_fields) == (Outcome.UNCHANGED, [7], [])


def test_an_update_names_each_changed_field() -> None:
    state = state_with({"id": 7, "email": "a@example.com", "first_name": "A"})
    result = decide(state, work({"email": "a@example.com", "firstName": "B", "lastName": None}, match=MatchStrategy(rules=(MatchRule.EMAIL,))), NOW)
    assert (result.outcome, result.changed_fields) == (Outcome.UPDATED, ["firstName"])


def test_on_match_skip_writes_nothing() -> None:
    state = state_with({"id": 7, "email": "a@example.com"})
    result = decide(state, work({"email": "a@example.com", "firstName": "B"}, match=MatchStrategy(rules=(MatchRule.EMAIL,), on_match=MatchAction.SKIP)), NOW)
    assert (result.outcome, result.contact_ids) == (Outcome.SKIPPED, [7]) and state.rows[7]["first_name"] is None


def test_a_deleted_contact_is_skipped_unless_restored() -> None:
    state = state_with({"id": 7, "email": "a@example.com", "deleted_at": NOW})
    rule = MatchStrategy(rules=(MatchRule.EMAIL,))
    skipped = decide(state, work({"email": "a@example.com", "firstName": "B"}, match=rule), NOW)
    assert skipped.outcome is Outcome.SKIPPED and [p.code for p in skipped.errors] == [ErrorCode.CONTACT_DELETED]
    restored = decide(state, work({"email": "a@example.com", "firstName": "B"}, match=rule, restore_deleted=True), NOW)
    assert restored.outcome is Outcome.UPDATED and "deletedAt" in restored.changed_fields


def test_several_matches_fail_the_item_by_default_and_update_the_oldest_when_asked() -> None:
    state = state_with({"id": 3, "email": "a@example.com"}, {"id": 9, "mobile": "+4790812501"})
    either = (MatchRule.EMAIL_OR_MOBILE,)
    raw = {"email": "a@example.com", "mobile": "+4790812501"}
    failed = decide(state, work(raw, match=MatchStrategy(rules=either)), NOW)
    assert failed.outcome is None and [p.code for p in failed.errors] == [ErrorCode.AMBIGUOUS_MATCH]
    oldest = decide(state, work({**raw, "firstName": "O"}, match=MatchStrategy(rules=either, on_multiple=MultipleMatchAction.UPDATE_OLDEST)), NOW)
    assert oldest.contact_ids == [3]


def test_taking_another_contacts_identity_is_a_duplicate() -> None:
    state = state_with({"id": 3, "email": "a@example.com", "external_id": "x-1"}, {"id": 9, "email": "b@example.com"})
    result = decide(state, work({"email": "b@example.com", "externalId": "x-1"}, match=MatchStrategy(rules=(MatchRule.EMAIL,))), NOW)
    assert result.outcome is None and [p.code for p in result.errors] == [ErrorCode.DUPLICATE_IDENTITY]
    assert state.rows[9]["external_id"] is None, "a refused item leaves the state as it was"


def test_property_values_are_typed_against_the_fields_and_the_rest_is_written() -> None:
    state = state_with(fields=(CITY, SIZE))
    result = decide(state, work({"email": "p@example.com", "properties": [{"name": "City", "value": "Oslo"}, {"name": "size", "value": "twelve"}, {"name": "nope", "value": "x"}]}), NOW)
    assert result.outcome is Outcome.CREATED and "properties.city" in result.changed_fields
    assert [(p.name, p.reason.split(" (")[0]) for p in result.invalid_properties] == [("size", "not a number"), ("nope", "no property with this name 'nope'")]


def test_no_identity_no_contact() -> None:
    result = decide(state_with(), work({"firstName": "Anonymous"}), NOW)
    assert result.outcome is None and [p.code for p in result.errors] == [ErrorCode.IDENTITY_REQUIRED]
