"""The statements `load_chunk` (chunk.py) reads a chunk's candidates and their links with.

Candidates are the contacts an item could match or collide with: by id, externalId, email or
mobile (`BY_KEYS`), by name (`BY_NAMES`) and by property values (`BY_PROPS`) for the
PROPERTIES rule. Each is a `Read` (store/db/reads.py), kept compiled per shape of its IN lists.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from contactql.store.db.reads import Read
from contactql.store.db.tables import contact_company_t, contact_t, external_url_t, membership_t, property_value_t

_c = contact_t.c
_pv = property_value_t.c
_WS: sa.BindParameter[int] = sa.bindparam("ws")


def _key_in(column: sa.ColumnElement[Any], name: str) -> sa.ColumnElement[bool]:
    # Each OR term repeats the workspace so SQLite answers it from its own index (MULTI-INDEX OR).
    return sa.and_(_c.workspace_id == _WS, column.in_(sa.bindparam(name, expanding=True)))


BY_KEYS = Read(
    sa.select(contact_t).where(
        sa.or_(_key_in(_c.id, "ids"), _key_in(_c.external_id, "external_id"), _key_in(_c.email, "email"), _key_in(_c.mobile, "mobile"))
    )
)
BY_NAMES = Read(
    sa.select(contact_t).where(sa.or_(_key_in(sa.func.lower(_c.first_name), "first_name"), _key_in(sa.func.lower(_c.last_name), "last_name")))
)
BY_PROPS = Read(
    sa.select(contact_t).where(
        _c.id.in_(
            sa.select(_pv.contact_id).where(
                _pv.workspace_id == _WS,
                _pv.field_id.in_(sa.bindparam("fields", expanding=True)),
                _pv.value_hash.in_(sa.bindparam("hashes", expanding=True)),
                _pv.value.in_(sa.bindparam("values", expanding=True)),
            )
        )
    )
)
PROPS = Read(sa.select(_pv.contact_id, _pv.field_id, _pv.value).where(_pv.workspace_id == _WS, _pv.contact_id.in_(sa.bindparam("ids", expanding=True))))


def _pairs_of(column: sa.ColumnElement[Any]) -> Read:
    table = column.table
    return Read(sa.select(table.c.contact_id, column).where(table.c.contact_id.in_(sa.bindparam("ids", expanding=True))))


MEMBERSHIPS = _pairs_of(membership_t.c.list_id)
COMPANIES = _pairs_of(contact_company_t.c.company_id)
URLS = Read(
    sa.select(external_url_t.c.contact_id, external_url_t.c.ref, external_url_t.c.url, external_url_t.c.label).where(
        external_url_t.c.contact_id.in_(sa.bindparam("ids", expanding=True))
    )
)
