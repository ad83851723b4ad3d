"""Property values in their stored spelling (store/workspace/properties.py: FieldDef.canonical)."""

from __future__ import annotations

import datetime as dt

import pytest

from contactql.store.model import PropertyType
from contactql.store.workspace.properties import MAX_NUMBER_DIGITS, FieldDef, canonical_number

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


def field(type: PropertyType, options: tuple[str, ...] | None = None) -> FieldDef:
    return FieldDef("f", "f", type, options, NOW)


@pytest.mark.parametrize(
    ("text", "plain"),
    [("1.50", "1.5"), ("1e3", "1000"), ("-0", "0"), ("000.000", "0"), ("+12", "12"), ("1.5E-3", "0.0015"), ("12345678901234567890.1", "12345678901234567890.1"), (".5", "0.5")],
)
def test_a_number_is_written_out_with_every_digit_kept(text: str, plain: str) -> None:
    assert canonical_number(text) == plain


@pytest.mark.parametrize("text", ["1,5", "1_000", "١٢٣", "NaN", "inf", "1e", "--1", "", "0x10"])
def test_anything_but_ascii_decimal_notation_is_not_a_number(text: str) -> None:
    with pytest.raises(ValueError, match="not a number"):
        canonical_number(text)


@pytest.mark.parametrize("text", ["1e1000000", "1e-1000000", "9" * (MAX_NUMBER_DIGITS + 1), "1e99999999999"])
def test_a_number_too_long_to_write_out_is_refused_saying_so(text: str) -> None:
    with pytest.raises(ValueError, match=f"at most {MAX_NUMBER_DIGITS} digits"):
        canonical_number(text)


def test_the_longest_number_is_accepted() -> None:
    assert canonical_number("9" * MAX_NUMBER_DIGITS) == "9" * MAX_NUMBER_DIGITS


@pytest.mark.parametrize(("text", "stored"), [("TRUE", "true"), (" no ", "false"), ("1", "true"), ("0", "false")])
def test_booleans(text: str, stored: str) -> None:
    assert field(PropertyType.BOOLEAN).canonical(text) == stored


@pytest.mark.parametrize(("text", "stored"), [("2024-02-29", "2024-02-29"), (" 2024-01-01 ", "2024-01-01")])
def test_dates_are_iso_days(text: str, stored: str) -> None:
    assert field(PropertyType.DATE).canonical(text) == stored


@pytest.mark.parametrize("text", ["2023-02-29", "2024-W01-1", "20240101", "01/02/2024", "2024-1-1"])
def test_anything_else_is_not_a_date(text: str) -> None:
    with pytest.raises(ValueError, match="not a date"):
        field(PropertyType.DATE).canonical(text)


def test_a_select_value_is_its_option_caseless_and_composed() -> None:
    select = field(PropertyType.SELECT, ("Café", "Straße"))
    assert select.canonical("cafe\u0301") == "Café" and select.canonical("STRASSE") == "Straße"
    with pytest.raises(ValueError, match="not one of the options"):
        select.canonical("Bar")


def test_text_is_kept_as_given() -> None:
    assert field(PropertyType.TEXT).canonical("  spaced  ") == "  spaced  "
