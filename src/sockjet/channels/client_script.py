"""``ClientScript``: the ASGI app that serves sockjet.js and sockjet.d.ts to browsers.

``app.mount("/_sockjet", ClientScript())`` answers ``GET``/``HEAD`` of ``/_sockjet/sockjet.js``
and ``/_sockjet/sockjet.d.ts`` from memory (read once, from the installed package), each with a
strong ``ETag`` (a hash of its bytes, so it changes exactly when the file does): a request whose
``If-None-Match`` matches is answered ``304 Not Modified`` without a body. ``Cache-Control`` is
``no-cache`` by default — browsers keep the file and revalidate it on each use, so a sockjet
upgrade reaches them at once — or ``public, max-age=N`` with ``max_age=N``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from sockjet import status
from sockjet.requests import route_path
from sockjet.types import Receive, Scope, Send

_FILES = {
    "sockjet.js": "text/javascript; charset=utf-8",
    "sockjet.d.ts": "application/typescript; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    etag: str
    content_type: str


def _load(name: str, content_type: str) -> _Asset:
    body = resources.files("sockjet").joinpath("js", name).read_bytes()
    return _Asset(body, f'"{hashlib.sha256(body).hexdigest()[:32]}"', content_type)


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 13.1.2: ``*`` or any listed tag, compared weakly (``W/"x"`` matches ``"x"``)."""
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in tags)


class ClientScript:
    """Serves ``sockjet.js`` and ``sockjet.d.ts``; anything else under the mount is a 404."""

    def __init__(self, *, max_age: int = 0) -> None:
        if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
            raise ValueError(f"max_age is a number of seconds >= 0, got {max_age!r}.")
        self.cache_control = f"public, max-age={max_age}" if max_age else "no-cache"
        self.assets = {name: _load(name, content_type) for name, content_type in _FILES.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                reason = "sockjet.js is served over HTTP"
                await send({"type": "websocket.close", "code": status.WS_1008_POLICY_VIOLATION, "reason": reason})
            return
        asset = self.assets.get(route_path(scope).lstrip("/"))
        if asset is None:
            await _respond(send, 404, [(b"content-type", b"text/plain; charset=utf-8")], b"Not Found")
            return
        if scope["method"] not in ("GET", "HEAD"):
            headers = [(b"allow", b"GET, HEAD"), (b"content-type", b"text/plain; charset=utf-8")]
            await _respond(send, 405, headers, b"Method Not Allowed")
            return
        headers = [
            (b"etag", asset.etag.encode("ascii")),
            (b"cache-control", self.cache_control.encode("ascii")),
            (b"x-content-type-options", b"nosniff"),
            # A module script from another origin needs CORS; the file is public.
            (b"access-control-allow-origin", b"*"),
        ]
        if_none_match = b", ".join(value for key, value in scope["headers"] if key == b"if-none-match")
        if if_none_match and _matches(if_none_match.decode("latin-1"), asset.etag):
            await _respond(send, 304, headers, b"")
            return
        headers.append((b"content-type", asset.content_type.encode("ascii")))
        headers.append((b"content-length", str(len(asset.body)).encode("ascii")))
        await _respond(send, 200, headers, b"" if scope["method"] == "HEAD" else asset.body)


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
