"""One configuration object, built from the environment once (see README "Configuration").

The database URL decides the dialect; every other setting has a default that is safe for a
single machine. Invalid values fail at start-up with a message naming the variable.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
from collections.abc import Mapping

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./contactql.db"
MAX_BATCH_SIZE_CEILING = 10_000


class ConfigError(ValueError):
    """A configuration variable has a value ContactQL cannot use."""


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    sqlite_synchronous: str = "FULL"
    sqlite_busy_timeout_ms: int = 5_000
    max_batch_size: int = 1_000
    rate_limit_per_minute: int = 1_200
    graphiql: bool = True
    allow_private_webhooks: bool = False
    max_import_mb: int = 100
    cors_origins: tuple[str, ...] = ()
    lease_seconds: float = 30.0
    webhook_retry_delays: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    batch_chunk_size: int = 500
    workers: bool = True
    key_cache_seconds: float = 5.0
    helper_processes: int = 1  # validate big batches beside the server (runtime.py); 0: in threads

    @property
    def dialect(self) -> str:
        return "postgresql" if self.database_url.startswith("postgresql") else "sqlite"

    def with_database(self, url: str | None) -> Settings:
        return self if url is None else dataclasses.replace(self, database_url=normalise_url(url))


def normalise_url(url: str) -> str:
    """Accept the URL forms users type and give SQLAlchemy's async driver names."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    if url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        return url
    raise ConfigError(f"CONTACTQL_DATABASE_URL: unsupported database URL scheme in {url.split(':', 1)[0]!r}")


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}: expected true or false, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}: must be between {low} and {high}, got {value}")
    return value


def _origins(raw: str) -> tuple[str, ...]:
    """Comma-separated origins (scheme://host[:port], as a browser sends them), or `*`."""
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin == "*":
            continue
        parts = urllib.parse.urlsplit(origin)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path or parts.query or parts.fragment:
            raise ConfigError(f"CONTACTQL_CORS_ORIGINS: {origin!r} is not an origin such as https://app.example.com")
    return origins


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    synchronous = env.get("CONTACTQL_SQLITE_SYNCHRONOUS", "FULL").strip().upper()
    if synchronous not in {"FULL", "NORMAL", "EXTRA"}:
        raise ConfigError("CONTACTQL_SQLITE_SYNCHRONOUS: expected FULL, NORMAL or EXTRA")
    origins = _origins(env.get("CONTACTQL_CORS_ORIGINS", ""))
    delays = Settings.webhook_retry_delays
    if raw_delays := env.get("CONTACTQL_WEBHOOK_RETRY_DELAYS", "").strip():
        try:
            delays = tuple(float(d) for d in raw_delays.split(","))
        except ValueError:
            raise ConfigError("CONTACTQL_WEBHOOK_RETRY_DELAYS: expected seconds, comma-separated") from None
    return Settings(
        database_url=normalise_url(env.get("CONTACTQL_DATABASE_URL") or DEFAULT_DATABASE_URL),
        sqlite_synchronous=synchronous,
        sqlite_busy_timeout_ms=_int(env, "CONTACTQL_SQLITE_BUSY_TIMEOUT_MS", 5_000, low=0, high=600_000),
        max_batch_size=_int(env, "CONTACTQL_MAX_BATCH_SIZE", 1_000, low=1, high=MAX_BATCH_SIZE_CEILING),
        rate_limit_per_minute=_int(env, "CONTACTQL_RATE_LIMIT", 1_200, low=1, high=10_000_000),
        graphiql=_bool(env, "CONTACTQL_GRAPHIQL", True),
        allow_private_webhooks=_bool(env, "CONTACTQL_ALLOW_PRIVATE_WEBHOOKS", False),
        max_import_mb=_int(env, "CONTACTQL_MAX_IMPORT_MB", 100, low=1, high=10_000),
        cors_origins=origins,
        lease_seconds=float(_int(env, "CONTACTQL_LEASE_SECONDS", 30, low=1, high=30)),
        webhook_retry_delays=delays,
        batch_chunk_size=_int(env, "CONTACTQL_BATCH_CHUNK_SIZE", 500, low=1, high=5_000),
        workers=_bool(env, "CONTACTQL_WORKERS", True),
        key_cache_seconds=float(_int(env, "CONTACTQL_KEY_CACHE_SECONDS", 5, low=0, high=300)),
        helper_processes=_int(env, "CONTACTQL_HELPER_PROCESSES", 1, low=0, high=8),
    )
