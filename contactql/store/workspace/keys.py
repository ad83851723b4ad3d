"""Workspaces and their API keys.

A key is shown once, when it is created, and stored only as its SHA-256 digest: a copy of the
database does not give anyone access. A key belongs to one workspace and has one scope
(read < write < admin), or is a website form's publishable key (`cql_pub_…`): it runs
subscribeContact and confirmContact only, from the origins it lists, and is safe to publish.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import re
import secrets
import urllib.parse
from typing import Any

import sqlalchemy as sa

from contactql.store.db.tables import api_key_t, workspace_t
from contactql.store.errors import Invalid
from contactql.store.model import Scope
from contactql.store.values import MAX_NAME

KEY_PREFIX = "cql_"
PUBLISHABLE_PREFIX = "cql_pub_"  # tells a key that may be published from a secret one at a glance
MAX_ORIGINS = 20
HOST_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
FORM_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")  # it names the form's events: subscribeFromApi-<form>
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")  # where a form may be served over http (development)


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's workspace, name and scope."""

    workspace_id: int
    workspace_name: str
    key_id: int
    key_name: str
    scope: Scope
    origins: tuple[str, ...] = ()  # a publishable key's
    form: str | None = None

    @property
    def can_write(self) -> bool:
        return self.scope in (Scope.WRITE, Scope.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.scope is Scope.ADMIN

    @property
    def is_publishable(self) -> bool:
        return self.scope is Scope.PUBLISHABLE

    def may_call_from(self, origin: str | None) -> bool:
        """A publishable key only from its origins (a request without one is refused); any
        other key from anywhere (CORS decides for browsers)."""
        return not self.is_publishable or (origin is not None and origin.lower() in self.origins)


@dataclasses.dataclass(frozen=True, slots=True)
class WorkspaceRow:
    id: int
    name: str
    webhook_secret: str
    default_country: str | None = None


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _webhook_secret() -> str:
    # Standard Webhooks: "whsec_" + base64 of the HMAC key.
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def ensure_workspace(conn: sa.Connection, *, name: str) -> WorkspaceRow:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise Invalid.at(("workspace",), f"a workspace name is 1 to {MAX_NAME} characters")
    row = conn.execute(sa.select(workspace_t).where(workspace_t.c.name == name)).first()
    if row is None:
        values = {"name": name, "webhook_secret": _webhook_secret(), "created_at": dt.datetime.now(dt.UTC)}
        new_id = conn.execute(sa.insert(workspace_t).returning(workspace_t.c.id), values).scalar_one()
        return WorkspaceRow(new_id, name, str(values["webhook_secret"]))
    return WorkspaceRow(row.id, row.name, row.webhook_secret, row.default_country)


def workspace_named(conn: sa.Connection, *, name: str) -> WorkspaceRow:
    """The workspace of this name; Invalid when there is none (a command that only reads)."""
    row = conn.execute(sa.select(workspace_t).where(workspace_t.c.name == name.strip())).first()
    if row is None:
        raise Invalid.at(("workspace",), f"no workspace named {name.strip()[:100]!r}")
    return WorkspaceRow(row.id, row.name, row.webhook_secret, row.default_country)


def get_workspace(conn: sa.Connection, *, workspace_id: int) -> WorkspaceRow:
    row = conn.execute(sa.select(workspace_t).where(workspace_t.c.id == workspace_id)).one()
    return WorkspaceRow(row.id, row.name, row.webhook_secret, row.default_country)


def default_country(conn: sa.Connection, *, workspace_id: int) -> str | None:
    """The country national phone numbers of this workspace are read in, if it has one."""
    return conn.scalar(sa.select(workspace_t.c.default_country).where(workspace_t.c.id == workspace_id))


def set_default_country(conn: sa.Connection, *, workspace_id: int, country: str | None) -> WorkspaceRow:
    """`country`: ISO 3166 alpha-2 (validated by the caller), or None for none."""
    conn.execute(sa.update(workspace_t).where(workspace_t.c.id == workspace_id).values(default_country=country))
    return get_workspace(conn, workspace_id=workspace_id)


def canonical_origin(value: str) -> str:
    """A web origin as browsers send it in `Origin`: `https://www.example.com`, the port only when
    it is not the scheme's. `http` only for localhost. Invalid names what is wrong."""
    text = value.strip()
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError:
        raise Invalid.at(("origins",), f"{text[:200]!r} is not an origin such as https://www.example.com") from None
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("https", "http") or not host or parts.username or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise Invalid.at(("origins",), f"{text[:200]!r} is not an origin such as https://www.example.com (a scheme and a host, no path)")
    if ":" not in host:  # a name, as browsers send it: international names in their ASCII (punycode) form
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise Invalid.at(("origins",), f"{text[:200]!r}: {host[:100]!r} is not a host name") from None
        if not HOST_NAME.fullmatch(host):
            raise Invalid.at(("origins",), f"{text[:200]!r}: {host[:100]!r} is not a host name (letters, digits, '-' and dots; no wildcard)")
    if port == 0:
        raise Invalid.at(("origins",), f"{text[:200]!r} is not an origin: port 0")
    scheme = parts.scheme.lower()
    shown = f"[{host}]" if ":" in host else host
    if scheme == "http" and shown not in LOCAL_HOSTS:
        raise Invalid.at(("origins",), f"{text[:200]!r}: a form's page must be served over https (http only for localhost)")
    default = {"https": 443, "http": 80}[scheme]
    return f"{scheme}://{shown}" + (f":{port}" if port is not None and port != default else "")


@dataclasses.dataclass(frozen=True, slots=True)
class FormKey:
    """What a publishable key is created with besides its name: the origins its form may call
    from, the form's name (its events', its consent records'), and the page GET /confirm sends a
    visitor to once confirmed (on one of the origins: never an open redirect)."""

    origins: tuple[str, ...] = ()
    form: str | None = None
    thank_you_url: str | None = None

    def checked(self, scope: Scope) -> FormKey:
        """The same, canonical; Invalid naming what is wrong. A publishable key needs at least
        one origin; no other key has any of these."""
        if scope is not Scope.PUBLISHABLE:
            if self.origins or self.form or self.thank_you_url:
                raise Invalid.at(("origins",), "only a publishable key has origins, a form and a thank-you page (--scope publishable)")
            return FormKey()
        if not self.origins:
            raise Invalid.at(("origins",), "a publishable key needs the origin its form is on: --origin https://www.example.com")
        if len(self.origins) > MAX_ORIGINS:
            raise Invalid.at(("origins",), f"at most {MAX_ORIGINS} origins a key")
        form = self.form
        if form is not None:
            form = form.strip()
            if not FORM_NAME.fullmatch(form):
                raise Invalid.at(("form",), "a form name is 1 to 32 Latin letters, digits, '-' or '_' (it names the form's events, subscribeFromApi-<form>)")
        origins = tuple(dict.fromkeys(canonical_origin(o) for o in self.origins))
        page = self.thank_you_url
        if page is not None:
            page = page.strip()
            parts = urllib.parse.urlsplit(page)
            if len(page) > 2048 or not page.isprintable() or parts.scheme not in ("https", "http") or not parts.netloc:
                raise Invalid.at(("thankYouUrl",), "a thank-you page is an http(s) URL of at most 2048 characters")
            if _origin_of(page) not in origins:
                raise Invalid.at(("thankYouUrl",), f"the thank-you page must be on one of the key's origins ({', '.join(origins)})")
        return FormKey(origins, form, page)


def _origin_of(url: str) -> str | None:
    parts = urllib.parse.urlsplit(url)
    try:
        return canonical_origin(f"{parts.scheme}://{parts.netloc}")
    except Invalid:
        return None


def create_key(conn: sa.Connection, *, workspace_id: int, name: str, scope: Scope, form: FormKey = FormKey()) -> str:
    """Store a new key and return its secret — the only time it exists in clear."""
    secret = (PUBLISHABLE_PREFIX if scope is Scope.PUBLISHABLE else KEY_PREFIX) + secrets.token_urlsafe(32)
    conn.execute(
        sa.insert(api_key_t),
        {
            "workspace_id": workspace_id,
            "name": name,
            "key_hash": hash_key(secret),
            "scope": scope.value,
            "created_at": dt.datetime.now(dt.UTC),
            "origins": json.dumps(list(form.origins)) if form.origins else None,
            "form": form.form,
            "thank_you_url": form.thank_you_url,
        },
    )
    return secret


def publishable_origins(conn: sa.Connection) -> frozenset[str]:
    """Every origin a live publishable key lists, in any workspace: what CORS lets a browser
    ask about (the key itself decides, per request, which of them it may be used from)."""
    k = api_key_t.c
    rows = conn.scalars(sa.select(k.origins).where(k.scope == Scope.PUBLISHABLE.value, k.revoked_at.is_(None), k.origins.is_not(None)))
    return frozenset(origin for row in rows for origin in json.loads(row))


def has_any_key(conn: sa.Connection) -> bool:
    return conn.scalar(sa.select(api_key_t.c.id).limit(1)) is not None


def count_keys(conn: sa.Connection, *, workspace_id: int) -> int:
    query = sa.select(sa.func.count()).where(api_key_t.c.workspace_id == workspace_id)
    return int(conn.scalar(query) or 0)


def authenticate(conn: sa.Connection, *, secret: str) -> Principal | None:
    row: Any = (
        conn.execute(
            sa.select(api_key_t.c.id, api_key_t.c.name, api_key_t.c.scope, workspace_t.c.id, workspace_t.c.name, api_key_t.c.origins, api_key_t.c.form)
            .join(workspace_t, workspace_t.c.id == api_key_t.c.workspace_id)
            .where(api_key_t.c.key_hash == hash_key(secret), api_key_t.c.revoked_at.is_(None))
        )
    ).first()
    if row is None:
        return None
    return Principal(row[3], row[4], row[0], row[1], Scope(row[2]), tuple(json.loads(row[5])) if row[5] else (), row[6])


def first_start_key(conn: sa.Connection, *, name: str) -> str | None:
    """On first start (no key at all): workspace `default` and one admin key; else None."""
    if has_any_key(conn):
        return None
    workspace = ensure_workspace(conn, name="default")
    return create_key(conn, workspace_id=workspace.id, name=name, scope=Scope.ADMIN)


def new_key(conn: sa.Connection, *, workspace: str, scope: Scope, name: str | None, form: FormKey = FormKey()) -> str:
    """A key for `workspace` (created if needed), named after its scope unless named. Names
    are unique among a workspace's keys, so `keys revoke NAME` names one key."""
    form = form.checked(scope)
    return named_key(conn, workspace_id=ensure_workspace(conn, name=workspace).id, scope=scope, name=name, form=form)[0]


def named_key(conn: sa.Connection, *, workspace_id: int, scope: Scope, name: str | None, form: FormKey = FormKey()) -> tuple[str, str]:
    """(secret, name) of a new key of the workspace, `form` checked already; Invalid for a name
    taken or out of bounds."""
    form = form.checked(scope)
    taken = set(conn.scalars(sa.select(api_key_t.c.name).where(api_key_t.c.workspace_id == workspace_id)))
    if name is not None:
        name = name.strip()
        if not name or len(name) > MAX_NAME:
            raise Invalid.at(("name",), f"a key name is 1 to {MAX_NAME} characters")
        if name in taken:
            raise Invalid.at(("name",), f"the workspace already has a key named {name!r}; choose another name")
    else:
        number = count_keys(conn, workspace_id=workspace_id) + 1
        while f"{scope.value}-key-{number}" in taken:
            number += 1
        name = f"{scope.value}-key-{number}"
    return create_key(conn, workspace_id=workspace_id, name=name, scope=scope, form=form), name


@dataclasses.dataclass(frozen=True, slots=True)
class KeyRow:
    """A key as `contactql keys list` shows it: never the secret."""

    workspace: str
    name: str
    scope: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    origins: str | None = None  # a publishable key's, as stored (a JSON array)
    form: str | None = None


def list_keys(conn: sa.Connection, *, workspace: str | None) -> list[KeyRow]:
    k, w = api_key_t.c, workspace_t.c
    query = sa.select(w.name, k.name, k.scope, k.created_at, k.last_used_at, k.revoked_at, k.origins, k.form).join(workspace_t, w.id == k.workspace_id)
    if workspace is not None:
        if conn.scalar(sa.select(w.id).where(w.name == workspace)) is None:
            raise Invalid.at(("workspace",), f"no workspace is named {workspace!r}")
        query = query.where(w.name == workspace)
    return [KeyRow(*row) for row in conn.execute(query.order_by(w.name, k.created_at, k.id))]


def revoke_key(conn: sa.Connection, *, workspace: str, key: str) -> int:
    """Revoke the workspace's key given by its name or by the key itself; how many were revoked."""
    k = api_key_t.c
    workspace_id = sa.select(workspace_t.c.id).where(workspace_t.c.name == workspace).scalar_subquery()
    matches = sa.and_(k.workspace_id == workspace_id, sa.or_(k.name == key, k.key_hash == hash_key(key)), k.revoked_at.is_(None))
    found = conn.scalar(sa.select(sa.func.count()).where(matches)) or 0
    if found > 1:  # two keys of one name, made before names were unique
        raise Invalid.at(("key",), f"{found} active keys are named {key!r}; revoke the one you mean by giving the key itself")
    done = conn.execute(sa.update(api_key_t).where(matches).values(revoked_at=dt.datetime.now(dt.UTC)))
    return done.rowcount


def touch_key(conn: sa.Connection, *, key_id: int) -> None:
    conn.execute(sa.update(api_key_t).where(api_key_t.c.id == key_id).values(last_used_at=dt.datetime.now(dt.UTC)))
