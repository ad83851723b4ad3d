"""Custom property fields of a workspace and the canonical form of their values.

Values are stored as text in one canonical spelling per type, so equality in SQL (the
PROPERTIES match rule, `ContactFilter.property`) is equality of meaning: NUMBER "1.50" and
"1.5" are one value, BOOLEAN "Yes" is "true", DATE is ISO 8601, SELECT takes the option's
own spelling.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from contactql.store.errors import ErrorCode, Invalid
from contactql.store.model import PropertyType
from contactql.store.tables import property_field_t
from contactql.store.validate import BUILTIN_PROPERTY_NAMES, MAX_NAME

MAX_SELECT_OPTIONS = 500
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


@dataclasses.dataclass(frozen=True, slots=True)
class FieldDef:
    id: str
    name: str
    type: PropertyType
    options: tuple[str, ...] | None
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: Any) -> FieldDef:
        options = tuple(row.options) if row.options is not None else None
        return cls(row.id, row.name, PropertyType(row.type), options, row.created_at)

    def canonical(self, value: str) -> str:
        """The stored spelling of `value`; raises ValueError with the reason it is refused."""
        if self.type is PropertyType.TEXT:
            return value  # stored as given: no strip to compute
        text = value.strip()
        match self.type:
            case PropertyType.NUMBER:
                try:
                    number = decimal.Decimal(text)
                except decimal.InvalidOperation:
                    raise ValueError("not a number") from None
                if not number.is_finite():
                    raise ValueError("not a finite number")
                canonical = format(number.normalize(), "f")
                return "0" if canonical in {"-0", "0"} else canonical
            case PropertyType.BOOLEAN:
                lowered = text.lower()
                if lowered in _TRUE:
                    return "true"
                if lowered in _FALSE:
                    return "false"
                raise ValueError("not a boolean (true or false)")
            case PropertyType.DATE:
                try:
                    return dt.date.fromisoformat(text).isoformat()
                except ValueError:
                    raise ValueError("not a date (YYYY-MM-DD)") from None
            case PropertyType.SELECT:
                for option in self.options or ():
                    if option.lower() == text.lower():
                        return option
                raise ValueError(f"not one of the options: {', '.join(self.options or ())}")
        raise AssertionError(self.type)


@dataclasses.dataclass(slots=True)
class FieldSet:
    """A workspace's fields, looked up by id or by case-insensitive name."""

    by_id: dict[str, FieldDef]
    by_name: dict[str, FieldDef]

    @classmethod
    def of(cls, fields: Iterable[FieldDef]) -> FieldSet:
        fields = list(fields)
        return cls({f.id: f for f in fields}, {f.name.lower(): f for f in fields})

    def find(self, field_id: str | None, name: str | None) -> FieldDef | None:
        if field_id is not None:
            return self.by_id.get(field_id)
        return self.by_name.get(name.lower()) if name else None


def load_fields(conn: sa.Connection, *, workspace_id: int) -> FieldSet:
    rows = conn.execute(
        sa.select(property_field_t)
        .where(property_field_t.c.workspace_id == workspace_id)
        .order_by(property_field_t.c.created_at, property_field_t.c.id)
    )
    return FieldSet.of(FieldDef.from_row(r) for r in rows)


def list_fields(conn: sa.Connection, *, workspace_id: int) -> list[FieldDef]:
    return list((load_fields(conn, workspace_id=workspace_id)).by_id.values())


def create_field(
    conn: sa.Connection, *, workspace_id: int, name: str, type: PropertyType, options: list[str] | None
) -> FieldDef:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise Invalid.at(("name",), f"must be 1 to {MAX_NAME} characters")
    if name.lower() in BUILTIN_PROPERTY_NAMES:
        raise Invalid.at(("name",), f"{name!r} is a built-in contact field, not a custom property")
    clean_options: list[str] | None = None
    if type is PropertyType.SELECT:
        clean_options = list(dict.fromkeys(o.strip() for o in options or () if o.strip()))
        if not clean_options or len(clean_options) > MAX_SELECT_OPTIONS:
            raise Invalid.at(("options",), f"a SELECT field needs 1 to {MAX_SELECT_OPTIONS} options")
        if any(len(o) > MAX_NAME for o in clean_options):
            raise Invalid.at(("options",), f"options must be at most {MAX_NAME} characters")
    elif options:
        raise Invalid.at(("options",), "only SELECT fields take options")
    exists = conn.scalar(
        sa.select(property_field_t.c.id).where(
            property_field_t.c.workspace_id == workspace_id, property_field_t.c.name_key == name.lower()
        )
    )
    if exists is not None:
        raise Invalid.at(("name",), f"a property named {name!r} already exists (id {exists})", ErrorCode.INVALID_INPUT)
    row = {
        "id": str(uuid.uuid4()),
        "workspace_id": workspace_id,
        "name": name,
        "name_key": name.lower(),
        "type": type.value,
        "options": clean_options,
        "created_at": dt.datetime.now(dt.UTC),
    }
    conn.execute(sa.insert(property_field_t), row)
    return FieldDef(row["id"], name, type, tuple(clean_options) if clean_options else None, row["created_at"])
