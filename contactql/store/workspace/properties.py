"""Custom property fields of a workspace and the canonical form of their values.

Values are stored as text in one canonical spelling per type, so equality in SQL (the
PROPERTIES match rule, `ContactFilter.property`) is equality of meaning: NUMBER "1.50" and
"1.5" are one value, BOOLEAN "Yes" is "true", DATE is ISO 8601, SELECT takes the option's
own spelling.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from contactql.store.db.tables import property_field_t
from contactql.store.errors import ErrorCode, Invalid, Problem
from contactql.store.model import PropertyInput, PropertyType
from contactql.store.values import BUILTIN_PROPERTY_NAMES, MAX_NAME, fold, reserved_column

MAX_SELECT_OPTIONS = 500
MAX_NUMBER_DIGITS = 100
# ASCII only: Decimal also reads "1_000" and other scripts' digits, which no spreadsheet means.
_NUMBER = re.compile(r"([+-]?)(?=\.?[0-9])([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?", re.ASCII)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
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
        """The stored spelling of `value`; raises ValueError with the reason it is refused
        (and nothing else, whatever the text: callers turn the reason into invalidProperties)."""
        if self.type is PropertyType.TEXT:
            return value  # stored as given: no strip to compute
        text = value.strip()
        match self.type:
            case PropertyType.NUMBER:
                return canonical_number(text)
            case PropertyType.BOOLEAN:
                lowered = text.lower()
                if lowered in _TRUE:
                    return "true"
                if lowered in _FALSE:
                    return "false"
                raise ValueError("not a boolean (true or false)")
            case PropertyType.DATE:
                if not _ISO_DATE.fullmatch(text):
                    raise ValueError("not a date (YYYY-MM-DD)")
                try:
                    return dt.date.fromisoformat(text).isoformat()
                except ValueError:
                    raise ValueError("not a date (YYYY-MM-DD): no such day") from None
            case PropertyType.SELECT:
                wanted = fold(text)
                for option in self.options or ():
                    if fold(option) == wanted:
                        return option
                raise ValueError(f"not one of the options: {', '.join(self.options or ())}")
        raise AssertionError(self.type)


def canonical_number(text: str) -> str:
    """A NUMBER in plain decimal notation with every digit kept, no exponent, no trailing zeros
    ("1.50" → "1.5", "1e3" → "1000", "-0" → "0"). Refused: anything but ASCII digits with an
    optional sign, point and exponent ("1,5", "1_000", "١٢٣", "NaN"), and values whose plain form
    would have more than MAX_NUMBER_DIGITS digits ("1e1000000": 10 characters that would be a
    million), so a value can never grow on its way to the database.

    Read by hand rather than with Decimal: Decimal rounds to its context when normalising, and
    refuses exponents beyond its range where this says how many digits there would be."""
    found = _NUMBER.fullmatch(text)
    if found is None:
        raise ValueError("not a number (digits, an optional sign, a decimal point and an exponent such as 1.5e3)")
    sign, whole_part, fraction_part, exponent_text = found.groups()
    digits = (whole_part + (fraction_part or "")).lstrip("0")
    if not digits:
        return "0"
    exponent_digits = (exponent_text or "0").lstrip("+-").lstrip("0") or "0"
    if len(exponent_digits) > 9:  # |exponent| ≥ 10^9: far beyond any number written out in 100 digits
        raise ValueError(f"a number has at most {MAX_NUMBER_DIGITS} digits written out in full (no exponent); this one has more than a billion")
    exponent = int(exponent_digits) * (-1 if (exponent_text or "").startswith("-") else 1) - len(fraction_part or "")
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    whole = max(len(stripped) + exponent, 0)  # digits before the point
    fraction = max(-exponent, 0)  # digits after it
    if whole + fraction > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number has at most {MAX_NUMBER_DIGITS} digits written out in full (no exponent); this one has {whole + fraction}")
    if exponent >= 0:
        plain = stripped + "0" * exponent
    else:
        padded = stripped.rjust(fraction + 1, "0")
        plain = f"{padded[:-fraction]}.{padded[-fraction:]}"
    return ("-" if sign == "-" else "") + plain


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


def input_problems(fields: FieldSet, properties: Iterable[PropertyInput]) -> list[Problem]:
    """Why an input's property values would be refused, each at its path, for an input that
    fails for another reason: every problem at once. (An input that is written reports these in
    invalidProperties and drops them: upsert/decide.py.)"""
    problems: list[Problem] = []
    for prop in properties:
        path = ("properties", str(prop.position))
        field = fields.find(prop.id, prop.name)
        if field is None:
            what = ("id", f"id {prop.id}") if prop.id is not None else ("name", f"name {prop.name!r}")
            problems.append(Problem((*path, what[0]), ErrorCode.NOT_FOUND, f"no property with this {what[1]}"))
            continue
        if prop.value is not None:
            try:
                field.canonical(prop.value)
            except ValueError as error:
                problems.append(Problem((*path, "value"), ErrorCode.INVALID_INPUT, f"{field.name}: {error}"))  # a CSV row's column, by name
    return problems


def load_fields(conn: sa.Connection, *, workspace_id: int) -> FieldSet:
    rows = conn.execute(
        sa.select(property_field_t)
        .where(property_field_t.c.workspace_id == workspace_id)
        .order_by(property_field_t.c.created_at, property_field_t.c.id)
    )
    return FieldSet.of(FieldDef.from_row(r) for r in rows)


def list_fields(conn: sa.Connection, *, workspace_id: int) -> list[FieldDef]:
    return list((load_fields(conn, workspace_id=workspace_id)).by_id.values())


def property_names(conn: sa.Connection, *, workspace_id: int) -> set[str]:
    """The workspace's property names, lower-case, as the database has them now."""
    p = property_field_t.c
    return set(conn.scalars(sa.select(p.name_key).where(p.workspace_id == workspace_id)))


def create_text_fields(conn: sa.Connection, *, workspace_id: int, names: Iterable[str]) -> list[FieldDef]:
    """TEXT properties of these names, but for names that exist by now (any case)."""
    existing = property_names(conn, workspace_id=workspace_id)
    created = []
    for name in dict.fromkeys(names):
        if name.strip().lower() not in existing:
            created.append(create_field(conn, workspace_id=workspace_id, name=name, type=PropertyType.TEXT, options=None))
            existing.add(name.strip().lower())
    return created


def create_field(
    conn: sa.Connection, *, workspace_id: int, name: str, type: PropertyType, options: list[str] | None
) -> FieldDef:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise Invalid.at(("name",), f"must be 1 to {MAX_NAME} characters")
    if name.lower() in BUILTIN_PROPERTY_NAMES:
        raise Invalid.at(("name",), f"{name!r} is a built-in contact field, not a custom property")
    if (why := reserved_column(name)) is not None:
        raise Invalid.at(("name",), f"{why}: choose another name for the property")
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
    field = FieldDef(str(uuid.uuid4()), name, type, tuple(clean_options) if clean_options else None, dt.datetime.now(dt.UTC))
    row = {"workspace_id": workspace_id, "name_key": name.lower(), "type": type.value, "options": clean_options}
    conn.execute(sa.insert(property_field_t), {**row, "id": field.id, "name": name, "created_at": field.created_at})
    return field
