"""The hot reads of an upsert run on SQLite's driver with their SQL text kept
(store/db/reads.py): the same rows as SQLAlchemy Core gives, value for value and type for type
— datetimes, booleans, NULLs, unicode — for IN lists of every length a request makes and past
the length whose text is kept; Core's exceptions for a failing statement; and Core itself when
statements are listened to. On PostgreSQL every Read is run by Core: there the comparison
holds Core to itself, and the data and calls are exercised on both engines."""

from __future__ import annotations

import random
from typing import Any

import pytest
import sqlalchemy as sa

from contactql.store.db import dialect, reads
from contactql.store.db.reads import Read
from contactql.store.db.tables import contact_t
from contactql.store.upsert import cache, candidates
from contactql.store.workspace import companies, contacts, lists
from tests.conftest import count_statements, running
from tests.helpers import POSTGRES, Api

CONTACTS = 40


async def _stored(api: Api) -> None:
    """Contacts with every kind of row the reads return: properties, lists, companies, URLs,
    names in other scripts and case, statuses and consents (booleans), and NULLs."""
    for name in ("city", "tier"):
        await api.property_field(name)
    made = await api.gql('mutation { a: createCompany(name: "Acme") { company { id } } b: createCompany(name: "SSeta") { company { id } } }')
    company_ids = [made["a"]["company"]["id"], made["b"]["company"]["id"]]
    for i in range(CONTACTS):
        contact: dict[str, Any] = {
            "email": f"Read.{i}@Example.com" if i % 3 else None,
            "externalId": f"ext-{i}" if i % 2 else None,
            "mobile": f"+4790{i:06d}" if i % 5 == 0 else None,
            "firstName": ["Åse", "ÅSE", "Zoë", "李", None][i % 5],
            "lastName": f"Nordmann{i % 4}",
            "privacyConsent": [True, False, None][i % 3],
            "emailOptIn": i % 2 == 0,
            "properties": [{"name": "city", "value": f"Oslo {i % 3}"}] + ([{"name": "tier", "value": "gold"}] if i % 4 else []),
            "lists": {"add": [{"name": f"List {i % 3}"}, {"name": "Everyone"}]},
            "companies": company_ids[: i % 3],
            "externalUrls": [{"ref": "web", "url": f"https://e.example.com/{i}", "label": "Web" if i % 2 else None}] if i % 2 else [],
        }
        if not (contact["email"] or contact["externalId"] or contact["mobile"]):
            contact["externalId"] = f"only-{i}"
        result = await api.upsert(contact)
        assert result["userErrors"] == [], result


def _params(rng: random.Random, ids: list[int], emails: list[str], fields: list[str], values: list[str]) -> dict[str, Any]:
    """One request's parameters: IN lists from empty to longer than a kept text, of stored and
    missing keys (another case, unknown ids, unicode)."""
    def some(pool: list[Any], missing: list[Any]) -> list[Any]:
        size = rng.choice([0, 0, 1, 1, 2, 3, 7, reads.MAX_KEPT_VALUES + 6])
        return [rng.choice(pool + missing) for _ in range(size)]

    return {
        "ws": 1,
        "ids": some(ids, [0, -1, 10**12]),
        "external_id": some([f"ext-{i}" for i in range(CONTACTS)], ["EXT-1", "ext-∞"]),
        "email": some(emails, ["READ.1@EXAMPLE.COM", "nobody@example.com"]),
        "mobile": some([f"+4790{i:06d}" for i in range(0, CONTACTS, 5)], ["+4700000000"]),
        "first_name": some(["åse", "zoë", "李"], ["ase", ""]),
        "last_name": some([f"nordmann{i}" for i in range(4)], ["NORDMANN1"]),
        "fields": some(fields, ["no-such-field"]),
        "values": (found := some(values, ["Oslo 9", "GOLD"])),
        "hashes": [_hash(v) for v in found],
    }


def _hash(value: str) -> Any:
    from contactql.store.db.columns import value_hash

    return value_hash(value)


def _reads() -> dict[str, tuple[Read, tuple[str, ...]]]:
    """Every Read of the code, with the parameters it takes."""
    return {
        "candidates.by_keys": (candidates.BY_KEYS, ("ws", "ids", "external_id", "email", "mobile")),
        "candidates.by_names": (candidates.BY_NAMES, ("ws", "first_name", "last_name")),
        "candidates.by_props": (candidates.BY_PROPS, ("ws", "fields", "hashes", "values")),
        "candidates.props": (candidates.PROPS, ("ws", "ids")),
        "candidates.memberships": (candidates.MEMBERSHIPS, ("ids",)),
        "candidates.companies": (candidates.COMPANIES, ("ids",)),
        "candidates.urls": (candidates.URLS, ("ids",)),
        "contacts.properties": (contacts._PROPERTIES, ("ws", "ids")),
        "contacts.urls": (contacts._URLS, ("ws", "ids")),
        "lists.of_contacts": (lists._LISTS_OF, ("ws", "ids")),
        "companies.of_contacts": (companies._COMPANIES_OF, ("ws", "ids")),
        "cache.version": (cache._VERSION, ("ws",)),
    } | ({"dialect.largest_id": (dialect._largest_id(contact_t), ())} if POSTGRES is None else {})  # PostgreSQL: the column's sequence


async def test_every_read_gives_what_core_gives(settings: Any) -> None:
    async with running(settings) as (app, api):
        await _stored(api)
        db = app.state.services.db

        def compare(conn: sa.Connection) -> tuple[list[str], int]:
            ids = [row[0] for row in conn.execute(sa.select(contact_t.c.id))]
            emails = [row[0] for row in conn.execute(sa.select(contact_t.c.email).where(contact_t.c.email.is_not(None)))]
            fields = [row[0] for row in conn.execute(sa.text("SELECT id FROM property_field"))]
            values = [row[0] for row in conn.execute(sa.text("SELECT DISTINCT value FROM property_value"))]
            rng = random.Random(23)
            wrong: list[str] = []
            rows_seen = 0
            for _ in range(60):
                params = _params(rng, ids, emails, fields, values)
                for name, (read, keys) in _reads().items():
                    given = {k: params[k] for k in keys}
                    fast = read.rows(conn, given)
                    core = [tuple(row) for row in conn.execute(read.statement, given)]
                    rows_seen += len(fast)
                    if fast != core or [list(map(type, r)) for r in fast] != [list(map(type, r)) for r in core]:
                        wrong.append(f"{name} {given}: {fast[:2]} != {core[:2]}")
            return wrong, rows_seen

        wrong, rows_seen = await db.read(compare)
        assert wrong == []
        assert rows_seen > 1000  # the lists found stored rows, not only empty answers
        if POSTGRES is None:
            # The fast path was taken: every Read compiled for SQLite, texts kept for short lists only.
            for name, (read, _) in _reads().items():
                plan = read._plan(sa.create_engine("sqlite://").dialect)
                assert plan is not None, name
                assert plan.texts and all(sum(shape) <= reads.MAX_KEPT_VALUES for shape in plan.texts), name


async def test_a_failing_statement_raises_what_core_raises_and_listeners_see_every_read(settings: Any) -> None:
    async with running(settings) as (app, api):
        db = app.state.services.db
        missing = Read(sa.select(sa.column("x")).select_from(sa.table("no_such_table")).where(sa.column("x").in_(sa.bindparam("xs", expanding=True))))

        def failing(conn: sa.Connection) -> None:
            missing.rows(conn, {"xs": [1, 2]})

        # SQLite: OperationalError, as Core raises it; PostgreSQL: Core's own (ProgrammingError).
        with pytest.raises(sa.exc.OperationalError if POSTGRES is None else sa.exc.ProgrammingError, match="no such table|no_such_table"):
            await db.read(failing)

        await api.upsert({"email": "seen@example.com"})
        with count_statements(app) as seen:
            found = await db.read(lambda conn: candidates.BY_KEYS.rows(conn, {"ws": 1, "ids": [], "external_id": [], "email": ["seen@example.com"], "mobile": []}))
        assert [row[3] for row in found] == ["seen@example.com"]
        assert any("FROM contact" in statement for statement in seen)  # through Core, where listeners see it


# What an answer's relations were read by: a trip each before, relations_by_name now.
ANSWER_READS = {"relations_by_name", "properties_of_contacts", "lists_of_contacts", "companies_of_contacts", "urls_of_contacts", "fields"}


async def test_an_upsert_answer_reads_its_relations_in_one_trip(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The answer's properties (with their fields), lists, companies and URLs come from one read
    transaction on the database's thread — each trip costs more CPU than its reads — and are
    the contact's as stored."""
    async with running(settings) as (app, api):
        await api.property_field("city")
        company = (await api.gql('mutation { createCompany(name: "Acme") { company { id } } }'))["createCompany"]["company"]["id"]
        db = app.state.services.db
        trips: list[str] = []
        read = type(db).read

        async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            trips.append(fn.__name__)
            return await read(self, fn, *args, **kwargs)

        monkeypatch.setattr(type(db), "read", counted)
        contact = {
            "email": "trip@example.com", "properties": [{"name": "city", "value": "Oslo"}], "lists": {"add": [{"name": "Trips"}]},
            "companies": [company], "externalUrls": [{"ref": "web", "url": "https://trip.example.com"}],
        }  # fmt: skip
        answer = (await api.upsert(contact))["contact"]
        # Only the answer's reads: the app's background loops read on their own schedule (a
        # batch worker asking whether anything is queued).
        assert [trip for trip in trips if trip in ANSWER_READS] == ["relations_by_name"]
        assert [(p["field"]["name"], p["value"]) for p in answer["properties"]] == [("city", "Oslo")]
        assert [item["name"] for item in answer["lists"]] == ["Trips"]
        assert [item["name"] for item in answer["companies"]] == ["Acme"]
        assert answer["externalUrls"] == [{"ref": "web", "url": "https://trip.example.com", "label": None}]


async def test_parameters_only_core_reads_are_read_by_core(settings: Any) -> None:
    """An IN list given as a set or None, and a missing parameter: Core's answer or Core's own
    error, as before the fast path."""
    async with running(settings) as (app, api):
        await api.upsert({"email": "set@example.com", "lists": {"add": [{"name": "Sets"}]}})
        db = app.state.services.db

        def both(conn: sa.Connection, params: dict[str, Any]) -> tuple[Any, Any]:
            return candidates.MEMBERSHIPS.rows(conn, params), [tuple(row) for row in conn.execute(candidates.MEMBERSHIPS.statement, params)]

        for ids in ({1}, frozenset({1, 2}), {1: "a"}.keys()):
            fast, core = await db.read(both, {"ids": ids})
            assert fast == core and len(fast) == 1
        with pytest.raises(sa.exc.StatementError, match="A value is required for bind parameter 'ws'"):
            await db.read(lambda conn: candidates.PROPS.rows(conn, {"ids": [1]}))
