"""`contacts(search: …)`: a contact found by any part of its names, email, mobile and externalId.

Every contact row carries `search_text`, those fields folded the way a search box expects
(case and accents ignored, whitespace collapsed, the mobile's digits) with a line break around
each field. It is computed in Python (`search_text`), on the write path that changes the fields
(store/upsert/flush.py), so both engines fold alike — SQLite's own folding is ASCII-only, and
its trigram tokenizer ignores accents only from 3.45 — and it is indexed in the same
transaction: on SQLite by an FTS5 table with the trigram tokenizer kept by triggers on `contact`
(migration 0007), on PostgreSQL by a pg_trgm GIN index on the column.

A search is its words, all of which must appear (in any field, in any order). A word of three
characters or more is looked up in the index; shorter words are checked on the rows the longer
ones found, and a search of short words only reads the workspace's contacts in order until a
page is full. A search that reads as a phone number ("(646) 755-1998", "+47 912 34 567") is one
word: its digits, without a trunk 0, or the text as typed.

Relevance, the order of a search without `orderBy`: a field equal to the whole search first,
then a field starting with it, then the rest; ties by id.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from contactql.store.db.tables import contact_t
from contactql.store.errors import Invalid

MAX_SEARCH = 200  # characters
MAX_WORDS = 10
INDEXED = 3  # the trigram index answers words of at least this many characters
FIELDS = ("first_name", "last_name", "email", "mobile", "external_id")
_PHONE = re.compile(r"[\d\s()+.\-/]+")
_SEP = "\n"
c = contact_t.c


# Letters Unicode does not decompose into a base letter and an accent, written as a search box
# user types them without one (as ICU's Latin-ASCII transliteration does); typographic quotes as
# a keyboard's.
_BASE_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i", "ħ": "h", "ŧ": "t",
                               "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})  # fmt: skip
# Control characters that are not whitespace: pasted text carries them, nobody types them.
_CONTROLS = dict.fromkeys([*range(0x09), *range(0x0E, 0x20), 0x7F])


def fold(text: str) -> str:
    """Caseless, without accents, invisible characters or extra whitespace: "  Ærøskøbing\u200b
    ÉCOLE" is "aeroskobing ecole"."""
    if text.isascii():  # most names and every email: no accents to take off (a fifth of the time)
        return " ".join(text.lower().translate(_CONTROLS).split())
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_BASE_LETTERS))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch) and unicodedata.category(ch) not in ("Cf", "Cc") or ch.isspace())
    return " ".join(unicodedata.normalize("NFC", bare).split())


def digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit() and ch.isascii())


def search_text(row: Mapping[str, Any]) -> str | None:
    """What `row` is found by: its folded names (each, and the full name), email, the digits of
    its mobile and its externalId, one per line with a line break before and after."""
    first, last = row.get("first_name"), row.get("last_name")
    parts = [fold(first) if first else "", fold(last) if last else ""]
    parts.append(" ".join(p for p in parts if p))
    parts += [fold(row["email"]) if row.get("email") else "", digits(row["mobile"]) if row.get("mobile") else ""]
    parts.append(fold(row["external_id"]) if row.get("external_id") else "")
    kept = [p for p in dict.fromkeys(parts) if p]
    return _SEP + _SEP.join(kept) + _SEP if kept else None


def words(search: str) -> tuple[str, list[tuple[str, ...]]]:
    """(the whole search folded, what it must find: one tuple of alternatives per word, every
    tuple matched by one of its alternatives); Invalid when it is too long.

    A search that reads as a phone number (digits with spaces, +, -, ., / or parentheses) is one
    word with two alternatives: its digits without a trunk 0, found in any formatting of a
    mobile, and the text as typed, found in an externalId or a name ("12-34", "2024/05/01")."""
    if len(search) > MAX_SEARCH:
        raise Invalid.at(("search",), f"at most {MAX_SEARCH} characters")
    if "\x00" in search:
        raise Invalid.at(("search",), "must not contain NUL characters")
    whole = fold(search)
    if _PHONE.fullmatch(whole) and (number := digits(whole)):
        number = number.lstrip("0") or number
        return number, [tuple(dict.fromkeys((number, whole)))]
    found = list(dict.fromkeys(whole.split()))
    if len(found) > MAX_WORDS:
        raise Invalid.at(("search",), f"at most {MAX_WORDS} words")
    return whole, [(word,) for word in found]


def matches(conn: sa.Connection, search: str) -> list[sa.ColumnElement[bool]]:
    """Terms on `contact` for the contacts `search` finds (none for a blank search)."""
    _, found = words(search)
    long = [word for word in found if all(len(a) >= INDEXED for a in word)]
    terms = [sa.or_(*(_containing(a) for a in word)) for word in found if word not in long]
    if not long:
        return terms
    if conn.dialect.name == "sqlite":
        # A phrase of the trigram tokenizer matches any substring of the column; "" escapes a quote.
        expression = " AND ".join("(" + " OR ".join('"' + a.replace('"', '""') + '"' for a in word) + ")" for word in long)
        match = sa.text("contact_search MATCH :search").bindparams(sa.bindparam("search", expression, unique=True))
        found_ids: sa.Select[Any] = sa.select(sa.column("rowid")).select_from(sa.table("contact_search")).where(match)
        return [c.id.in_(found_ids), *terms]
    return [*(sa.or_(*(_containing(a) for a in word)) for word in long), *terms]  # the GIN index answers LIKE '%…%'


def relevance(search: str) -> sa.ColumnElement[int]:
    """0 where a field is the whole search, 1 where one starts with it, else 2."""
    whole, _ = words(search)
    return sa.case(
        (_containing(_SEP + whole + _SEP), 0),
        (_containing(_SEP + whole), 1),
        else_=2,
    )


def _containing(text: str) -> sa.ColumnElement[bool]:
    """`search_text LIKE '%text%'`, the pattern one bound parameter (PostgreSQL plans the
    trigram index for it), `text`'s own % and _ escaped."""
    escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return c.search_text.like(f"%{escaped}%", escape="/")
