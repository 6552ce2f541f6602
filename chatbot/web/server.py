"""The web server: the patient chat at /, the staff page at /staff, the article at /article.

One FastAPI app holds the two Gradio apps and the article page, behind two small ASGI layers:
- security headers on every response: a Content-Security-Policy that lets the page load and talk
  only to this server (no remote script, image, font or connection; `'unsafe-inline'` because
  Gradio's page carries inline scripts and styles), no framing, no referrer;
- passwords (HTTP Basic): the whole site when `--auth`/`CHATBOT_AUTH` is set, which is required
  for any address but loopback; the staff pages with the staff password when one is set. Without
  a staff password the staff pages exist only on a loopback address.
"""

from __future__ import annotations

import base64
import binascii
import errno
import ipaddress
import json
import logging
import os
import secrets
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatbot.answering.answerer import Answerer
from chatbot.errors import AddressError, ChatbotError, ExposureError

log = logging.getLogger("chatbot.web")

STAFF_PATH = "/staff"
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
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def check_address(host: str, port: int) -> None:
    """Refuse an address that cannot be served on, in one line, before the model loads.

    Otherwise the server loads the model and warms up (seconds), says it is serving, and only
    then fails to bind with a server log line of its own.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            sock.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise AddressError(
                f"port {port} on {host} is already in use (another `chatbot serve`?). Stop the "
                "program using it, or choose another port with --port N."
            ) from None
        raise AddressError(
            f"cannot serve on {host}:{port} ({exc.strerror or exc}). Check --host (an address of this "
            "machine, such as 127.0.0.1) and --port."
        ) from None


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)


def parse_credentials(text: str, where: str) -> Credentials:
    user, sep, password = text.partition(":")
    if not sep or not user.strip() or not password:
        raise ChatbotError(f"{where} must look like USER:PASSWORD, both non-empty.")
    return Credentials(user.strip(), password)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 7860
    auth: Credentials | None = None  # for the whole site
    staff_password: str | None = field(default=None, repr=False)
    data_dir: Path = Path("data")

    @property
    def staff_enabled(self) -> bool:
        """Staff data never reaches a network without its own password."""
        return bool(self.staff_password) or is_loopback(self.host)

    def check(self) -> None:
        if not is_loopback(self.host) and self.auth is None:
            raise ExposureError(
                f"refusing to serve on {self.host} without a password: anyone who can reach it could "
                "read patients' questions. Pass --auth USER:PASSWORD (or set CHATBOT_AUTH), or serve "
                "on 127.0.0.1."
            )


def settings_from(
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: str | None = None,
    staff_password: str | None = None,
    data_dir: Path | None = None,
    environ: Mapping[str, str] = os.environ,
) -> WebSettings:
    """Settings from command-line values, falling back to CHATBOT_AUTH, CHATBOT_STAFF_PASSWORD
    and CHATBOT_DATA_DIR."""
    from chatbot.feedback.store import default_data_dir

    if auth is not None:
        credentials: Credentials | None = parse_credentials(auth, "--auth")
    elif environ.get("CHATBOT_AUTH"):
        credentials = parse_credentials(environ["CHATBOT_AUTH"], "CHATBOT_AUTH")
    else:
        credentials = None
    staff = staff_password or environ.get("CHATBOT_STAFF_PASSWORD") or None
    folder = data_dir or (Path(environ["CHATBOT_DATA_DIR"]) if environ.get("CHATBOT_DATA_DIR") else None)
    return WebSettings(host, port, credentials, staff, folder or default_data_dir())


class SecurityHeaders:
    """Adds the CSP and friends to every HTTP response that does not set its own CSP."""

    def __init__(self, app: ASGIApp, csp: str = CSP) -> None:
        self.app = app
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
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

        async def replay() -> Message:
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


def create_app(engine: Answerer, settings: WebSettings, store: Any = None) -> Any:
    """The FastAPI app: article page, staff app (when enabled), patient chat, security layers."""
    import gradio as gr
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, PlainTextResponse

    from chatbot.feedback.store import DB_FILENAME, FeedbackStore
    from chatbot.web.article import (
        ARTICLE_CSP,
        ArticleNotFoundError,
        parse_mark,
        render_article,
        render_contents,
    )
    from chatbot.web.chat import build_app, mount_options

    store = store or FeedbackStore(settings.data_dir / DB_FILENAME)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    page_headers = {"content-security-policy": ARTICLE_CSP, "cache-control": "no-store"}

    def article(request: Any) -> Any:
        source = request.query_params.get("source")
        index = engine.index
        if not source:
            return HTMLResponse(render_contents(index), headers=page_headers)
        try:
            page = render_article(index, source, parse_mark(request.query_params))
        except ArticleNotFoundError as exc:
            return PlainTextResponse(str(exc), status_code=404)
        return HTMLResponse(page, headers=page_headers)

    # A plain Starlette route: the page reads its own query parameters.
    app.add_route("/article", article, methods=["GET"])

    options = {**mount_options(), "server_name": settings.host, "server_port": settings.port}
    if settings.staff_enabled:
        from chatbot.web.staff_page import build_staff_app

        gr.mount_gradio_app(app, build_staff_app(engine, store), path=STAFF_PATH, **options)
    else:
        log.info("staff pages are off: set CHATBOT_STAFF_PASSWORD to serve them on %s", settings.host)
    gr.mount_gradio_app(app, build_app(engine, store), path="/", **options)
    app.add_middleware(JsonBodyGuard)  # innermost: bodies are read only once the password passed
    app.add_middleware(PasswordGate, settings=settings)
    app.add_middleware(SecurityHeaders)
    return app


SHUTDOWN_SECONDS = 5  # answers in progress get this long to finish when the server is stopped


def serve(engine: Answerer, settings: WebSettings) -> None:
    """Run the site until interrupted (Ctrl+C or SIGTERM), then stop within seconds."""
    import uvicorn

    settings.check()
    app = create_app(engine, settings)
    staff = f", staff pages at {STAFF_PATH}" if settings.staff_enabled else ""
    log.info("serving on http://%s:%d%s (Ctrl+C to stop)", settings.host, settings.port, staff)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
    )
    # uvicorn shuts down gracefully on SIGINT and SIGTERM, then raises the signal again. Python's
    # default for SIGTERM (how a service manager stops a server) ends the process on the spot,
    # skipping the clean-up registered with atexit: it is turned into an ordinary stop instead.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if main_thread else None
    try:
        _stoppable_server(config).run()
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    log.info("stopped")


def _stoppable_server(config: Any) -> Any:
    """uvicorn's server, which also ends the chat pages' open streams when asked to stop.

    Each open chat page holds a Gradio heartbeat stream that never ends by itself: a graceful
    shutdown would wait for every patient to close the tab, then cut the streams with a traceback
    in the log. Gradio ends them when its stop event is set, as its own `launch` does on close.
    """
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            for gradio_app in _gradio_apps(config.app):
                gradio_app.stop_event.set()

    return Server(config)


def _gradio_apps(app: Any) -> list[Any]:
    """The Gradio apps mounted in a FastAPI app."""
    from gradio.routes import App

    return [route.app for route in app.routes if isinstance(getattr(route, "app", None), App)]


class _Stopped(Exception):
    """SIGTERM arrived."""


def _stop(signum: int, frame: Any) -> None:
    raise _Stopped
