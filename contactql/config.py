"""One configuration object, built from the environment once (see docs/operations.md, "Configuration").

Every setting is declared once, below: its name, type, default, bounds and documentation. The
loader, the error messages and the configuration table of docs/operations.md (`markdown_table`, checked by
tests/test_config.py) all come from that declaration. The database URL decides the dialect;
every other setting has a default that is safe for a single machine. An invalid value fails at
start-up with one line naming the variable.

pydantic, not pydantic-settings: the loader takes any mapping (the CLI passes the environment,
tests pass a dict), and pydantic-settings reads only `os.environ` and dotenv files.
"""

from __future__ import annotations

import ipaddress
import os
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

PREFIX = "CONTACTQL_"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./contactql.db"
MAX_BATCH_SIZE_CEILING = 10_000
# Svix's schedule after the first attempt (immediately): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
SVIX_RETRY_DELAYS = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
# What frontends send and read cross-origin: W3C trace context (traceparent, tracestate,
# baggage), request ids, Apollo Client's client-awareness headers; Retry-After after a 429 and
# the IETF RateLimit fields (limits.py).
CORS_ALLOW_HEADERS = (
    "Authorization", "Content-Type", "Accept", "traceparent", "tracestate", "baggage", "X-Request-Id",
    "apollographql-client-name", "apollographql-client-version",
)  # fmt: skip
CORS_EXPOSE_HEADERS = ("Retry-After", "X-Request-Id", "RateLimit", "RateLimit-Policy")
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}")  # RFC 9110's token


class ConfigError(ValueError):
    """A configuration variable has a value ContactQL cannot use."""


def _env(name: str, shown_default: str | None = None) -> dict[str, Any]:
    """Field metadata: the variable's name (when it is not PREFIX + the field's name) and how
    README shows the default."""
    extra: dict[str, Any] = {"env": name}
    if shown_default is not None:
        extra["shown_default"] = shown_default
    return extra


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    database_url: str = Field(
        DEFAULT_DATABASE_URL, description="`sqlite:///…` and `postgresql://…` forms are accepted too; the URL decides the engine"
    )
    sqlite_synchronous: Literal["FULL", "NORMAL", "EXTRA"] = Field(
        "FULL", description="`FULL`: an acknowledged write survives power loss; `NORMAL` trades that for speed"
    )
    sqlite_busy_timeout_ms: int = Field(5_000, ge=0, le=600_000, description="how long a write waits for another process's write; past it the request is refused as `UNAVAILABLE` with `retryAfter`")
    max_batch_size: int = Field(1_000, ge=1, le=MAX_BATCH_SIZE_CEILING, description="most contacts per `upsertContacts`")
    rate_limit_per_minute: int = Field(
        120_000,
        ge=1,
        le=100_000_000,
        description="cost per minute per API key, on HTTP and WebSocket alike (a request costs at least 1; docs/operations.md, \"Hardening\")",
        json_schema_extra=_env("CONTACTQL_RATE_LIMIT"),
    )
    form_rate_limit_per_minute: int = Field(
        20,
        ge=1,
        le=100_000,
        description="subscriptions a minute from one client IP through one publishable key (a website form's); behind a proxy, see `CONTACTQL_TRUSTED_PROXIES`",
        json_schema_extra=_env("CONTACTQL_FORM_RATE_LIMIT"),
    )
    form_key_rate_limit_per_minute: int = Field(
        600, ge=1, le=1_000_000, description="subscriptions a minute through one publishable key, from all clients together", json_schema_extra=_env("CONTACTQL_FORM_KEY_RATE_LIMIT")
    )
    confirmations_per_address: int = Field(
        3,
        ge=1,
        le=100,
        description="subscribe requests (subscribeContact with its email: a confirmation email or a workflow event each) one address takes in 24 hours; past it, the subscription is answered and nothing is written",
    )
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description="comma-separated addresses or networks (`10.0.0.0/8`) of the proxies in front of ContactQL: from them, `X-Forwarded-For` names the client (per-IP limits, consent evidence)",
        json_schema_extra=_env("CONTACTQL_TRUSTED_PROXIES", "none (the connecting address is the client)"),
    )
    captcha_provider: Literal["off", "turnstile", "hcaptcha", "recaptcha"] = Field(
        "off", description="`turnstile`, `hcaptcha` or `recaptcha`: publishable keys' subscriptions need a `captchaToken` the provider's siteverify accepts"
    )
    captcha_secret: str | None = Field(
        None,
        min_length=1,
        max_length=500,
        pattern=r"^[!-~]+$",
        description="the CAPTCHA provider's secret key (siteverify's `secret`)",
        json_schema_extra=_env("CONTACTQL_CAPTCHA_SECRET", "none"),
    )
    captcha_verify_url: str | None = Field(
        None,
        max_length=2048,
        description="another siteverify URL than the provider's (an enterprise endpoint; a local stand-in with `CONTACTQL_ALLOW_PRIVATE_WEBHOOKS`)",
        json_schema_extra=_env("CONTACTQL_CAPTCHA_VERIFY_URL", "the provider's"),
    )
    max_cost: int = Field(
        10_000, ge=1, le=100_000_000, description="the most one request may cost, estimated before it runs (`COST_LIMIT` above it)"
    )
    cache_control: str = Field(
        "private, no-store",
        max_length=200,
        pattern=r"^[ -~]*$",
        description="the `Cache-Control` header of every `/graphql` answer (GET queries included): by default no cache keeps a workspace's data",
    )
    graphiql: bool = Field(True, description="`false` turns off GraphiQL (page and assets), and introspection unless `CONTACTQL_INTROSPECTION` says otherwise")
    introspection: bool | None = Field(
        None,
        description="`true`: codegen and clients may fetch the schema (`__schema`) even with GraphiQL off; `false`: nobody may (GraphiQL then shows no docs)",
        json_schema_extra=_env("CONTACTQL_INTROSPECTION", "as `CONTACTQL_GRAPHIQL`"),
    )
    log_format: Literal["text", "json"] = Field("text", description="`json`: one JSON object per log line (time, level, logger, message, request_id), for a log collector")
    tracing: Literal["off", "otlp", "console"] = Field(
        "off",
        description="`otlp`: OpenTelemetry spans (request, operation, resolvers; no request values) to `OTEL_EXPORTER_OTLP_ENDPOINT`; `console`: to stdout. Needs `pip install 'contactql[tracing]'`",
    )
    trusted_documents: str | None = Field(
        None,
        max_length=4096,
        description="a `persisted-documents.json` (GraphQL Code Generator's client preset): then keys that are not admin run only those documents",
        json_schema_extra=_env("CONTACTQL_TRUSTED_DOCUMENTS", "none (any document)"),
    )
    metrics_token: str | None = Field(
        None,
        min_length=16,
        max_length=200,
        pattern=r"^[!-~]+$",
        description="turns on `GET /metrics` (Prometheus) for scrapers that send `Authorization: Bearer` this token; an operator's secret, at least 16 characters",
        json_schema_extra=_env("CONTACTQL_METRICS_TOKEN", "none (metrics off)"),
    )
    allow_private_webhooks: bool = Field(
        False, description="allow `http` and private or loopback addresses for webhook and import URLs (local development)"
    )
    max_import_mb: int = Field(100, ge=1, le=10_000, description="import size cap, in MiB: uploads and URLs, and CSV files of `contactql import` (an NDJSON file there is streamed, not capped)")
    cors_origins: tuple[str, ...] = Field(
        (),
        description="comma-separated origins (`https://app.example.com`) allowed to call from a browser (HTTP and WebSocket), or `*`",
        json_schema_extra=_env("CONTACTQL_CORS_ORIGINS", "none"),
    )
    cors_allow_headers: tuple[str, ...] = Field(
        CORS_ALLOW_HEADERS,
        description="comma-separated request headers a browser may send cross-origin: the key, content negotiation, W3C trace context, request ids, Apollo's client awareness",
    )
    cors_expose_headers: tuple[str, ...] = Field(
        CORS_EXPOSE_HEADERS, description="comma-separated answer headers a browser lets a cross-origin app read: the wait after a 429, the request id, the rate limit left"
    )
    key_cache_seconds: float = Field(
        5.0, ge=0, le=300, description="how long a server trusts a key look-up: a revoked key, on HTTP or an open WebSocket, works at most this long"
    )
    retention_days: int | None = Field(
        None, ge=1, le=36_500, description="days a deleted contact is kept (restorable) before housekeeping erases it with its history and events; unset: kept for ever"
    )
    workers: bool = Field(True, description="`false`: this process serves the API only and applies no batches, sends no webhooks and writes no exports")
    lease_seconds: float = Field(30.0, ge=1, le=30, description="batch lease, renewed while a worker applies it")
    batch_chunk_size: int = Field(500, ge=1, le=5_000, description="items per chunk transaction; batchProgress reports after each chunk")
    webhook_retry_delays: tuple[float, ...] = Field(
        SVIX_RETRY_DELAYS,
        min_length=1,
        max_length=20,
        description="seconds between webhook attempts, comma-separated",
        json_schema_extra=_env("CONTACTQL_WEBHOOK_RETRY_DELAYS", "Svix's: `5,300,1800,7200,18000,36000,36000`"),
    )
    helper_processes: int = Field(
        1, ge=0, le=8, description="processes that validate big batches (200+ contacts) and CSV files beside the server; `0`: in a thread"
    )

    @field_validator("database_url", mode="before")
    @classmethod
    def _url(cls, value: Any) -> Any:
        return normalise_url(value) if isinstance(value, str) else value

    @field_validator("sqlite_synchronous", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", "tracing", "captcha_provider", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("cors_origins", "cors_allow_headers", "cors_expose_headers", "webhook_retry_delays", "trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value

    @field_validator("cors_allow_headers", "cors_expose_headers")
    @classmethod
    def _header_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if not HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an HTTP header name")
        return names

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        """Origins as a browser sends them (scheme://host[:port]), or `*`."""
        cleaned = tuple(o.rstrip("/") for o in origins)
        for origin in cleaned:
            if origin == "*":
                continue
            parts = urllib.parse.urlsplit(origin)
            if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path or parts.query or parts.fragment:
                raise ValueError(f"{origin!r} is not an origin such as https://app.example.com")
        return cleaned

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, proxies: tuple[str, ...]) -> tuple[str, ...]:
        """Each as uvicorn's ProxyHeadersMiddleware matches it: an address, or a network
        without host bits (uvicorn would take `127.0.0.1/8` for a name that never matches)."""
        cleaned = []
        for proxy in proxies:
            try:
                cleaned.append(str(ipaddress.ip_network(proxy, strict=False)) if "/" in proxy else str(ipaddress.ip_address(proxy)))
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or network such as 10.0.0.0/8") from None
        return tuple(cleaned)

    @pydantic.model_validator(mode="after")
    def _captcha(self) -> Settings:
        if self.captcha_provider != "off" and self.captcha_secret is None:
            raise ValueError(f"CONTACTQL_CAPTCHA_PROVIDER={self.captcha_provider} needs CONTACTQL_CAPTCHA_SECRET, the provider's secret key")
        return self

    @field_validator("webhook_retry_delays")
    @classmethod
    def _delays(cls, delays: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 <= d <= 7 * 24 * 3600 for d in delays):
            raise ValueError("each delay is 0 to 604800 seconds")
        return delays

    @property
    def schema_is_shown(self) -> bool:
        """Whether introspection is answered."""
        return self.graphiql if self.introspection is None else self.introspection

    @property
    def dialect(self) -> str:
        return "postgresql" if self.database_url.startswith("postgresql") else "sqlite"

    def with_database(self, url: str | None) -> Settings:
        return self if url is None else self.replace(database_url=url)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed, validated like the environment's values."""
        try:
            return Settings.model_validate({**self.model_dump(), **changes})
        except pydantic.ValidationError as error:
            raise ConfigError(_one_line(error)) from None


def env_name(field: str) -> str:
    extra = Settings.model_fields[field].json_schema_extra
    return str(extra["env"]) if isinstance(extra, dict) and "env" in extra else PREFIX + field.upper()


def normalise_url(url: str) -> str:
    """Accept the URL forms users type and give SQLAlchemy's async driver names."""
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    if url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        return url
    raise ValueError(f"unsupported database URL scheme {url.split(':', 1)[0]!r}: give sqlite:///PATH or postgresql://USER@HOST/DB")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings from `env` (default: the process environment); an empty value is unset."""
    env = os.environ if env is None else env
    given = {field: env[name] for field in Settings.model_fields if (raw := env.get(name := env_name(field))) is not None and raw.strip()}
    try:
        return Settings.model_validate(given)
    except pydantic.ValidationError as error:
        raise ConfigError(_one_line(error)) from None


def _one_line(error: pydantic.ValidationError) -> str:
    """`CONTACTQL_X: what is wrong, got 'value'` for the first problem."""
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    name = env_name(field) if field in Settings.model_fields else field
    message = str(first["msg"]).removeprefix("Value error, ")
    shown = first.get("input")
    got = isinstance(shown, str | int | float) and shown != "" and repr(shown) not in message
    return (f"{name}: {message}" if name else message) + (f", got {shown!r}" if got else "")


def markdown_table() -> str:
    """The configuration table of docs/operations.md, from the declarations above."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for field, info in Settings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        default = extra.get("shown_default") or f"`{_shown(info.default)}`"
        bounds = _bounds(info.metadata)
        lines.append(f"| `{env_name(field)}` | {default} | {info.description}{bounds} |")
    return "\n".join(lines)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):  # as the variable is written: comma-separated
        return ",".join(_shown(v) for v in value)
    return str(value)


def _bounds(metadata: list[Any]) -> str:
    low = next((m.ge for m in metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in metadata if hasattr(m, "le")), None)
    return "" if low is None or high is None else f" ({_shown(low)}–{_shown(high)})"
