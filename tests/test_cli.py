"""The `contactql` command: first-start key, `keys create`, `schema`."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from tests.helpers import Api, query, repo_root, serve
from tests.test_erase import ERASE

pytestmark = pytest.mark.system  # real servers, browsers, npm clients or processes: left out of the fast loop


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


def test_a_sqlite_file_in_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    result = run_cli("keys", "create", "--database", f"sqlite:///{tmp_path}/no/such/folder/contactql.db")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"contactql: the folder {tmp_path}/no/such/folder of the SQLite database does not exist; create it, or give another path"


def test_a_postgresql_url_without_the_postgres_extra_is_one_line_saying_what_to_install() -> None:
    # As on a machine where `pip install -e .` left asyncpg out: importing it fails.
    code = "import sys; sys.modules['asyncpg'] = None; from contactql.cli import main; raise SystemExit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", code, "db", "current", "--database", "postgresql://contactql@127.0.0.1:1/contactql"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "contactql: a PostgreSQL database needs the postgres extra: pip install -e '.[postgres]' (or contactql[postgres])"


def test_a_database_that_cannot_be_reached_is_one_line_without_its_password() -> None:
    result = run_cli("db", "current", "--database", "postgresql://contactql:s3cret@127.0.0.1:1/contactql")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "s3cret" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("contactql: cannot use the database at postgresql+asyncpg://contactql:***@127.0.0.1:1/contactql: ")


def test_key_names_are_unique_in_a_workspace_and_revoke_names_one_key(database_url: str) -> None:
    made = run_cli("keys", "create", "--scope", "admin", "--name", "ops", "--database", database_url)
    assert made.returncode == 0 and "Created an admin key for workspace 'default':" in made.stderr
    again = run_cli("keys", "create", "--name", "ops", "--database", database_url)
    assert again.returncode == 2 and again.stdout == ""
    assert again.stderr.strip() == "contactql: the workspace already has a key named 'ops'; choose another name"
    unnamed = [run_cli("keys", "create", "--database", database_url) for _ in range(2)]
    assert all(r.returncode == 0 for r in unnamed)
    names = [line.split()[1] for line in run_cli("keys", "list", "--database", database_url).stdout.splitlines()[1:]]
    assert names == ["ops", "write-key-2", "write-key-3"]
    assert run_cli("keys", "revoke", "ops", "--database", database_url).returncode == 0
    listed = run_cli("keys", "list", "--database", database_url).stdout.splitlines()
    assert [line.split()[1] for line in listed[1:] if line.split()[-1] != "-"] == ["ops"], "only the key named was revoked"
    nosuch = run_cli("keys", "list", "--workspace", "nosuch", "--database", database_url)
    assert nosuch.returncode == 2 and nosuch.stdout == "" and nosuch.stderr == "contactql: no workspace is named 'nosuch'\n"


def test_the_server_logs_webhook_attempts_at_its_default_level(database_url: str, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with serve(database_url, env={"CONTACTQL_ALLOW_PRIVATE_WEBHOOKS": "true"}, log=log) as (base, key, _):
        submit = 'mutation { upsertContacts(input: {contacts: [{email: "a@example.com"}], webhookUrl: "http://127.0.0.1:9/hook"}) { batch { id } } }'
        batch = httpx.post(f"{base}/graphql", json={"query": submit}, headers={"Authorization": f"Bearer {key}"}).json()["data"]["upsertContacts"]["batch"]
        for _ in range(200):  # bounded: until the first attempt is recorded
            if "attempt 1 failed" in log.read_text():
                break
            time.sleep(0.05)
    text = log.read_text()
    assert "webhook msg_" in text and "to http://127.0.0.1:9/hook: attempt 1 failed (ConnectError" in text and "now PENDING" in text, text
    assert batch["id"]


def test_serve_on_a_port_in_use_is_one_line_and_prints_no_key(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--database", f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"contactql: cannot listen on 127.0.0.1:{port} (")
    assert not (tmp_path / "x.db").exists(), "nothing was created for a server that could not start"


def test_a_bad_database_option_is_named_as_the_option() -> None:
    result = run_cli("keys", "list", "--database", "mysql://nope")
    assert result.returncode == 2 and result.stderr.strip().startswith("contactql: --database: unsupported database URL scheme 'mysql'")


def test_ctrl_c_before_the_command_begins_is_one_line() -> None:
    """Ctrl-C while Python still imports ContactQL (about a second for `contactql`) is one line
    and exit status 130, as it is once the command runs; pyproject's `contactql` is this entry."""
    entry = tomllib.loads((repo_root() / "pyproject.toml").read_text())["project"]["scripts"]["contactql"]
    assert entry == "contactql.launch:main"
    child = subprocess.Popen([sys.executable, "-m", "contactql.launch", "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)  # inside the imports (the command itself prints its help and exits at once)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    if child.returncode == 0:
        pytest.fail(f"the imports took under 0.3 s here, the signal came after the command: {out[:200]}")
    assert child.returncode == 130 and err.strip() == "contactql: stopped (Ctrl-C).", (child.returncode, err[-2000:])


async def test_import_says_why_rows_were_skipped_and_exits_1(admin: Api, api: Api, database_url: str, tmp_path: Path) -> None:
    """Rows naming an erased person's identity are skipped, not written: the summary says why,
    with examples, as it does for failed rows, and the exit status is not "every row written"."""
    gone = await api.upsert({"email": "gone@example.com", "firstName": "Gone"})
    erased = await admin.gql(ERASE, {"id": gone["contact"]["id"], "reason": "request 12"})
    assert erased["eraseContact"]["userErrors"] == []
    path = tmp_path / "again.ndjson"
    path.write_text('{"email": "gone@example.com"}\n{"email": "fresh@example.com"}\n{"email": "GONE@Example.com", "firstName": "Again"}\n')
    # Not run blocking: the server of this test shares the database and may apply the batch itself.
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "contactql.cli", "import", str(path), "--database", database_url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = (part.decode() for part in await asyncio.wait_for(child.communicate(), timeout=120))
    assert child.returncode == 1, err
    assert "Traceback" not in err
    shown = dict(line.split(maxsplit=1) for line in out.splitlines() if len(line.split(maxsplit=1)) == 2 and not line.startswith(" "))
    assert (shown["created"], shown["skipped"], shown["failed"]) == ("1", "2", "0"), out
    assert "why rows were skipped, not written:" in out
    assert "  SUPPRESSED email  2  — erased on request" in out
    assert "the first rows skipped:" in out and "  line 1: SUPPRESSED email\n" in out and "  line 3: SUPPRESSED email\n" in out
    assert query(database_url, "SELECT count(*) FROM contact WHERE email = 'gone@example.com'") == [(0,)]
