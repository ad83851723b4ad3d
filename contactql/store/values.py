"""Canonical values and the limits of every input: shared by the upsert engine, the workspace
stores, the CSV reader and the resolvers, so none reaches into another's internals for them.

Emails through email-validator, phone numbers through phonenumbers (`is_valid_number`), ids
as ASCII decimals of at most 63 bits.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import email_validator
import phonenumbers

from contactql.store.errors import NotFound

MAX_TEXT = 255
MAX_NAME = 100
MAX_PROPERTY_VALUE = 10_000
MAX_PROPERTIES = 200
MAX_LIST_REFS = 100
MAX_COMPANIES = 100
MAX_EXTERNAL_URLS = 3
MAX_URL = 2048
MAX_ID = 2**63 - 1
MAX_EVENT_TYPES = 20
EVENT_TYPE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # SPEC §7

# Property names that write a built-in field instead of a custom property (seed 000 sends
# firstname/lastname as properties; seed 003's Values carry Email and Mobile).
# CSV columns (importContacts, contactql import) by `column_key`: what each writes. An export
# writes these too, and `id`, `createdAt`, `updatedAt`, `lists` (EXPORT_ONLY_COLUMNS): a property
# may not be named like any of them, or a file would read it as the contact's own field.
CSV_FIELDS = {
    "email": "email", "emailaddress": "email", "mobile": "mobile", "phone": "mobile", "sms": "mobile",
    "firstname": "firstName", "lastname": "lastName", "externalid": "externalId", "externalcustomerid": "externalId",
    "emailstatus": "emailStatus", "smsstatus": "smsStatus", "emailoptin": "emailOptIn", "mobileoptin": "mobileOptIn",
    "privacyconsent": "privacyConsent", "country": "country",
}  # fmt: skip
EXPORT_ONLY_COLUMNS = ("id", "createdat", "updatedat", "lists")
# A cell starting with one of these runs as a formula in a spreadsheet (OWASP's CSV injection):
# an export writes it after an apostrophe, which an import takes off again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def column_key(header: str) -> str:
    """How a CSV header is compared: any case, without spaces, `_` or `-` ("First Name" is firstname)."""
    return "".join(ch for ch in header.strip().lower() if ch not in " _-")


def reserved_column(name: str) -> str | None:
    """Why `name` cannot be a property's: the CSV column it would be read as, or None."""
    key = column_key(name)
    if key in CSV_FIELDS:
        return f"a CSV column named {name!r} is the contact's {CSV_FIELDS[key]}"
    if key in EXPORT_ONLY_COLUMNS:
        return f"a CSV export's column named {name!r} is the contact's own {key}"
    if name.startswith(FORMULA_STARTS):
        return "a name starting with =, +, - or @ would run as a formula in a spreadsheet's header"
    return None


BUILTIN_PROPERTY_NAMES = {
    "firstname": "firstName",
    "lastname": "lastName",
    "email": "email",
    "mobile": "mobile",
    "externalid": "externalId",
}


def enum_value(raw: Any) -> Any:
    """An enum as sent: GraphQL hands over its own enum members; the store speaks strings."""
    return getattr(raw, "value", raw)


# The common shape of an address — ASCII letters, digits, `_`, `+` and `-` in dot-separated
# local atoms; a domain of letter-and-digit labels (inner hyphens, never two in a row) under an
# alphabetic top-level label — a strict subset of what email-validator accepts, for which its
# answer is always the input in lower case. email-validator costs ~23 µs an address (~5 % of
# a batch item's time); this check ~1 µs. Anything else, and every refusal, is email-validator's
# (tests/unit/test_email_fast_path.py runs both over generated addresses).
_PLAIN_EMAIL = re.compile(r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.ASCII)
_SPECIAL_USE = frozenset(email_validator.SPECIAL_USE_DOMAIN_NAMES)


def plain_email(raw: str) -> str | None:
    """The address in lower case when it has the common shape email-validator is sure to accept
    unchanged but for case; None for anything else (email-validator then decides)."""
    lowered = raw.lower()
    if len(lowered) > 254 or not lowered.isascii() or "--" in lowered or _PLAIN_EMAIL.fullmatch(lowered) is None:
        return None
    local, _, domain = lowered.partition("@")
    if len(local) > 64 or len(domain) > 253 or not _SPECIAL_USE.isdisjoint(domain.split(".")):
        return None
    return lowered


def normalise_email(raw: str) -> str:
    """Lower-case, validated address; raises ValueError with a readable reason."""
    if (plain := plain_email(raw)) is not None:
        return plain
    try:
        checked = email_validator.validate_email(raw, check_deliverability=False)
    except email_validator.EmailNotValidError as error:
        raise ValueError(str(error)) from None
    return checked.normalized.lower()


COUNTRY_HINT = "give its country: defaultCountry on the request, the workspace's defaultCountry, or a country column in a CSV file"


def needs_country(contact: Mapping[str, Any]) -> bool:
    """Whether a ContactInput names a phone number without its country (no + or 00)."""
    texts = [contact.get("mobile")]
    texts += [p.get("value") for p in contact.get("properties") or () if str(p.get("name") or "").strip().lower() == "mobile"]
    return any(isinstance(t, str) and t.strip() and not t.strip().startswith(("+", "00")) for t in texts)


def country_code_problem(raw: str) -> str | None:
    """Why `raw` is not an ISO 3166 alpha-2 country phonenumbers knows, or None."""
    if raw.strip().upper() in phonenumbers.SUPPORTED_REGIONS:
        return None
    return f"{raw.strip()!r} is not a country code such as NO, GB or US (ISO 3166 alpha-2)"


MOBILES_KEPT = 16384  # (raw, code, country) answers normalise_mobile keeps: a periodic sync sends the same numbers again


@functools.lru_cache(maxsize=MOBILES_KEPT)
def normalise_mobile(raw: str, country_code: int | None = None, default_country: str | None = None) -> tuple[str, int]:
    """E.164 and its country calling code; raises ValueError with a readable reason.

    The number must be valid (phonenumbers' `is_valid_number`: an existing range of its
    country), not merely of a possible length. Read as: with `country_code`, a national number
    of that calling code; with a leading `+` or `00`, international; otherwise, with a
    `default_country` (ISO 3166 alpha-2), a number of that country (which may start with its
    calling code: 4790812501 in NO) — never moved to a third country; with none, digits that
    start with a country code (4790812501). A national form — a trunk `0` or an area code in
    parentheses — is never read that way: without a country it is refused, saying how to give one.

    Its answers are kept (phonenumbers takes ~50 µs a number; the answer is a function of the
    arguments alone); a refusal is not kept, so a bad number costs its parse each time."""
    text = raw.strip()
    try:
        if country_code is not None:
            region = phonenumbers.region_code_for_country_code(country_code)
            if region == "ZZ":
                raise ValueError(f"{country_code} is not a country calling code")
            return _valid(phonenumbers.parse(text, region), f"not a valid number for calling code +{country_code}", country_code)
        if text.startswith(("+", "00")):
            return _valid(phonenumbers.parse("+" + text.removeprefix("00") if text.startswith("00") else text, None), "not a valid phone number")
        if default_country is not None:
            country = default_country.upper()
            reason = f"not a valid phone number of {country} (a number of another country is written with + and its country code)"
            return _valid(phonenumbers.parse(text, country), reason)
        if text.startswith("0") or "(" in text:
            raise ValueError(f"{text!r} is a national number; {COUNTRY_HINT}")
        return _valid(phonenumbers.parse("+" + text, None), f"not a valid phone number with a country code; if it is a national number, {COUNTRY_HINT}")
    except phonenumbers.NumberParseException as error:
        raise ValueError(str(error.args[0] if error.args else error)) from None


def _valid(number: phonenumbers.PhoneNumber, reason: str, country_code: int | None = None) -> tuple[str, int]:
    if not phonenumbers.is_valid_number(number) or (country_code is not None and number.country_code != country_code):
        raise ValueError(reason)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), int(number.country_code or 0)


def parse_contact_id(raw: Any) -> int | None:
    """A contact id as sent in an `ID` (decimal string) — None when it cannot be one."""
    text = str(raw).strip()
    # str.isdigit() also accepts "¹" and "٧"; an id is ASCII digits only.
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def contact_id_at(raw: Any, *path: str) -> int:
    """`parse_contact_id`, or NotFound at `path` (no contact can have that id)."""
    cid = parse_contact_id(raw)
    if cid is None:
        raise NotFound.at(path, f"no contact with id {raw}")
    return cid


def fold(text: str) -> str:
    """Caseless, composed: "STRASSE" is "straße", "ÅLESUND" is "ålesund", a decomposed "é" is "é"."""
    return unicodedata.normalize("NFC", text).casefold()


def utc(moment: dt.datetime) -> dt.datetime:
    """A time from a request in UTC; ValueError when UTC cannot hold it (year 1 east of
    Greenwich, year 9999 west of it)."""
    try:
        return moment.astimezone(dt.UTC) if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is outside the years 1 to 9999 in UTC") from None


def nul_path(value: Any) -> tuple[str | int, ...] | None:
    """Where the first text holding U+0000 (which PostgreSQL text cannot store) is in a value
    parsed from JSON — keys of objects, indexes of lists — or None. A loop, not recursion: a
    value may nest as deep as its parser allows."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path
        elif isinstance(item, dict):
            stack.extend(((*path, key), inner) for key, inner in item.items())
        elif isinstance(item, list):
            stack.extend(((*path, index), inner) for index, inner in enumerate(item))
    return None


def shown(text: str, limit: int = 64) -> str:
    """A name from a request as an error message repeats it: quoted, and cut when long."""
    return repr(text if len(text) <= limit else text[:limit] + "…")
