"""CKAN sync under faults (simulated: the real CKAN cannot be made to fail on demand)."""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from testkit.catalog import BASE_URL

from catalog import ckan, vocab
from catalog.ckan import CkanClient, CkanTarget, package_name, sync
from catalog.cli import publish
from catalog.errors import CatalogMappingError, CkanUnavailableError
from catalog.model import describe_all

TOKEN = "secret-token-4f9c2a7e-do-not-print"


class FakeCkan:
    """A tiny CKAN action API: answers per action, optionally a queue of failures first."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.failures: dict[str, list[int]] = {}
        self.rejections: dict[str, str] = {}  # package name -> CKAN field message (409)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                action = self.path.rsplit("/", 1)[-1]
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                fake.calls.append(action)
                status, payload = fake.answer(action, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, action: str, body: dict) -> tuple[int, dict]:
        queue = self.failures.get(action)
        if queue:
            return queue.pop(0), {"success": False, "error": {"message": "Internal Server Error"}}
        if action == "organization_show":
            return 200, {"success": True, "result": {"id": "org-1", "name": body["id"]}}
        if action == "package_search":
            return 200, {"success": True, "result": {"count": 0, "results": []}}
        if action == "package_show":
            return 404, {"success": False, "error": {"__type": "Not Found Error", "message": "x"}}
        if action == "package_create" and body["name"] in self.rejections:
            error = {"__type": "Validation Error", "title": [self.rejections[body["name"]]]}
            return 409, {"success": False, "error": error}
        return 200, {"success": True, "result": {"id": "new", **body}}

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def fake():
    server = FakeCkan()
    yield server
    server.close()


def _target(url: str, **kw) -> CkanTarget:
    return CkanTarget(url=url, token=TOKEN, org="test-org", prefix="t", backoff=0.01, **kw)


def test_5xx_is_retried_with_backoff_then_succeeds(fake):
    fake.failures["organization_show"] = [500, 502]
    sleeps: list[float] = []
    client = CkanClient(_target(fake.url), sleep=sleeps.append)
    assert client.call("organization_show", id="x")["id"] == "org-1"
    assert sleeps == [0.01, 0.02]  # exponential
    assert fake.calls.count("organization_show") == 3


def test_unreachable_ckan_gives_up_after_bounded_retries_without_leaking_the_token(caplog):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps: list[float] = []
    client = CkanClient(_target(f"http://127.0.0.1:{port}", retries=3), sleep=sleeps.append)
    with caplog.at_level(logging.DEBUG), pytest.raises(CkanUnavailableError) as info:
        client.call("organization_show", id="x")
    assert len(sleeps) == 3
    assert "gave up after 4 attempts" in str(info.value)
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(client.target)


def test_409_names_dataset_and_ckan_field_message_and_the_rest_still_syncs(fake, registry):
    fake.rejections[package_name("trees", "t")] = "Title too long for this portal"
    records = describe_all(registry, None, BASE_URL)
    report = sync(records, _target(fake.url))
    assert sorted(report.by_action("create")) == sorted(d.id for d in registry if d.id != "trees")
    assert len(report.errors) == 1
    message = str(report.errors[0])
    assert message.startswith("trees:") and "title: Title too long for this portal" in message
    assert not report.ok


def test_cli_exits_non_zero_and_never_prints_the_token(fake, registry, tmp_path, caplog):
    fake.failures["organization_show"] = [500] * 10
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    env = {"GEOPORTAL_DATA_DIR": str(tmp_path / "var"), "CKAN_API_TOKEN": TOKEN}
    with caplog.at_level(logging.DEBUG):
        result = CliRunner().invoke(
            publish, ["--ckan-url", fake.url, "--token-file", str(token_file), "--org", "o"],
            env=env,
        )
    assert result.exit_code != 0
    assert "CKAN answered 500" in result.output
    assert TOKEN not in result.output and TOKEN not in caplog.text
    assert TOKEN not in repr(result.exception)


def test_dry_run_writes_nothing(fake, registry, tmp_path):
    env = {"GEOPORTAL_DATA_DIR": str(tmp_path / "var"), "CKAN_API_TOKEN": TOKEN}
    result = CliRunner().invoke(publish, ["--dry-run", "--ckan-url", fake.url], env=env)
    assert result.exit_code == 0, result.output
    assert "would create" in result.output
    assert not {"package_create", "package_update", "organization_create"} & set(fake.calls)
    assert not (tmp_path / "var" / "published" / "catalog.ttl").exists()
    assert TOKEN not in result.output


def test_name_over_ckan_limit_is_a_clear_error():
    with pytest.raises(CatalogMappingError, match="at most 100"):
        package_name("x" * 99, "ratingen")


def test_unmapped_licence_is_refused_for_that_dataset_only(fake, registry, monkeypatch):
    trees_licence = registry["trees"].license
    records = describe_all(registry, None, BASE_URL)
    monkeypatch.delitem(vocab.LICENSES, trees_licence)
    report = sync(records, _target(fake.url))
    # the datasets under that licence: the trees and what is made from them (trees_3d)
    licensed = [d.id for d in registry if d.license == trees_licence]
    assert "trees" in licensed and [e.dataset_id for e in report.errors] == licensed
    assert "license" in str(report.errors[0]) and "dl-de/by-2-0" in str(report.errors[0])
    assert sorted(report.by_action("create")) == sorted(d.id for d in registry
                                                        if d.id not in licensed)


def test_keyword_outside_ckan_tag_rules_is_refused():
    with pytest.raises(CatalogMappingError, match="keyword"):
        ckan._tag("trees", "Bäume/Sträucher")
