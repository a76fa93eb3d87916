"""The web dashboard on the RPC port: GET and HEAD of `/` and of the files
under `node/dashboard/`, plus `/constants.json` (the treasury's keyless
accounts, which the page cannot derive without a BLAKE2b in JavaScript).

Files are read once into a table keyed by their URL path, so a request can
only ever name a shipped file: `..`, encoded slashes and absolute paths
simply miss the table. The Content-Security-Policy lets the page load
scripts, styles and images from this origin only and talk to this node
(HTTP and its WebSocket), so chain data an attacker wrote can never pull in
or run anything else even if it slipped past the page's textContent rule.
"""

import hashlib
import json
import mimetypes
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from runtime.crypto import to_address
from runtime.pallets import treasury

Send = Callable[[dict[str, Any]], Awaitable[None]]

ROOT = Path(__file__).with_name("dashboard")
TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".json": "application/json", ".svg": "image/svg+xml",
    ".png": "image/png", ".ico": "image/x-icon", ".txt": "text/plain; charset=utf-8",
}  # fmt: skip
# the page is small and changes with the node's version: a minute of caching
# spares reloads without leaving a stale page after an upgrade for long
ASSET_CACHE = b"public, max-age=60"
PAGE_CACHE = b"no-cache"
HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


class Asset:
    def __init__(self, body: bytes, content_type: str, cache: bytes) -> None:
        self.body = body
        self.content_type = content_type.encode()
        self.cache = cache
        self.etag = b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'


def load(root: Path = ROOT) -> dict[str, Asset]:
    """Every shipped file by its URL path; `/` is index.html."""
    table: dict[str, Asset] = {}
    if not root.is_dir():
        return table
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        url = "/" + path.relative_to(root).as_posix()
        kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        table[url] = Asset(path.read_bytes(), kind, PAGE_CACHE if path.suffix == ".html" else ASSET_CACHE)
    if "/index.html" in table:
        table["/"] = table["/index.html"]
    constants = {"treasury": {name: to_address(account) for name, account in treasury.SOURCES.items()}}
    table["/constants.json"] = Asset(json.dumps(constants).encode(), TYPES[".json"], ASSET_CACHE)
    return table


def policy(host: bytes | None) -> bytes:
    # 'self' covers ws: of the same host in current browsers; naming it
    # keeps older ones (CSP level 2) able to open the live socket
    connect = "'self'"
    if host is not None and HOST.match(host.decode("latin-1")):
        connect += f" ws://{host.decode('latin-1')}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ).encode()


class Dashboard:
    def __init__(self, root: Path = ROOT) -> None:
        self.assets = load(root)

    async def __call__(self, scope: dict[str, Any], send: Send) -> None:
        """Answer a GET or HEAD request (the caller routes only those here)."""
        headers = dict(scope.get("headers", []))
        asset = self.assets.get(scope["path"])
        if asset is None:
            await self._send(send, 404, b"not found\n", b"text/plain; charset=utf-8", [], scope)
            return
        extra = [(b"etag", asset.etag), (b"cache-control", asset.cache),
                 (b"content-security-policy", policy(headers.get(b"host")))]  # fmt: skip
        if headers.get(b"if-none-match") == asset.etag:
            await self._send(send, 304, b"", asset.content_type, extra, scope)
            return
        await self._send(send, 200, asset.body, asset.content_type, extra, scope)

    async def _send(
        self, send: Send, status: int, body: bytes, kind: bytes, extra: list[tuple[bytes, bytes]],
        scope: dict[str, Any],
    ) -> None:  # fmt: skip
        headers = [
            (b"content-type", kind), (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"), *extra,
        ]  # fmt: skip
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
