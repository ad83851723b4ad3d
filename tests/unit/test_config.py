"""Configuration: the documented defaults are what the code uses, and docs/operations.md says so."""

from __future__ import annotations

import pytest

from contactql.config import SVIX_RETRY_DELAYS, ConfigError, Settings, load_settings, markdown_table
from tests.helpers import repo_root

DOCUMENTED = {
    "database_url": "sqlite+aiosqlite:///./contactql.db",
    "sqlite_synchronous": "FULL",
    "sqlite_busy_timeout_ms": 5000,
    "max_batch_size": 1000,
    "rate_limit_per_minute": 120_000,
    "max_cost": 10_000,
    "form_rate_limit_per_minute": 20,
    "form_key_rate_limit_per_minute": 600,
    "confirmations_per_address": 3,
    "trusted_proxies": (),
    "captcha_provider": "off",
    "captcha_secret": None,
    "captcha_verify_url": None,
    "cache_control": "private, no-store",
    "graphiql": True,
    "introspection": None,  # as graphiql
    "allow_private_webhooks": False,
    "max_import_mb": 100,
    "cors_origins": (),
    "cors_allow_headers": (
        "Authorization", "Content-Type", "Accept", "traceparent", "tracestate", "baggage", "X-Request-Id",
        "apollographql-client-name", "apollographql-client-version",
    ),
    "cors_expose_headers": ("Retry-After", "X-Request-Id", "RateLimit", "RateLimit-Policy"),
    "log_format": "text",
    "tracing": "off",
    "metrics_token": None,
    "trusted_documents": None,
    "key_cache_seconds": 5.0,
    "retention_days": None,
    "workers": True,
    "lease_seconds": 30.0,
    "batch_chunk_size": 500,
    "webhook_retry_delays": (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0),
    "helper_processes": 1,
}


def test_an_empty_environment_gives_the_documented_defaults_field_by_field() -> None:
    settings = load_settings({})
    assert set(Settings.model_fields) == set(DOCUMENTED)
    for field, value in DOCUMENTED.items():
        assert getattr(settings, field) == value, field
    # The webhook schedule is real numbers a sender can use, not a class attribute's descriptor.
    assert isinstance(settings.webhook_retry_delays, tuple) and len(settings.webhook_retry_delays) == 7
    assert settings.webhook_retry_delays == SVIX_RETRY_DELAYS and all(isinstance(d, float) for d in settings.webhook_retry_delays)
    assert Settings() == settings
    assert settings.schema_is_shown  # introspection follows GraphiQL unless set


def test_the_operations_guide_shows_the_configuration_the_code_declares() -> None:
    guide = (repo_root() / "docs/operations.md").read_text()
    assert markdown_table() in guide, "regenerate the table: python -c 'from contactql.config import markdown_table; print(markdown_table())'"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"CONTACTQL_RATE_LIMIT": "0"}, "CONTACTQL_RATE_LIMIT: Input should be greater than or equal to 1"),
        ({"CONTACTQL_RATE_LIMIT": "lots"}, "CONTACTQL_RATE_LIMIT: Input should be a valid integer"),
        ({"CONTACTQL_GRAPHIQL": "maybe"}, "CONTACTQL_GRAPHIQL: Input should be a valid boolean"),
        ({"CONTACTQL_INTROSPECTION": "maybe"}, "CONTACTQL_INTROSPECTION: Input should be a valid boolean"),
        ({"CONTACTQL_CACHE_CONTROL": "no-store\r\nSet-Cookie: a=b"}, "CONTACTQL_CACHE_CONTROL: String should match pattern"),
        ({"CONTACTQL_WEBHOOK_RETRY_DELAYS": "5,soon"}, "CONTACTQL_WEBHOOK_RETRY_DELAYS"),
        ({"CONTACTQL_WEBHOOK_RETRY_DELAYS": "-1"}, "each delay is 0 to 604800 seconds"),
        ({"CONTACTQL_SQLITE_SYNCHRONOUS": "OFF"}, "CONTACTQL_SQLITE_SYNCHRONOUS: Input should be 'FULL', 'NORMAL' or 'EXTRA'"),
        ({"CONTACTQL_DATABASE_URL": "mysql://x"}, "CONTACTQL_DATABASE_URL: unsupported database URL scheme 'mysql'"),
        ({"CONTACTQL_LEASE_SECONDS": "31"}, "CONTACTQL_LEASE_SECONDS: Input should be less than or equal to 30"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(env)
    assert says in str(raised.value) and "\n" not in str(raised.value)


def test_values_are_read_as_people_write_them() -> None:
    settings = load_settings(
        {
            "CONTACTQL_GRAPHIQL": "off",
            "CONTACTQL_SQLITE_SYNCHRONOUS": " normal ",
            "CONTACTQL_WEBHOOK_RETRY_DELAYS": "1, 2.5 ,",
            "CONTACTQL_DATABASE_URL": "postgres://u@db/contacts",
            "CONTACTQL_MAX_BATCH_SIZE": "",  # empty: unset
        }
    )
    assert (settings.graphiql, settings.sqlite_synchronous, settings.webhook_retry_delays) == (False, "NORMAL", (1.0, 2.5))
    assert settings.database_url == "postgresql+asyncpg://u@db/contacts" and settings.dialect == "postgresql"
    assert settings.max_batch_size == 1000


def test_a_copy_with_changes_is_validated_too() -> None:
    with pytest.raises(ConfigError, match="CONTACTQL_MAX_BATCH_SIZE"):
        Settings().replace(max_batch_size=0)
    assert Settings().replace(workers=False).workers is False
