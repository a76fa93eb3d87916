"""The dashboard's files on the RPC port (`node.dashboard_app`, through
`node.http.rpc_app`): content types, no way out of the shipped files, the
Content-Security-Policy, cache validators, HEAD, and JSON-RPC still on POST."""

import json
from pathlib import Path
from typing import Any

import trio

from node.dashboard_app import ROOT, Dashboard, policy
from node.http import rpc_app
from node.rpc import RpcHandler

HANDLER = RpcHandler({"x": lambda params: "pong"})


def request(
    path: str, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None, body: bytes = b""
) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers or [(b"host", b"127.0.0.1:9944")],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    trio.run(rpc_app(HANDLER, 1024), scope, receive, send)
    start, answer = sent
    return start["status"], dict(start["headers"]), answer["body"]


def test_the_page_and_its_assets_come_with_their_content_types() -> None:
    status, headers, body = request("/")
    assert status == 200 and headers[b"content-type"] == b"text/html; charset=utf-8"
    assert body == (ROOT / "index.html").read_bytes()
    assert headers[b"cache-control"] == b"no-cache" and headers[b"x-content-type-options"] == b"nosniff"
    for name, kind in (
        ("app.js", b"text/javascript"),
        ("style.css", b"text/css"),
        ("icon.svg", b"image/svg+xml"),
    ):
        status, headers, body = request(f"/{name}")
        assert status == 200 and headers[b"content-type"].startswith(kind), name
        assert body == (ROOT / name).read_bytes()
        assert headers[b"cache-control"] == b"public, max-age=60"


def test_every_module_the_page_imports_is_shipped() -> None:
    for script in ROOT.glob("*.js"):
        for line in script.read_text().splitlines():
            if line.startswith("import ") and " from " in line:
                target = line.rsplit(" from ", 1)[1].strip(" ;\"'")
                assert (ROOT / target).is_file(), f"{script.name} imports {target}"


def test_no_path_leaves_the_shipped_files() -> None:
    for path in ("/../http.py", "/..%2fhttp.py", "/%2e%2e/http.py", "//etc/passwd", "/dashboard_app.py",
                 "/./index.html", "/index.html/", "/.hidden", "/nope.js"):  # fmt: skip
        status, headers, _ = request(path)
        assert status == 404, path
        assert headers[b"content-type"].startswith(b"text/plain")


def test_the_policy_allows_only_this_origin_and_its_websocket() -> None:
    _, headers, _ = request("/", headers=[(b"host", b"127.0.0.1:9944")])
    csp = headers[b"content-security-policy"].decode()
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "connect-src 'self' ws://127.0.0.1:9944;" in csp
    assert "unsafe" not in csp
    # a Host header that is not a host never reaches the policy
    assert b"evil" not in policy(b"x; script-src evil.example")
    assert b"ws://" not in policy(None)


def test_an_unchanged_file_answers_304_and_head_has_no_body() -> None:
    _, headers, _ = request("/app.js")
    status, _, body = request("/app.js", headers=[(b"if-none-match", headers[b"etag"])])
    assert status == 304 and body == b""
    status, headers, body = request("/app.js", method="HEAD")
    assert (
        status == 200
        and body == b""
        and int(headers[b"content-length"]) == len((ROOT / "app.js").read_bytes())
    )


def test_json_rpc_stays_on_post_and_health_on_get() -> None:
    status, _, body = request("/", method="POST", body=b'{"jsonrpc":"2.0","id":1,"method":"x"}')
    assert status == 200 and json.loads(body)["result"] == "pong"
    assert request("/health")[2] == b'{"ok":true}'
    assert request("/", method="PUT")[0] == 405


def test_the_treasury_accounts_are_served_for_the_page() -> None:
    from runtime.crypto import to_address
    from runtime.pallets import treasury

    status, _, body = request("/constants.json")
    assert status == 200
    assert json.loads(body)["treasury"] == {"ecosystem": to_address(treasury.ECOSYSTEM),
                                            "reserve": to_address(treasury.RESERVE)}  # fmt: skip


def test_a_node_installed_without_the_page_serves_nothing(tmp_path: Path) -> None:
    assert Dashboard(tmp_path / "absent").assets == {}
