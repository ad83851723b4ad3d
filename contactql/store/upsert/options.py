"""Validate an upsert's request-level options: how to match (`MatchStrategy`) and which events
to write (`EventOptions`). Single upserts, batches and imports check them once per request;
each contact item is checked by validate.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contactql.store.errors import ErrorCode, Problem
from contactql.store.model import (
    ContactField,
    EventOptions,
    MatchAction,
    MatchRule,
    MatchStrategy,
    MultipleMatchAction,
    NoMatchAction,
    PropertyInput,
)
from contactql.store.values import EVENT_TYPE, MAX_EVENT_TYPES, enum_value


def validate_match(raw: Mapping[str, Any] | None) -> tuple[MatchStrategy, list[Problem]]:
    """The request's MatchStrategy; problems are located under ("match", …)."""
    if raw is None:
        return MatchStrategy(), []
    problems: list[Problem] = []
    rules = tuple(MatchRule(enum_value(r)) for r in raw.get("rules") or ())
    if not rules:
        problems.append(Problem(("match", "rules"), ErrorCode.INVALID_INPUT, "give at least one rule"))
    names = tuple(n.strip() for n in raw.get("properties") or () if n and n.strip())
    if MatchRule.PROPERTIES in rules and not names:
        problems.append(Problem(("match", "properties"), ErrorCode.INVALID_INPUT, "the PROPERTIES rule needs the names to match on"))
    values = None
    if raw.get("values") is not None:
        if MatchRule.PROPERTIES not in rules:
            problems.append(Problem(("match", "values"), ErrorCode.INVALID_INPUT, "values are only used by the PROPERTIES rule"))
        values = tuple(
            PropertyInput(v.get("id"), v.get("name"), v.get("value"), i) for i, v in enumerate(raw["values"])
        )
    strategy = MatchStrategy(
        rules=rules,
        properties=names,
        values=values,
        on_match=MatchAction(enum_value(raw.get("onMatch")) or MatchAction.UPDATE),
        on_no_match=NoMatchAction(enum_value(raw.get("onNoMatch")) or NoMatchAction.CREATE),
        on_multiple=MultipleMatchAction(enum_value(raw.get("onMultipleMatches")) or MultipleMatchAction.FAIL),
        require_on_create=tuple(ContactField(enum_value(f)) for f in raw.get("requireOnCreate") or ()),
    )
    return strategy, problems


def validate_events(raw: Mapping[str, Any] | None) -> tuple[EventOptions, list[Problem]]:
    """The request's EventOptions; problems are located under ("events", …)."""
    if raw is None:
        return EventOptions(), []
    problems: list[Problem] = []
    chosen: dict[str, tuple[str, ...]] = {}
    for key, field in (("onCreate", "on_create"), ("onUpdate", "on_update")):
        names = list(raw.get(key) or ())
        if len(names) > MAX_EVENT_TYPES:
            problems.append(Problem(("events", key), ErrorCode.INVALID_INPUT, f"at most {MAX_EVENT_TYPES} event types"))
        problems += [
            Problem(("events", key, str(i)), ErrorCode.INVALID_INPUT, "an event type is 1 to 64 Latin letters, digits, '-' or '_'")
            for i, name in enumerate(names)
            if not EVENT_TYPE.match(name)
        ]
        chosen[field] = tuple(dict.fromkeys(names))
    return EventOptions(**chosen), problems
