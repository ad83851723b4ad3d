"""The `contactql` command: first-start key, `keys create`, `schema`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers import repo_root, serve


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "contactql.cli", *args], capture_output=True, text=True, timeout=60, check=False)


def test_keys_create_prints_the_key_alone_on_the_last_line_and_it_works(database_url: str) -> None:
    database = database_url
    created = run_cli("keys", "create", "--workspace", "acme", "--scope", "read", "--database", database)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("cql_") and " " not in key
    with serve(database) as (base, first_key, _):
        assert first_key is None, "a database that has a key gets no first-start key"
        response = httpx.post(f"{base}/graphql", json={"query": "{ workspace { name } }"}, headers={"Authorization": f"Bearer {key}"})
        assert response.json()["data"] == {"workspace": {"name": "acme"}}
        denied = httpx.post(
            f"{base}/graphql",
            json={"query": 'mutation { createList(name: "x") { list { id } } }'},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_first_start_prints_one_admin_key_once(database_url: str) -> None:
    database = database_url
    with serve(database) as (base, key, _):
        assert key is not None and key.startswith("cql_")
        response = httpx.post(
            f"{base}/graphql", json={"query": "{ workspace { name webhookSecret } }"}, headers={"Authorization": f"Bearer {key}"}
        )
        workspace = response.json()["data"]["workspace"]
        assert workspace["name"] == "default" and workspace["webhookSecret"].startswith("whsec_")
    with serve(database) as (_, second, _):
        assert second is None


def test_bad_database_url_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("keys", "create", "--database", "mysql://nope")
    assert result.returncode == 2
    assert "unsupported database URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_schema_command_prints_the_committed_sdl() -> None:
    result = run_cli("schema")
    assert result.returncode == 0
    assert result.stdout == (repo_root() / "schema.graphql").read_text()
