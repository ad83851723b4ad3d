"""The match rules of SPEC §4, evaluated against a chunk's in-memory state.

Rules are tried in order; a rule whose keys the input lacks is skipped; the first rule that
finds at least one contact decides. Deleted contacts are found like any other (they keep their
identity); whether they may be written is the caller's decision (`restoreDeleted`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from contactql.store.errors import ErrorCode, Problem
from contactql.store.model import ContactItem, MatchRule, MatchStrategy, PropertyInput
from contactql.store.values import BUILTIN_PROPERTY_NAMES, normalise_email, normalise_mobile
from contactql.store.workspace.properties import FieldSet

if TYPE_CHECKING:
    from contactql.store.upsert.chunk import ChunkState, Work

# ("col", column, value) compares a contact column, ("prop", field id, value) a property value;
# values are in stored (canonical) form, names lower-cased.
Condition = tuple[Literal["col", "prop"], str, str]

_BUILTIN_COLUMNS = {
    "firstName": "first_name",
    "lastName": "last_name",
    "email": "email",
    "mobile": "mobile",
    "externalId": "external_id",
}


class MatchProblem(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def property_conditions(item: ContactItem, match: MatchStrategy, fields: FieldSet) -> list[Condition] | Problem | None:
    """The PROPERTIES rule's conditions for `item`, or None when the item lacks a value."""
    conditions: list[Condition] = []
    for position, name in enumerate(match.properties):
        builtin = BUILTIN_PROPERTY_NAMES.get(name.lower())
        field = None if builtin else fields.by_name.get(name.lower())
        if builtin is None and field is None:
            return Problem(("match", "properties", str(position)), ErrorCode.INVALID_INPUT, f"no property or field named {name!r}")
        if match.values is not None:
            entry = _find_value(match.values, name, field.id if field else None)
            raw = None if entry is None else entry.value
            if raw is None:
                return None
            try:
                value = _builtin_value(builtin, raw) if builtin else field.canonical(raw)  # type: ignore[union-attr]
            except ValueError as error:
                path = ("match", "values", str(entry.position), "value")  # type: ignore[union-attr]
                return Problem(path, ErrorCode.INVALID_INPUT, f"cannot match on {name!r}: {error}")
        elif builtin:
            value = item.values.get(_BUILTIN_COLUMNS[builtin])
        else:
            entry = _find_value(item.properties, name, field.id)  # type: ignore[union-attr]
            try:
                value = None if entry is None or entry.value is None else field.canonical(entry.value)  # type: ignore[union-attr]
            except ValueError:
                value = None  # reported as an invalid property by the write itself
        if value is None:
            return None
        if builtin:
            column = _BUILTIN_COLUMNS[builtin]
            conditions.append(("col", column, value.strip().lower() if column in {"first_name", "last_name"} else value))
        else:
            conditions.append(("prop", field.id, value))  # type: ignore[union-attr]
    return conditions


def _find_value(values: tuple[PropertyInput, ...], name: str, field_id: str | None) -> PropertyInput | None:
    for entry in values:
        if (entry.name and entry.name.lower() == name.lower()) or (field_id and entry.id == field_id):
            return entry
    return None


def _builtin_value(builtin: str, raw: str) -> str:
    if builtin == "email":
        return normalise_email(raw.strip())
    if builtin == "mobile":
        return normalise_mobile(raw)[0]
    return raw.strip()


def find_matches(state: ChunkState, work: Work, invalid_ids: list[str]) -> tuple[MatchRule | None, list[int]]:
    """The deciding rule and the contacts it found (sorted by id); raises MatchProblem."""
    item, options = work.item, work.options
    values = item.values
    for rule in options.match.rules:
        found: set[int] | None = None
        match rule:
            case MatchRule.ID:
                if item.contact_id is not None:
                    if item.contact_id in state.rows:
                        found = {item.contact_id}
                    else:
                        invalid_ids.append(str(item.contact_id))  # seed 000: InvalidContactIds
            case MatchRule.EXTERNAL_ID:
                if (external_id := values.get("external_id")) is not None:
                    found = state.finding("external_id", external_id)
            case MatchRule.EMAIL_AND_MOBILE:
                # seed 000: both → that pair; only a mobile → with a null email; only an email → null mobile
                email, mobile = values.get("email"), values.get("mobile")
                if email is not None or mobile is not None:
                    cid = state.pair_match(email, mobile)
                    found = set() if cid is None else {cid}
            case MatchRule.EMAIL:
                if (email := values.get("email")) is not None:
                    found = state.finding("email", email)
            case MatchRule.MOBILE:
                if (mobile := values.get("mobile")) is not None:
                    found = state.finding("mobile", mobile)
            case MatchRule.EMAIL_OR_MOBILE:
                email, mobile = values.get("email"), values.get("mobile")
                if email is not None or mobile is not None:
                    found = (state.finding("email", email) if email else set()) | (
                        state.finding("mobile", mobile) if mobile else set()
                    )
            case MatchRule.NAME_AND_EMAIL:
                found = _name_and_email(state, values)
            case MatchRule.PROPERTIES:
                if isinstance(work.conditions, Problem):
                    raise MatchProblem(work.conditions)
                if work.conditions:
                    found = _with_conditions(state, work.conditions)
                    if options.list_id is not None:  # seed 003: match inside the given list only
                        found = {cid for cid in found if options.list_id in state.lists_of.get(cid, ())}
        if found:
            return rule, sorted(found)
    return None, []


def _name_and_email(state: ChunkState, values: dict[str, object]) -> set[int] | None:
    email, first, last = values.get("email"), values.get("first_name"), values.get("last_name")
    if email is None or first is None or last is None:
        return None
    first_key, last_key = str(first).strip().lower(), str(last).strip().lower()
    return {
        cid
        for cid in state.finding("email", email)
        if (state.rows[cid]["first_name"] or "").strip().lower() == first_key
        and (state.rows[cid]["last_name"] or "").strip().lower() == last_key
    }


def _with_conditions(state: ChunkState, conditions: list[Condition]) -> set[int]:
    sets = [
        state.finding(key, value) if kind == "col" else state.prop_index.get((key, value), set())
        for kind, key, value in conditions
    ]
    sets.sort(key=len)
    return set.intersection(*sets) if sets else set()
