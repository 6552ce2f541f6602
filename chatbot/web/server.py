"""The web server: the patient chat at /, the staff page at /staff, the article at /article, the
REST API at /api.

One FastAPI app holds the two Gradio apps, the article page and the API, behind the layers of
`chatbot.web.security`; `serve` runs it and stops it within seconds, its log bounded whatever
a client sends. Settings live in `chatbot.web.settings`; `private_gradio_cache` gives Gradio a
cache folder of this server's own before Gradio is imported.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chatbot.answering.answerer import Answerer
from chatbot.web.security import (
    BoundedRecords,
    BoundedStream,
    CallCheck,
    HostGuard,
    JsonBodyGuard,
    PasswordGate,
    SecurityHeaders,
)
from chatbot.web.settings import STAFF_PATH, WebSettings

log = logging.getLogger("chatbot.web")


def create_app(engine: Answerer, settings: WebSettings, store: Any = None) -> Any:
    """The FastAPI app: article page, staff app (when enabled), patient chat, security layers."""
    import gradio as gr
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, PlainTextResponse

    from chatbot.feedback.protocol import open_store
    from chatbot.web.api import API_PATH, ApiErrorBodies, build_api
    from chatbot.web.article import (
        ARTICLE_CSP,
        ArticleNotFoundError,
        parse_mark,
        render_article,
        render_contents,
    )
    from chatbot.web.chat import build_app, mount_options

    store = store or open_store(settings)  # SQLite in the data folder, or --feedback-db's PostgreSQL
    if not settings.staff_enabled:  # the staff page checks it otherwise; a damaged file said at start
        store.check()
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.feedback_store = store  # closed by `serve` when it stops
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
    mounts: dict[str, Any] = {}  # path prefix -> Gradio app, the staff's first (the chat's is "")
    if settings.staff_enabled:
        from chatbot.web.staff_exports import add_export_routes
        from chatbot.web.staff_page import build_staff_app, staff_mount_options

        # The staff app lives under /staff/; /staff itself would reach the chat mounted at "/".
        app.add_route(STAFF_PATH, _to_staff_folder, methods=["GET", "HEAD"])
        add_export_routes(app, store)  # /staff/export/*: computed per request, behind the staff gate
        staff_app = build_staff_app(engine, store)
        mounts[STAFF_PATH] = staff_app
        gr.mount_gradio_app(app, staff_app, path=STAFF_PATH, **{**options, **staff_mount_options()})
    else:
        log.info("staff pages are off: set CHATBOT_STAFF_PASSWORD to serve them on %s", settings.host)
    # The REST API before the chat: routes are matched in order, and the chat at "/" takes all.
    app.mount(API_PATH, build_api(engine, store))
    mounts[""] = build_app(engine, store)
    gr.mount_gradio_app(app, mounts[""], path="/", **options)
    # Outermost last: headers on every answer, then names and origins, then passwords; bodies are
    # read only once the password passed.
    app.add_middleware(JsonBodyGuard, check=call_check(mounts))
    app.add_middleware(PasswordGate, settings=settings)
    app.add_middleware(HostGuard, settings=settings)
    app.add_middleware(ApiErrorBodies)  # every refusal of an /api request as {"error": ...}
    app.add_middleware(SecurityHeaders)
    return app


def call_check(mounts: Mapping[str, Any]) -> CallCheck:
    """Why a call to a mounted Gradio app names no function it has (None when it does).

    Gradio answers an unknown `fn_index` on its queue, or an unknown name on `call`, `run` and
    `api`, with a 500 and a traceback; this says 404 first. Only the page's own `fn_index` calls
    and the public API names (the chat's "chat") are functions here.
    """

    def unknown(path: str, body: Any) -> str | None:
        prefix = next((p for p in mounts if path.startswith(f"{p}/gradio_api/")), None)
        if prefix is None:
            return None
        blocks = mounts[prefix]
        route = path[len(f"{prefix}/gradio_api/") :].strip("/").split("/")
        fn_index = body.get("fn_index") if isinstance(body, dict) else None
        if route == ["queue", "join"]:
            if type(fn_index) is not int or fn_index not in blocks.fns:
                return "There is no such function here (fn_index)."
            return None
        if route[0] not in ("call", "run", "api") or len(route) < 2:
            return None
        name = route[2] if route[:2] == ["call", "v2"] and len(route) > 2 else route[1]
        public = {fn.api_name for fn in blocks.fns.values() if fn.api_visibility == "public"}
        if name not in public or (fn_index is not None and fn_index not in blocks.fns):
            return "There is no such API endpoint here."
        return None

    return unknown


def private_gradio_cache(environ: Any = os.environ) -> Path:
    """A cache folder for Gradio of this server's own (0700, removed at exit), set as
    GRADIO_TEMP_DIR: by default Gradio keeps files an hour in /tmp/gradio, shared with every
    Gradio app and readable by other users. Called before Gradio is imported (it reads the
    variable at import); a folder already set by the operator is kept, made private. Named for
    the process like the download folders, so a killed server's is removed by the next start."""
    from chatbot.web.downloads import private_folder

    if environ.get("GRADIO_TEMP_DIR"):
        folder = Path(environ["GRADIO_TEMP_DIR"])
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
        return folder
    folder = private_folder("chatbot-gradio-")
    environ["GRADIO_TEMP_DIR"] = str(folder)
    return folder


def bound_the_log() -> None:
    """Whatever a client sends reaches the log as a short excerpt at most: stderr (where Gradio
    prints tracebacks, and where the log handlers write) cuts long writes, and the handlers
    already set up cut long records (`BoundedStream`, `BoundedRecords`)."""
    if not isinstance(sys.stderr, BoundedStream):
        original = sys.stderr
        sys.stderr = BoundedStream(original)  # type: ignore[assignment]
        for logger in (logging.getLogger(), *logging.Logger.manager.loggerDict.values()):
            for handler in getattr(logger, "handlers", []):
                if isinstance(handler, logging.StreamHandler) and handler.stream is original:
                    handler.setStream(sys.stderr)
    for name in ("", "uvicorn", "uvicorn.error", "gradio", "chatbot"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, BoundedRecords) for f in handler.filters):
                handler.addFilter(BoundedRecords())


def _to_staff_folder(request: Any) -> Any:
    """/staff redirected to /staff/ (its query kept), by a relative address: right behind a proxy
    that serves the site under a prefix too. The password gate has already passed it."""
    from fastapi.responses import RedirectResponse

    target = STAFF_PATH.rsplit("/", 1)[-1] + "/"
    query = request.url.query
    return RedirectResponse(f"{target}?{query}" if query else target, status_code=307)


SHUTDOWN_SECONDS = 5  # answers in progress get this long to finish when the server is stopped


def serve(engine: Answerer, settings: WebSettings) -> None:
    """Run the site until interrupted (Ctrl+C or SIGTERM), then stop within seconds."""
    import uvicorn

    settings.check()
    bound_the_log()
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
    bound_the_log()  # again: uvicorn.Config has just set up its own log handlers
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
        app.state.feedback_store.close()  # what waits in a spool stays there for the next start
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
