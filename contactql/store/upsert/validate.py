"""Normalise and validate contact inputs: one function, every problem of an item at once.

`validate_contact(raw)` takes a ContactInput as GraphQL coerced it (camelCase keys, a key absent
when the client omitted it, `None` for an explicit null) and returns a `ContactItem` plus the
list of problems, each with a field path relative to the item. Single upserts, batches and
imports all call it, once per item; the engine never validates again.

Choices (docs/user-guide.md, "Input rules"): blank strings count as null; `emailOptIn`/`emailStatus` and
their SMS twins ignore an explicit null (a contact always has a status); property names that
are built-in fields (`firstname`, `lastName`, `email`, `mobile`, `externalId`, any case) write
the field (seed 000). Property values are typed against the workspace's fields later, by the
engine, because fields can be created between accepting a batch and applying it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from contactql.store.errors import ErrorCode, Problem
from contactql.store.model import (
    ContactItem,
    EmailStatus,
    ListChanges,
    ListRef,
    PropertyInput,
    SmsStatus,
    UrlChanges,
    UrlInput,
)
from contactql.store.values import (
    BUILTIN_PROPERTY_NAMES,
    MAX_COMPANIES,
    MAX_EXTERNAL_URLS,
    MAX_LIST_REFS,
    MAX_NAME,
    MAX_PROPERTIES,
    MAX_PROPERTY_VALUE,
    MAX_TEXT,
    MAX_URL,
    enum_value,
    normalise_email,
    normalise_mobile,
    parse_contact_id,
)

_TEXT_COLUMNS = {"externalId": "external_id", "firstName": "first_name", "lastName": "last_name"}
_ADDRESS_COLUMNS = {
    "town": "address_town",
    "region": "address_region",
    "address": "address_address",
    "postcode": "address_postcode",
}


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


class _Checker:
    """Collects the problems of one item; `path` entries are GraphQL field names. Knows the
    country national phone numbers are read in, when one is given."""

    __slots__ = ("country", "problems")

    def __init__(self, country: str | None = None) -> None:
        self.problems: list[Problem] = []
        self.country = country

    def add(self, path: tuple[str, ...], message: str, code: ErrorCode = ErrorCode.INVALID_INPUT) -> None:
        self.problems.append(Problem(path, code, message))

    def text(self, path: tuple[str, ...], value: Any, limit: int = MAX_TEXT) -> str | None:
        value = _blank_to_none(value)
        if value is not None and len(value) > limit:
            self.add(path, f"must be at most {limit} characters")
        return value


def validate_contact(raw: Mapping[str, Any], index: int = 0, default_country: str | None = None) -> tuple[ContactItem, list[Problem]]:
    """The item and every problem of it; national phone numbers are read in `default_country`."""
    check = _Checker(default_country)
    item = ContactItem(index=index)
    values = item.values

    if (raw_id := raw.get("id")) is not None:
        item.contact_id = parse_contact_id(raw_id)
        if item.contact_id is None:
            check.add(("id",), "is not a contact id (a positive decimal integer)")

    for key, column in _TEXT_COLUMNS.items():
        if key in raw:
            values[column] = check.text((key,), raw[key])

    if "email" in raw:
        _set_email(check, values, ("email",), raw["email"])
    _set_mobile(check, values, raw)
    _set_statuses(check, values, raw)
    if "privacyConsent" in raw:
        values["privacy_consent"] = raw["privacyConsent"]
    if "address" in raw:
        _set_address(check, values, raw["address"])
    if (props := raw.get("properties")) is not None:
        item.properties = _properties(check, values, props, explicit=raw)
    if (lists := raw.get("lists")) is not None:
        item.lists = _list_changes(check, lists)
    if "companies" in raw:
        item.companies = _companies(check, raw["companies"])
    if "externalUrls" in raw:
        item.urls = _external_urls(check, raw["externalUrls"])
    if "clientRef" in raw:
        item.client_ref = check.text(("clientRef",), raw["clientRef"])
    return item, check.problems


def _set_email(check: _Checker, values: dict[str, Any], path: tuple[str, ...], raw: Any) -> None:
    text = _blank_to_none(raw)
    if text is None:
        values["email"] = None
        return
    try:
        values["email"] = normalise_email(text)
    except ValueError as error:
        check.add(path, f"invalid email address: {error}", ErrorCode.INVALID_EMAIL)


def _set_mobile(check: _Checker, values: dict[str, Any], raw: Mapping[str, Any]) -> None:
    has_mobile = "mobile" in raw
    has_code, has_number = "mobileCountryCode" in raw, "mobileNumber" in raw
    results: list[tuple[str, int] | None] = []
    if has_mobile:
        results.append(_mobile(check, ("mobile",), raw["mobile"]))
    if has_code or has_number:
        code, number = raw.get("mobileCountryCode"), _blank_to_none(raw.get("mobileNumber"))
        if number is None and code is None:
            results.append(None)
        elif number is None or code is None:
            missing = "mobileNumber" if number is None else "mobileCountryCode"
            check.add((missing,), "mobileCountryCode and mobileNumber must be given together")
            return
        else:
            results.append(_mobile(check, ("mobileNumber",), number, code))
    if not results or any(r is False for r in results):
        return
    if len(results) == 2 and results[0] != results[1]:
        check.add(("mobile",), "mobile and mobileCountryCode+mobileNumber name different numbers")
        return
    final = results[0]
    values["mobile"], values["mobile_country_code"] = final if final else (None, None)


def _mobile(check: _Checker, path: tuple[str, ...], raw: Any, code: int | None = None) -> Any:
    text = _blank_to_none(raw)
    if text is None:
        return None
    try:
        return normalise_mobile(text, code, check.country)
    except ValueError as error:
        check.add(path, f"invalid phone number: {error}", ErrorCode.INVALID_PHONE)
        return False


def _set_statuses(check: _Checker, values: dict[str, Any], raw: Mapping[str, Any]) -> None:
    # seed 000's booleans map onto seed 002's statuses; both given must agree.
    for flag, key, column, subscribed, unsubscribed in (
        ("emailOptIn", "emailStatus", "email_status", EmailStatus.SUBSCRIBED, EmailStatus.UNSUBSCRIBED),
        ("mobileOptIn", "smsStatus", "sms_status", SmsStatus.SUBSCRIBED, SmsStatus.UNSUBSCRIBED),
    ):
        opt_in, status = raw.get(flag), enum_value(raw.get(key))
        if status is not None:
            if opt_in is not None and opt_in != (status == subscribed):
                check.add((flag,), f"{flag} {str(opt_in).lower()} disagrees with {key} {status}")
                continue
            values[column] = status
        elif opt_in is not None:
            values[column] = str(subscribed if opt_in else unsubscribed)


def _set_address(check: _Checker, values: dict[str, Any], raw: Mapping[str, Any] | None) -> None:
    if raw is None:
        values.update(dict.fromkeys(_ADDRESS_COLUMNS.values()))
        return
    for key, column in _ADDRESS_COLUMNS.items():
        if key in raw:
            values[column] = check.text(("address", key), raw[key])


def _properties(
    check: _Checker, values: dict[str, Any], raw: Sequence[Mapping[str, Any]], explicit: Mapping[str, Any]
) -> tuple[PropertyInput, ...]:
    if len(raw) > MAX_PROPERTIES:
        check.add(("properties",), f"at most {MAX_PROPERTIES} property values per contact")
        return ()
    out: list[PropertyInput] = []
    seen: set[str] = set()
    for position, prop in enumerate(raw):
        path = ("properties", str(position))
        field_id, name = _blank_to_none(prop.get("id")), _blank_to_none(prop.get("name"))
        value = prop.get("value")
        if isinstance(value, str) and not value.strip():
            value = None  # blank counts as null: it clears the value, of every type
        if field_id is None and name is None:
            check.add(path, "give the property's id or name")
            continue
        if value is not None and len(value) > MAX_PROPERTY_VALUE:
            check.add((*path, "value"), f"must be at most {MAX_PROPERTY_VALUE} characters")
            continue
        # A built-in field's name wins over an id: built-in fields have no ids, and seed 000's
        # example sends {"propertyid": <placeholder>, "propertyname": "firstname"}.
        builtin = BUILTIN_PROPERTY_NAMES.get(name.lower()) if name else None
        ref = f"name:{str(name).lower()}" if builtin or field_id is None else f"id:{field_id}"
        if ref in seen:
            check.add(path, "the same property is given twice")
            continue
        seen.add(ref)
        if builtin is None:
            out.append(PropertyInput(field_id, name, value, position))
        elif builtin in explicit or (builtin == "mobile" and ("mobileCountryCode" in explicit or "mobileNumber" in explicit)):
            _agree(check, values, builtin, (*path, "value"), value)
        else:
            _set_builtin(check, values, builtin, (*path, "value"), value)
    return tuple(out)


def _agree(check: _Checker, values: dict[str, Any], field: str, path: tuple[str, ...], value: Any) -> None:
    """A built-in field given both as a field (a mobile: also as mobileCountryCode and
    mobileNumber) and as a property: accepted when the two name the same value once normalised
    (an email in another case, a mobile written another way)."""
    column = _TEXT_COLUMNS.get(field, field)
    own = _Checker(check.country)
    mine: dict[str, Any] = {}
    _set_builtin(own, mine, field, path, value)
    if own.problems:
        check.problems.extend(own.problems)  # the property's own problem, whatever the field's
    elif column in values and values[column] != mine[column]:  # not in values: the field is invalid, and says so
        check.add(path, f"disagrees with the {field} field of the same input")


def _set_builtin(check: _Checker, values: dict[str, Any], field: str, path: tuple[str, ...], value: Any) -> None:
    if field == "email":
        _set_email(check, values, path, value)
    elif field == "mobile":
        result = _mobile(check, path, value)
        if result is not False:
            values["mobile"], values["mobile_country_code"] = result if result else (None, None)
    else:
        values[_TEXT_COLUMNS[field]] = check.text(path, value)


def _list_ref(check: _Checker, path: tuple[str, ...], raw: Mapping[str, Any]) -> ListRef | None:
    list_id, name = _blank_to_none(raw.get("id")), _blank_to_none(raw.get("name"))
    if (list_id is None) == (name is None):
        check.add(path, "give exactly one of the list's id or name")
        return None
    if name is not None and len(name) > MAX_NAME:
        check.add((*path, "name"), f"must be at most {MAX_NAME} characters")
        return None
    return ListRef(list_id, name)


def _list_changes(check: _Checker, raw: Mapping[str, Any]) -> ListChanges | None:
    parts: dict[str, tuple[ListRef, ...] | None] = {}
    for key in ("add", "remove", "set"):
        refs = raw.get(key)
        if refs is None:
            parts[key] = None
            continue
        if len(refs) > MAX_LIST_REFS:
            check.add(("lists", key), f"at most {MAX_LIST_REFS} lists")
            return None
        parts[key] = tuple(
            r for i, ref in enumerate(refs) if (r := _list_ref(check, ("lists", key, str(i)), ref)) is not None
        )
    if parts["set"] is not None and (parts["add"] or parts["remove"]):
        check.add(("lists",), "give either set, or add and remove")
        return None
    return ListChanges(add=parts["add"] or (), remove=parts["remove"] or (), set=parts["set"])


def _companies(check: _Checker, raw: Sequence[str] | None) -> tuple[str, ...]:
    if raw is None:
        return ()  # null replaces the companies with none
    if len(raw) > MAX_COMPANIES:
        check.add(("companies",), f"at most {MAX_COMPANIES} companies")
        return ()
    return tuple(dict.fromkeys(str(c).strip() for c in raw))


def _external_urls(check: _Checker, raw: Sequence[Mapping[str, Any]] | None) -> UrlChanges | None:
    if raw is None:
        return UrlChanges(clear_all=True)
    if len(raw) > MAX_EXTERNAL_URLS:
        check.add(("externalUrls",), f"at most {MAX_EXTERNAL_URLS} external URLs", ErrorCode.TOO_MANY_EXTERNAL_URLS)
        return None
    upserts: dict[str, UrlInput] = {}
    for position, entry in enumerate(raw):
        path = ("externalUrls", str(position))
        ref = check.text((*path, "ref"), entry.get("ref"), MAX_NAME)
        if ref is None:
            check.add((*path, "ref"), "must not be empty")
            continue
        url = _blank_to_none(entry.get("url"))
        if url is not None and not _is_https_url(url):
            check.add((*path, "url"), "must be an https URL of at most 2048 characters")
            continue
        upserts[ref] = UrlInput(ref, url, check.text((*path, "label"), entry.get("label")))
    return UrlChanges(clear_all=False, upserts=tuple(upserts.values()))


def _is_https_url(url: str) -> bool:
    if len(url) > MAX_URL:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname)
