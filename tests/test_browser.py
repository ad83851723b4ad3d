"""GraphiQL and a frontend app in a real headless Chromium (Debian's /usr/bin/chromium, driven
by Playwright), against a real `contactql serve`, with no way out of 127.0.0.1.

Requests to any other host go to a proxy that does not exist (Chromium never proxies loopback),
and every URL the page asks for is recorded: the page must work with nothing but ContactQL.
The test fails, never skips, when Chromium is missing: `.ci/run` installs it.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.helpers import free_port, held_batch, repo_root, serve

pytestmark = pytest.mark.system  # real servers, browsers, npm clients or processes: left out of the fast loop

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Anything not on loopback goes to a closed port: the page cannot reach the internet.
    "--proxy-server=http://127.0.0.1:9",
]  # fmt: skip
ARTEFACTS = repo_root() / "artifacts"

UPSERT = """mutation {
  upsertContact(input: {contact: {email: "ada@example.com", firstName: "Ada"}}) {
    outcome
    contact { id email firstName }
    userErrors { field code message }
  }
}"""
CONTACTS = "{ contacts(first: 10) { totalCount edges { node { email firstName } } } }"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Chromium is needed: apt-get install chromium (.ci/run does)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        launched.close()


@contextlib.contextmanager
def opened(browser: Browser, url: str) -> Iterator[tuple[Page, list[str], list[str]]]:
    """A page at `url`; yields it with the URLs it requested and its console errors."""
    context = browser.new_context()
    page = context.new_page()
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("websocket", lambda socket: requested.append(socket.url))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(url)
        yield page, requested, errors
    finally:
        context.close()


def set_editor(page: Page, selector: str, text: str) -> None:
    page.eval_on_selector(selector, "(element, text) => element.CodeMirror.setValue(text)", text)


def result_pane(page: Page) -> str:
    return str(page.eval_on_selector(".result-window .CodeMirror", "element => element.CodeMirror.getValue()"))


def paste_key(page: Page, key: str) -> None:
    """As a user does: the Headers tab, the key after "Bearer "; GraphiQL then loads the schema."""
    page.get_by_role("button", name="Headers").click()
    headers = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
    assert json.loads(page.eval_on_selector(headers, "e => e.CodeMirror.getValue()")) == {"Authorization": "Bearer "}
    with page.expect_response(lambda r: r.url.endswith("/graphql") and r.status == 200 and b"__schema" in r.body()):
        set_editor(page, headers, json.dumps({"Authorization": f"Bearer {key}"}))


def run(page: Page, document: str, expect: str) -> dict[str, Any]:
    set_editor(page, ".graphiql-query-editor .CodeMirror", document)
    # Anonymous operations only: GraphiQL re-reads the operation names from the editor after a
    # debounce, and while it still sees the example's two, the run button is a menu.
    page.wait_for_function("() => !document.querySelector('.graphiql-execute-button').hasAttribute('aria-haspopup')")
    page.click(".graphiql-execute-button")
    page.wait_for_function("text => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue().includes(text)", arg=expect)
    return dict(json.loads(result_pane(page)))


def only_from(base: str, requested: list[str]) -> None:
    origin = urllib.parse.urlsplit(base).netloc
    strangers = [url for url in requested if urllib.parse.urlsplit(url).netloc != origin and not url.startswith("data:")]
    assert strangers == [], "the page must load everything from ContactQL itself"


def test_graphiql_offline_runs_an_upsert_and_a_query_through_the_ui(browser: Browser, database_url: str) -> None:
    with serve(database_url) as (base, key, _), opened(browser, f"{base}/graphql") as (page, requested, errors):
        assert key is not None
        page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=30_000)
        paste_key(page, key)

        created = run(page, UPSERT, '"outcome"')
        assert created["data"]["upsertContact"]["outcome"] == "CREATED"
        assert created["data"]["upsertContact"]["contact"]["email"] == "ada@example.com"
        assert created["data"]["upsertContact"]["userErrors"] == []

        listed = run(page, CONTACTS, '"totalCount"')
        assert listed["data"]["contacts"] == {"totalCount": 1, "edges": [{"node": {"email": "ada@example.com", "firstName": "Ada"}}]}
        page.get_by_role("button", name="Show Documentation Explorer").click()
        page.get_by_text("Contact", exact=True).first.wait_for()  # the schema, loaded with the key

        ARTEFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTEFACTS / "graphiql.png")
        only_from(base, requested)
        # The schema request before the key was pasted is the only error the page may log.
        assert [e for e in errors if "401" not in e] == []


def test_graphiql_follows_a_batch_over_graphql_transport_ws(browser: Browser, database_url: str) -> None:
    with held_batch(database_url, 1000) as (base, key, batch_id, release), opened(browser, f"{base}/graphql") as (page, requested, errors):
        frames: list[tuple[str, dict[str, Any]]] = []
        page.on("websocket", lambda socket: (
            socket.on("framesent", lambda payload: frames.append(("sent", json.loads(payload)))),
            socket.on("framereceived", lambda payload: frames.append(("received", json.loads(payload)))),
        ))  # fmt: skip
        page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=30_000)
        paste_key(page, key)

        document = f'subscription {{ batchProgress(id: "{batch_id}") {{ status processed total }} }}'
        held = run(page, document, '"PROCESSING"')  # subscribed, the batch leased by a paused worker
        assert held["data"]["batchProgress"]["processed"] == 0
        release()
        page.wait_for_function("() => document.querySelector('.result-window .CodeMirror').CodeMirror.getValue().includes('COMPLETED')", timeout=60_000)
        final = json.loads(result_pane(page))
        assert final["data"]["batchProgress"] == {"status": "COMPLETED", "processed": 1000, "total": 1000}

        init = next(payload for way, payload in frames if way == "sent" and payload["type"] == "connection_init")
        assert init["payload"]["Authorization"] == f"Bearer {key}"
        pushed = [payload["payload"]["data"]["batchProgress"]["processed"] for way, payload in frames if payload["type"] == "next"]
        assert len(pushed) >= 3 and pushed == sorted(pushed) and pushed[-1] == 1000, pushed
        only_from(base, requested)
        assert [e for e in errors if "401" not in e] == []


class _Page(http.server.BaseHTTPRequestHandler):
    """A frontend app's page, on an origin of its own: `/` a bare page, or the app's files."""

    def do_GET(self) -> None:
        files: dict[str, tuple[str, bytes]] = getattr(self.server, "files", {})
        media, body = files.get(self.path.split("?")[0], ("text/html", b"<!doctype html><title>frontend</title><p>app"))
        self.send_response(200)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@contextlib.contextmanager
def frontend(files: dict[str, tuple[str, bytes]] | None = None) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Page)
    server.files = files or {}  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


FETCH = """async ([url, key]) => {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: {"Authorization": "Bearer " + key, "Content-Type": "application/json"},
      body: JSON.stringify({query: "{ workspace { name } }"}),
    });
    return {status: response.status, body: await response.json()};
  } catch (error) {
    return {error: String(error)};
  }
}"""


def test_a_frontend_on_an_allowed_origin_can_call_the_api_and_others_cannot(browser: Browser, database_url: str) -> None:
    with frontend() as allowed, frontend() as other:
        with serve(database_url, env={"CONTACTQL_CORS_ORIGINS": allowed}) as (base, key, _):
            with opened(browser, f"{allowed}/") as (page, _, _):
                answer = page.evaluate(FETCH, [f"{base}/graphql", key])
            assert (answer["status"], answer["body"]["data"]) == (200, {"workspace": {"name": "default"}})

            with opened(browser, f"{other}/") as (page, _, errors):
                refused = page.evaluate(FETCH, [f"{base}/graphql", key])
            assert refused == {"error": "TypeError: Failed to fetch"}
            assert any("CORS policy" in e for e in errors)


READS = """async ([url, key, expensive]) => {
  // What a frontend reads cross-origin: the request id to quote to support, the rate limit
  // left, and after a 429 how long to wait. It sends W3C trace context as an instrumented app does.
  const headers = {
    "Authorization": "Bearer " + key, "Content-Type": "application/json",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "X-Request-Id": "browser-1",
  };
  const first = await fetch(url, {method: "POST", headers, body: JSON.stringify({query: "{ workspace { name } }"})});
  const read = {status: first.status, requestId: first.headers.get("x-request-id"),
                rateLimit: first.headers.get("ratelimit"), policy: first.headers.get("ratelimit-policy")};
  for (let i = 0; i < 14; i++) {  // bounded: the default bucket holds twelve of these
    const answer = await fetch(url, {method: "POST", headers, body: JSON.stringify({query: expensive})});
    if (answer.status === 429) {
      read.refused = {retryAfter: answer.headers.get("retry-after"), code: (await answer.json()).errors[0].extensions.code,
                      requestId: answer.headers.get("x-request-id")};
      break;
    }
  }
  return read;
}"""


def test_a_frontend_on_another_origin_reads_the_request_id_the_rate_limit_and_retry_after(browser: Browser, database_url: str) -> None:
    expensive = "{ contacts(first: 100) { edges { node { history(first: 47) { edges { node { at } } } } } } }"
    with frontend() as allowed, serve(database_url, env={"CONTACTQL_CORS_ORIGINS": allowed}) as (base, key, _):
        with opened(browser, f"{allowed}/") as (page, _, errors):
            read = page.evaluate(READS, [f"{base}/graphql", key, expensive])
    assert not [e for e in errors if "CORS" in e]  # the 429 itself is on the console, as Chromium logs it
    assert read["status"] == 200 and read["requestId"] == "browser-1"
    assert read["policy"] == '"cost";q=120000;w=60' and read["rateLimit"].startswith('"cost";r=')
    assert read["refused"]["code"] == "RATE_LIMITED" and int(read["refused"]["retryAfter"]) >= 1 and read["refused"]["requestId"] == "browser-1"


SOCKET = """async ([url, key]) => new Promise((resolve) => {
  const seen = [];
  const socket = new WebSocket(url, "graphql-transport-ws");
  const done = (outcome) => { try { socket.close(); } catch (_) {} resolve({outcome, seen}); };
  setTimeout(() => done("timeout"), 10000);
  socket.onopen = () => socket.send(JSON.stringify({type: "connection_init", payload: {Authorization: "Bearer " + key}}));
  socket.onerror = () => done("error");
  socket.onclose = (event) => done("closed " + event.code);
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    seen.push(message.type === "next" ? message.payload.data : message.type);
    if (message.type === "connection_ack") {
      socket.send(JSON.stringify({id: "1", type: "subscribe", payload: {query: "{ workspace { name } }"}}));
    }
    if (message.type === "complete") done("complete");
  };
})"""


SUBSCRIBE_FORM = repo_root() / "examples" / "subscribe-form" / "index.html"


def _submit(page: Page, email: str) -> str:
    """Fill the example form as a visitor does, send it, and read what it says."""
    page.fill("#email", email)
    page.check("#consent")
    page.click("button[type=submit]")
    page.wait_for_function("['ok', 'error'].includes(document.getElementById('message').className)")
    return str(page.inner_text("#message"))


def test_the_example_subscribe_form_on_its_site_through_confirm_and_unsubscribe(browser: Browser, database_url: str) -> None:
    """examples/subscribe-form/ as a visitor uses it: the page on its own origin with a
    publishable key, its coded error shown, a subscription with its evidence, then the email's
    links — confirm (to the key's thank-you page; used again, a page saying so) and unsubscribe.
    The same page on another origin cannot subscribe."""
    site_files = {"/thanks": ("text/html", b"<!doctype html><title>Thanks</title><h1>Thanks for confirming</h1>")}
    other_files = {"/": ("text/html", b"")}
    with frontend(site_files) as site, frontend(other_files) as elsewhere, serve(database_url) as (base, admin_key, _):
        made = subprocess.run(
            [sys.executable, "-m", "contactql.cli", "keys", "create", "--scope", "publishable", "--origin", site, "--form", "newsletter",
             "--thank-you", f"{site}/thanks", "--database", database_url], capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        key = made.stdout.strip().splitlines()[-1]
        html = SUBSCRIBE_FORM.read_text().replace('data-endpoint="http://localhost:8000/graphql"', f'data-endpoint="{base}/graphql"').replace("cql_pub_REPLACE_ME", key)
        site_files["/"] = other_files["/"] = ("text/html", html.encode())
        with opened(browser, f"{site}/?ref=ad-campaign#signup") as (page, requested, errors):  # the evidence's page leaves query and fragment out
            assert _submit(page, "not an address") == "That email address does not look right."
            page.fill("#firstName", "Rea")
            said = _submit(page, "Reader@Example.com")
            ARTEFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTEFACTS / "subscribe-form.png"), full_page=True)
            consent_text = page.inner_text("#consent-text").strip()
        assert said == "Thank you! Check your inbox and click the link to confirm your subscription."
        assert errors == [] and {urllib.parse.urlsplit(u).netloc for u in requested} <= {urllib.parse.urlsplit(site).netloc, urllib.parse.urlsplit(base).netloc}

        def admin(query: str) -> dict[str, Any]:
            answer = httpx.post(f"{base}/graphql", json={"query": query}, headers={"Authorization": f"Bearer {admin_key}"}).json()
            assert "errors" not in answer, answer
            return dict(answer["data"])

        contact = '{ contacts(first: 1) { edges { node { email firstName emailStatus consents { action ip userAgent pageUrl form consentText keyName } } } } }'
        [subscribed] = [e["node"] for e in admin(contact)["contacts"]["edges"]]
        assert (subscribed["email"], subscribed["firstName"], subscribed["emailStatus"]) == ("reader@example.com", "Rea", "PENDING_CONFIRMATION")
        [evidence] = subscribed["consents"]
        assert (evidence["action"], evidence["ip"], evidence["pageUrl"], evidence["form"], evidence["consentText"]) == ("SUBSCRIBE", "127.0.0.1", f"{site}/", "newsletter", consent_text)
        assert "HeadlessChrome" in evidence["userAgent"]
        [event] = [e["node"] for e in admin("{ events(first: 10) { edges { node { type params } } } }")["events"]["edges"]]
        assert event["type"] == "subscribeFromApi-newsletter"

        # The email's links, opened in the browser.
        confirm = f"{base}/confirm?token={urllib.parse.quote(event['params']['ConfirmationToken'])}"
        with opened(browser, confirm) as (page, _, _):
            assert page.url == f"{site}/thanks" and page.inner_text("h1") == "Thanks for confirming"
        with opened(browser, confirm) as (page, _, _):
            assert page.inner_text("h1") == "Link used or expired"
        with opened(browser, f"{base}/unsubscribe?token={urllib.parse.quote(event['params']['UnsubscribeToken'])}") as (page, _, errors):
            assert page.inner_text("h1") == "Unsubscribed" and errors == []
        [after] = [e["node"] for e in admin(contact)["contacts"]["edges"]]
        assert after["emailStatus"] == "UNSUBSCRIBED"
        assert [(c["action"], c["keyName"]) for c in after["consents"]] == [("SUBSCRIBE", "publishable-key-2"), ("CONFIRM", "confirmation link"), ("UNSUBSCRIBE", "unsubscribe link")]
        assert all("HeadlessChrome" in c["userAgent"] for c in after["consents"])

        # The same page copied to another site: the key is not for it.
        with opened(browser, f"{elsewhere}/") as (page, _, _):
            assert _submit(page, "copied@example.com") == "We could not reach the newsletter service; please try again later."
        assert len(admin(contact)["contacts"]["edges"]) == 1


def test_a_frontend_on_an_allowed_origin_can_open_a_websocket_and_others_cannot(browser: Browser, database_url: str) -> None:
    """Browsers send no CORS preflight for a WebSocket: the handshake's Origin is checked
    against CONTACTQL_CORS_ORIGINS, the list HTTP's CORS uses."""
    with frontend() as allowed, frontend() as other:
        with serve(database_url, env={"CONTACTQL_CORS_ORIGINS": allowed}) as (base, key, _):
            url = base.replace("http", "ws") + "/graphql"
            with opened(browser, f"{allowed}/") as (page, _, _):
                answer = page.evaluate(SOCKET, [url, key])
            assert answer == {"outcome": "complete", "seen": ["connection_ack", {"workspace": {"name": "default"}}, "complete"]}
            with opened(browser, f"{other}/") as (page, _, _):
                refused = page.evaluate(SOCKET, [url, key])
            assert refused["outcome"] in {"error", "closed 1006"} and refused["seen"] == []


def bundled(entry: str) -> bytes:
    """A client module of tests/clients bundled for the browser as a team ships it (esbuild)."""
    with tempfile.TemporaryDirectory() as out:
        bundle = Path(out) / "app.js"
        built = subprocess.run(["npx", "--no-install", "esbuild", entry, "--bundle", "--format=iife", f"--outfile={bundle}", "--log-level=warning"],
                               cwd=repo_root(), capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert built.returncode == 0, built.stderr
        return bundle.read_bytes()


def test_apollo_client_in_a_page_on_another_origin_queries_uploads_subscribes_and_reads_retry_after(browser: Browser, database_url: str) -> None:
    """The app a frontend team ships: Apollo Client (UploadHttpLink, graphql-ws through the split
    link, InMemoryCache) bundled by esbuild, served from its own origin, ContactQL allowing that
    origin. It writes a contact, uploads a CSV, follows the import to completion, reads the page
    back and, after spending the bucket, the 429's Retry-After; the page is the screenshot."""
    page_html = b'<!doctype html><meta charset="utf-8"><title>Contacts</title><script src="/app.js"></script><p>loading'
    files = {"/": ("text/html", page_html), "/app.js": ("text/javascript", bundled("tests/clients/browser-apollo.mjs"))}
    with frontend(files) as allowed, serve(database_url, env={"CONTACTQL_CORS_ORIGINS": allowed}) as (base, key, _):
        with opened(browser, f"{allowed}/") as (page, requested, errors):
            report = page.evaluate("([url, key]) => window.runContactQL(url, key)", [f"{base}/graphql", key])
            ARTEFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTEFACTS / "apollo-cross-origin.png"), full_page=True)
    assert report["created"] == "CREATED" and report["importErrors"] == []
    progress = report["progress"]
    assert progress[-1]["status"] == "COMPLETED" and progress[-1]["created"] == 2, progress
    assert report["totalCount"] == 3 and sorted(c["email"] for c in report["contacts"]) == ["ada@example.com", "grace@example.com", "linus@example.com"]
    assert report["cachedAda"] == {"__typename": "Contact", "firstName": "Ada"}
    refused = report["refused"]
    assert refused["name"] == "CombinedGraphQLErrors" and refused["code"] == "RATE_LIMITED", refused
    assert refused["status"] == 429 and int(refused["retryAfter"]) >= 1 and refused["requestId"], refused
    # Everything went to the page's own origin or to ContactQL's; the 429 is on the console,
    # as Chromium logs it, and nothing else is.
    api = urllib.parse.urlsplit(base).netloc
    assert {urllib.parse.urlsplit(url).netloc for url in requested} <= {urllib.parse.urlsplit(allowed).netloc, api}
    assert [e for e in errors if "429" not in e] == [], errors
