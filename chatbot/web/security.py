"""The two ASGI layers in front of the site, and the JSON body guard behind them.

- security headers on every response: a Content-Security-Policy that lets the page load and talk
  only to this server (no remote script, image, font or connection; `'unsafe-inline'` because
  Gradio's page carries inline scripts and styles), no framing, no referrer;
- passwords (HTTP Basic): the whole site when `--auth`/`CHATBOT_AUTH` is set, which is required
  for any address but loopback; the staff pages with the staff password when one is set. Without
  a staff password the staff pages exist only on a loopback address.

Plain ASGI, no Gradio or FastAPI, so each layer can be read and tested on its own.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from chatbot.web.settings import STAFF_PATH, WebSettings

MAX_JSON_BODY = 20_000_000  # bytes; a 100,000-character question with a long chat is well under
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "media-src 'self' data: blob:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-src 'none'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
Scope = MutableMapping[str, Any]
AsgiMessage = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[AsgiMessage]]
Send = Callable[[AsgiMessage], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeaders:
    """Adds the CSP and friends to every HTTP response that does not set its own CSP."""

    def __init__(self, app: ASGIApp, csp: str = CSP) -> None:
        self.app = app
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: AsgiMessage) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", self.csp.encode()))
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in names:
                        headers.append((name.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _basic(scope: Scope) -> tuple[str, str] | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            if kind.lower() != "basic":
                return None
            try:
                user, _, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return user, password
    return None


def _same(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode(), b.encode())


class PasswordGate:
    """HTTP Basic passwords: the site's (if set) everywhere, the staff password under /staff."""

    def __init__(self, app: ASGIApp, settings: WebSettings) -> None:
        self.app = app
        self.settings = settings

    def _refusal(self, scope: Scope) -> tuple[int, str, str | None] | None:
        """None to let the request through, else (status, body, realm)."""
        path = scope.get("path", "")
        given = _basic(scope)
        if path == STAFF_PATH or path.startswith(STAFF_PATH + "/"):
            if not self.settings.staff_enabled:
                return 404, "The staff pages are off: set CHATBOT_STAFF_PASSWORD to use them.", None
            if self.settings.staff_password:
                # Any user name; the staff password is what counts.
                if given is None or not _same(given[1], self.settings.staff_password):
                    return 401, "The staff pages need the staff password.", "staff"
                return None
        auth = self.settings.auth
        if auth is None:
            return None
        if given is None or not (_same(given[0], auth.user) & _same(given[1], auth.password)):
            return 401, "This chat needs a password.", "chat"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        status, body, realm = refusal
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]
        if realm:
            headers.append((b"www-authenticate", f'Basic realm="{realm}", charset="UTF-8"'.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body.encode()})


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def json_body_problem(body: bytes) -> str | None:
    """Why a JSON request body cannot be used, or None. FastAPI already refuses most bad bodies
    with a 4xx, but answers 500 for NaN and Infinity (its error page cannot encode them)."""
    try:
        json.loads(body, parse_constant=_not_a_number)
    except RecursionError:
        return "nested too deeply"
    except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
        return str(exc).split("(")[0].split(":")[0].strip()
    return None


class JsonBodyGuard:
    """Turns away JSON request bodies that are too big or unusable, with a 4xx that says why,
    before they reach Gradio's routes (which would answer some of them with a 500)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_JSON_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", [])) if scope["type"] == "http" else {}
        if scope.get("method") != "POST" or b"json" not in headers.get(b"content-type", b""):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await _plain(send, 413, f"The request body is over {self.limit // 1_000_000} MB.")
                return
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = json_body_problem(body)
        if problem is not None:
            await _plain(send, 400, f"The request body is not usable JSON ({problem}).")
            return
        replayed = False

        async def replay() -> AsgiMessage:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _plain(send: Send, status: int, text: str) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text.encode()})
