"""store/values.py: canonical emails, phone numbers, ids and countries — no database, no app."""

from __future__ import annotations

import pytest

from contactql.store.values import COUNTRY_HINT, country_code_problem, needs_country, normalise_email, normalise_mobile, parse_contact_id


@pytest.mark.parametrize(("raw", "canonical"), [("Jennifer.Merg@MainBrainer.COM", "jennifer.merg@mainbrainer.com"), ("a@b.no", "a@b.no")])
def test_an_email_is_lower_cased(raw: str, canonical: str) -> None:  # trimmed before, by validate.py
    assert normalise_email(raw) == canonical


@pytest.mark.parametrize("raw", ["", "no-at-sign", "a@", "@b.no", "a b@c.no", "a@b..no", "a@" + "x" * 300 + ".no"])
def test_an_address_that_is_not_one_is_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        normalise_email(raw)


@pytest.mark.parametrize(
    ("raw", "code", "country", "e164"),
    [
        ("+4790812501", None, None, ("+4790812501", 47)),
        ("004790812501", None, None, ("+4790812501", 47)),
        ("4790812501", None, None, ("+4790812501", 47)),  # digits that start with their country code
        ("+47 908 12 501", None, None, ("+4790812501", 47)),
        ("90812501", 47, None, ("+4790812501", 47)),  # mobileCountryCode + mobileNumber (seed 000)
        ("07911 123456", 44, None, ("+447911123456", 44)),
        ("953 45 259", None, "NO", ("+4795345259", 47)),  # national, read in the default country
        ("(646) 755-1998", None, "us", ("+16467551998", 1)),
        ("4790812501", None, "NO", ("+4790812501", 47)),  # in NO, may start with NO's code
    ],
)
def test_numbers_become_e164_with_their_calling_code(raw: str, code: int | None, country: str | None, e164: tuple[str, int]) -> None:
    assert normalise_mobile(raw, code, country) == e164


@pytest.mark.parametrize("raw", ["07911 123456", "(646) 755-1998"])
def test_a_national_number_without_a_country_is_refused_saying_how_to_give_one(raw: str) -> None:
    with pytest.raises(ValueError) as refused:
        normalise_mobile(raw)
    assert COUNTRY_HINT in str(refused.value)


@pytest.mark.parametrize(
    ("raw", "code", "country"),
    [("+4712", None, None), ("+999 1234567", None, None), ("90812501", 999, None), ("12345", None, "NO"), ("abc", None, None), ("+47 908 12 501", 44, None)],
)
def test_a_number_that_is_not_valid_is_refused(raw: str, code: int | None, country: str | None) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        normalise_mobile(raw, code, country)


def test_an_international_number_keeps_its_country_whatever_the_default() -> None:
    assert normalise_mobile("+44 7911 123456", None, "NO") == ("+447911123456", 44)


@pytest.mark.parametrize(("raw", "parsed"), [("1", 1), (" 42 ", 42), (str(2**63 - 1), 2**63 - 1), (7, 7)])
def test_a_contact_id_is_a_positive_64_bit_decimal(raw: object, parsed: int) -> None:
    assert parse_contact_id(raw) == parsed


@pytest.mark.parametrize("raw", ["0", "-1", str(2**63), "1e3", "١٢", "¹", "12a", "", " ", "0x10", "9" * 40])
def test_anything_else_is_no_contact_id(raw: str) -> None:
    assert parse_contact_id(raw) is None


@pytest.mark.parametrize(("raw", "problem"), [("NO", False), (" gb ", False), ("XX", True), ("Norway", True), ("", True)])
def test_a_country_is_an_iso_code_phonenumbers_knows(raw: str, problem: bool) -> None:
    assert (country_code_problem(raw) is not None) == problem


@pytest.mark.parametrize(
    ("contact", "needs"),
    [
        ({"mobile": "+4790812501"}, False),
        ({"mobile": "004790812501"}, False),
        ({"mobile": "90812501"}, True),
        ({"email": "a@b.no"}, False),
        ({"properties": [{"name": "Mobile", "value": "908 12 501"}]}, True),
        ({"properties": [{"name": "city", "value": "0123"}]}, False),
    ],
)
def test_a_contact_needs_a_country_only_for_a_number_without_one(contact: dict[str, object], needs: bool) -> None:
    assert needs_country(contact) is needs


def test_a_kept_number_answers_as_a_fresh_parse_and_a_refusal_is_not_kept() -> None:
    """normalise_mobile keeps its answers (a sync sends the same numbers again): the kept answer
    is the uncached function's, for national and international forms in several countries,
    and a refused number is parsed and refused again each time."""
    cases = [
        ("+47 908 12 501", None, None), ("004790812501", None, "SE"), ("90812501", 47, None), ("07911 123456", None, "GB"),
        ("4790812501", None, "NO"), ("+1 415 555 2671", None, "NO"), ("+380942583691", None, None),
    ]  # fmt: skip
    fresh = normalise_mobile.__wrapped__  # type: ignore[attr-defined]
    for args in cases * 2:
        assert normalise_mobile(*args) == fresh(*args)
    for bad in [("+47123", None, None), ("0123", None, None), ("90812501", 999, None)]:
        misses = normalise_mobile.cache_info().misses  # type: ignore[attr-defined]
        for _ in range(2):
            with pytest.raises(ValueError):
                normalise_mobile(*bad)
        assert normalise_mobile.cache_info().misses == misses + 2  # type: ignore[attr-defined]
