"""What a contact is found by, and how a search is read (store/workspace/search.py)."""

from __future__ import annotations

import pytest

from contactql.store.errors import Invalid
from contactql.store.workspace.search import digits, fold, search_text, words


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("  Kari   NORDMANN ", "kari nordmann"),
        ("Ærøskøbing ÉCOLE", "aeroskobing ecole"),
        ("Straße", "strasse"),
        ("Σοφία", "σοφια"),
        ("Zoe\u0308", "zoe"),  # a decomposed ë
        ("Łódź", "lodz"),
        ("ﬁle", "file"),  # a ligature, by compatibility
    ],
)
def test_fold_ignores_case_accents_and_spacing(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_a_contact_is_found_by_each_field_and_its_full_name() -> None:
    row = {"first_name": "Zoë", "last_name": "Ångström", "email": "Zoe@Example.com", "mobile": "+16467551998", "external_id": " CRM-1 "}
    assert search_text(row) == "\nzoe\nangstrom\nzoe angstrom\nzoe@example.com\n16467551998\ncrm-1\n"
    assert search_text({"first_name": None, "last_name": None, "email": None, "mobile": None, "external_id": None}) is None
    assert search_text({"first_name": "Ann", "last_name": None, "email": None, "mobile": None, "external_id": None}) == "\nann\n", "no field twice"


@pytest.mark.parametrize(
    ("search", "whole", "found"),
    [
        ("(646) 755-1998", "6467551998", [("6467551998", "(646) 755-1998")]),
        ("07911 123456", "7911123456", [("7911123456", "07911 123456")]),
        ("+47", "47", [("47", "+47")]),
        ("12-34", "1234", [("1234", "12-34")]),
        ("12", "12", [("12",)]),
        ("Berg  MARIANNE berg", "berg marianne berg", [("berg",), ("marianne",)]),
        ("\u200bBerg\x01", "berg", [("berg",)]),
        ("O\u2019Brien", "o'brien", [("o'brien",)]),
        ("   ", "", []),
    ],
)
def test_a_search_is_its_words_or_a_phone_number_s_digits(search: str, whole: str, found: list[tuple[str, ...]]) -> None:
    assert words(search) == (whole, found)


@pytest.mark.parametrize(("search", "says"), [("x" * 201, "at most 200"), ("a\x00", "NUL"), (" ".join(f"w{i}" for i in range(11)), "at most 10 words")])
def test_a_search_that_cannot_run_is_refused(search: str, says: str) -> None:
    with pytest.raises(Invalid) as refused:
        words(search)
    assert says in refused.value.problems[0].message


def test_digits_are_ascii_digits_only() -> None:
    assert digits("+47 ٩٠٠ 12-34") == "471234"
