"""The ASGI layers in front of the site, outermost first.

- security headers on every response: a Content-Security-Policy that lets the page load and talk
  only to this server (no remote script, image, font or connection; `'unsafe-inline'` because
  Gradio's page carries inline scripts and styles), no framing, no referrer;
- names and origins (`HostGuard`): the site answers only to the names it is served under (so a
  page elsewhere cannot reach it through DNS rebinding), a state-changing request from another
  site is refused, and no response grants another site access (no CORS);
- passwords (HTTP Basic): the whole site when `--auth`/`CHATBOT_AUTH` is set, which is required
  for any address but loopback; the staff pages with the staff password when one is set. Without
  a staff password the staff pages exist only on a loopback address. Wrong passwords from one
  client lock it out for a growing time (`Attempts`);
- bodies (`JsonBodyGuard`): every request body is bounded before Gradio reads it, JSON that
  Gradio would answer with a 500 is refused with a 4xx, uploads are refused (nothing here takes
  a file), and a call to a function the app does not have is a 404.

`BoundedStream` and `BoundedRecords` keep whatever a client sent out of the log beyond a short
excerpt: Gradio prints a failed call's traceback, with the whole validation error, to stderr.

Plain ASGI, no Gradio or FastAPI, so each layer can be read and tested on its own.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, TextIO
from urllib.parse import urlsplit

from chatbot.web.settings import STAFF_PATH, WebSettings

# Bytes. A chat of 20 questions, each answer with its passages and sources, sends about 53 KB to
# the queue (measured); ten times that leaves room for long answers and a pasted page, and keeps
# what one anonymous request can make the server parse (and Gradio validate) small.
MAX_BODY = 512_000
MAX_JSON_BODY = MAX_BODY  # the name older callers know
# Items in one list argument of a call (the conversation's messages): a question is answered
# with up to 4 messages (card, answer, sources), so 1,000 is a conversation of 200 questions.
MAX_LIST_ITEMS = 1_000
MAX_LOG_CHARS = 2_000  # of one write to the log: a traceback line, a record, an exception's text
REFUSED_PATHS = ("/gradio_api/upload",)  # no component takes a file: nothing may be stored
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CORS = b"access-control-"  # the prefix of every CORS response header
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
# (path, parsed JSON body) -> why the call names nothing the app has, or None: see `server.py`.
CallCheck = Callable[[str, Any], "str | None"]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value)
    return None


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


def _host_name(netloc: str) -> str:
    """The name in a Host header or an origin's netloc, lower case, without port or brackets."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):  # [::1]:7860
        return netloc[1:].partition("]")[0]
    if netloc.count(":") > 1:  # a bare IPv6 address
        return netloc
    return netloc.partition(":")[0].rstrip(".")


class HostGuard:
    """The Host allow-list, the Origin check and no CORS, before anything else reads a request.

    - A request naming another host is refused (400): a page on evil.example whose name is made
      to resolve to this machine (DNS rebinding) would otherwise read the staff page with the
      visitor's browser. Allowed names come from `WebSettings.host_allowed`.
    - A POST, PUT, PATCH or DELETE (or a websocket) whose `Origin` is another site is refused
      (403): a page elsewhere could otherwise ask questions or cast votes in the visitor's name.
    - Every `Access-Control-*` header is taken off responses: the pages only ever talk to the
      server they came from, so no other origin is ever granted access (Gradio's own CORS layer
      would grant some, with credentials).
    """

    def __init__(self, app: ASGIApp, settings: WebSettings) -> None:
        self.app = app
        self.settings = settings

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        host = (_header(scope, b"host") or b"").decode("latin-1")
        if not host or not self.settings.host_allowed(_host_name(host)):
            return 400, (
                "This server does not answer to that host name. If it is the server's public name, "
                "its operator can allow it with --public-name NAME."
            )
        origin = _header(scope, b"origin")
        if origin is None or (scope["type"] == "http" and scope.get("method") in SAFE_METHODS):
            return None
        netloc = urlsplit(origin.decode("latin-1")).netloc.lower()
        same_site = netloc == host.strip().lower() or _host_name(netloc) in self.settings.public_names
        if not netloc or not same_site:
            return 403, "Requests from another site are refused."
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await _plain(send, *refusal)
            return

        async def send_without_cors(message: AsgiMessage) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                message["headers"] = [(k, v) for k, v in headers if not k.lower().startswith(CORS)]
            await send(message)

        await self.app(scope, receive, send_without_cors if scope["type"] == "http" else send)


def _basic(scope: Scope) -> tuple[str, str] | None:
    value = _header(scope, b"authorization")
    if value is None:
        return None
    kind, _, token = value.decode("latin-1").partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _same(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode(), b.encode())


class Attempts:
    """Wrong passwords per client: after `free` failures a client is locked out for `lock`
    seconds, doubled at each further failure (up to `longest`); a right password clears it.

    Counted per client address: behind a proxy every client shares the proxy's, so guesses
    through the proxy lock everyone out for a while, which is the safe side of the trade.
    """

    def __init__(
        self,
        free: int = 5,
        lock: float = 30.0,
        longest: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.lock, self.longest, self.clock = free, lock, longest, clock
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}  # (realm, client) -> count, until

    def retry_after(self, realm: str, client: str) -> int:
        """Whole seconds this client must wait before trying this password again (0: go ahead)."""
        _, until = self._failures.get((realm, client), (0, 0.0))
        return max(0, math.ceil(until - self.clock()))

    def failed(self, realm: str, client: str) -> None:
        now = self.clock()
        if len(self._failures) > 10_000:  # many addresses: forget those no longer locked
            self._failures = {k: v for k, v in self._failures.items() if v[1] > now or v[0] < self.free}
        count = self._failures.get((realm, client), (0, 0.0))[0] + 1
        until = now + min(self.longest, self.lock * 2 ** (count - self.free)) if count >= self.free else 0.0
        self._failures[(realm, client)] = (count, until)

    def succeeded(self, realm: str, client: str) -> None:
        self._failures.pop((realm, client), None)


class PasswordGate:
    """HTTP Basic passwords: the site's (if set) everywhere, the staff password under /staff.
    A client that keeps getting one wrong is answered 429 with Retry-After (see `Attempts`)."""

    def __init__(self, app: ASGIApp, settings: WebSettings, attempts: Attempts | None = None) -> None:
        self.app = app
        self.settings = settings
        self.attempts = attempts or Attempts()

    def _check(self, realm: str, password_ok: bool | None, client: str) -> tuple[int, str, str | None] | None:
        """None when this password passed; `password_ok` None when none was given."""
        wait = self.attempts.retry_after(realm, client)
        if wait:
            return 429, f"Too many wrong passwords: try again in {wait} seconds.", str(wait)
        if password_ok:
            self.attempts.succeeded(realm, client)
            return None
        if password_ok is False:
            self.attempts.failed(realm, client)
        if realm == "staff":
            return 401, "The staff pages need the staff password.", None
        return 401, "This chat needs a password.", None

    def _refusal(self, scope: Scope) -> tuple[int, str, str | None, str | None] | None:
        """None to let the request through, else (status, body, realm, retry-after)."""
        path = scope.get("path", "")
        given = _basic(scope)
        client = str((scope.get("client") or ("unknown",))[0])
        if path == STAFF_PATH or path.startswith(STAFF_PATH + "/"):
            if not self.settings.staff_enabled:
                return 404, "The staff pages are off: set CHATBOT_STAFF_PASSWORD to use them.", None, None
            if self.settings.staff_password:
                # Any user name; the staff password is what counts.
                ok = None if given is None else _same(given[1], self.settings.staff_password)
                refused = self._check("staff", ok, client)
                return None if refused is None else (refused[0], refused[1], "staff", refused[2])
        auth = self.settings.auth
        if auth is None:
            return None
        ok = None if given is None else bool(_same(given[0], auth.user) & _same(given[1], auth.password))
        refused = self._check("chat", ok, client)
        return None if refused is None else (refused[0], refused[1], "chat", refused[2])

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
        status, body, realm, retry_after = refusal
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]
        if retry_after:
            headers.append((b"retry-after", retry_after.encode()))
        elif realm:
            headers.append((b"www-authenticate", f'Basic realm="{realm}", charset="UTF-8"'.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body.encode()})


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse_json(body: bytes) -> tuple[Any, str | None]:
    """(the value, None), or (None, why it cannot be used)."""
    try:
        return json.loads(body, parse_constant=_not_a_number), None
    except RecursionError:
        return None, "nested too deeply"
    except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
        return None, str(exc).split("(")[0].split(":")[0].strip()


def json_body_problem(body: bytes) -> str | None:
    """Why a JSON request body cannot be used, or None. FastAPI already refuses most bad bodies
    with a 4xx, but answers 500 for NaN and Infinity (its error page cannot encode them)."""
    return _parse_json(body)[1]


def _too_many_items(value: Any) -> str | None:
    """Why a call's arguments hold too many items, or None. A conversation is sent as one list
    of messages (`data` of a Gradio call); Gradio checks every item before the app sees any, so
    170,000 tiny invalid ones in a body under the size cap still cost it about a second, and the
    app reads only the last 20 questions anyway."""
    data = value.get("data") if isinstance(value, dict) else None
    if isinstance(data, list):
        for argument in data:
            if isinstance(argument, list) and len(argument) > MAX_LIST_ITEMS:
                return (
                    f"The conversation is too long ({len(argument)} messages; at most "
                    f"{MAX_LIST_ITEMS}). Clear the conversation and ask again."
                )
    return None


def _declared_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class JsonBodyGuard:
    """Every request body bounded (`limit` bytes, 413 beyond) before Gradio reads it; uploads
    refused (404); JSON bodies that would get a 500 refused with a 400; calls that name a function
    the app lacks answered 404 (`check`, from the server, which knows the Gradio apps).

    A body is held in memory only up to the limit, and a declared Content-Length over it is
    refused before a byte of the body is read.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY, check: CallCheck | None = None) -> None:
        self.app = app
        self.limit = limit
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path.rstrip("/").endswith(REFUSED_PATHS):
            await _json(send, 404, "Uploads are off: nothing on this site takes a file.")
            return
        too_big = f"The request body is over {self.limit // 1000} KB."
        if (_declared_length(scope) or 0) > self.limit:
            await _json(send, 413, too_big)
            return
        if scope.get("method") in SAFE_METHODS:
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
                await _json(send, 413, too_big)
                return
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if b"json" in (_header(scope, b"content-type") or b""):
            value, problem = _parse_json(body)
            if problem is not None:
                await _json(send, 400, f"The request body is not usable JSON ({problem}).")
                return
            unknown = self.check(path, value) if self.check is not None else None
            if unknown is not None:
                await _json(send, 404, unknown)
                return
            crowded = _too_many_items(value)
            if crowded is not None:
                await _json(send, 413, crowded)
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


async def _json(send: Send, status: int, text: str) -> None:
    """A refusal as FastAPI words its own (`{"detail": ...}`), which Gradio's page can show."""
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps({"detail": text}).encode()})


def shorten(text: str, limit: int = MAX_LOG_CHARS) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    end = "\n" if text.endswith("\n") else ""
    return f"{text[:limit]} ... [{len(text) - limit:,} characters left out]{end}"


class BoundedStream:
    """A text stream (the server's stderr) that cuts every write to `limit` characters.

    Gradio prints the traceback of a failed call with `traceback.print_exc()`, not through
    logging; its last line is the whole exception message, which for a bad chat history lists
    every item a client sent (190 MB of log from one 3 MB request was measured). Each line of a
    traceback is one write, so the frames stay readable and only the client's part is cut.
    """

    def __init__(self, stream: TextIO, limit: int = MAX_LOG_CHARS) -> None:
        self._stream = stream
        self._limit = limit

    def write(self, text: str) -> int:
        self._stream.write(shorten(text, self._limit))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, ...
        return getattr(self._stream, name)


class BoundedRecords(logging.Filter):
    """Cuts a log record's message and traceback to `limit` characters each, whatever handler
    writes it (uvicorn's "Exception in ASGI application" carries the exception's text)."""

    def __init__(self, limit: int = MAX_LOG_CHARS) -> None:
        super().__init__()
        self.limit = limit

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > self.limit:
            record.msg, record.args = shorten(message, self.limit), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = "\n".join(shorten(line, self.limit) for line in record.exc_text.split("\n"))
            record.exc_text = shorten(record.exc_text, self.limit * 20)
        return True
