"""The web server: the patient chat at /, the staff page at /staff, the article at /article.

One FastAPI app holds the two Gradio apps and the article page, behind the layers of
`chatbot.web.security`; `serve` runs it and stops it within seconds. Settings live in
`chatbot.web.settings`.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from chatbot.answering.answerer import Answerer
from chatbot.web.security import JsonBodyGuard, PasswordGate, SecurityHeaders
from chatbot.web.settings import STAFF_PATH, WebSettings

log = logging.getLogger("chatbot.web")


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
        from chatbot.web.staff_page import build_staff_app, staff_mount_options

        # The staff app lives under /staff/; /staff itself would reach the chat mounted at "/".
        app.add_route(STAFF_PATH, _to_staff_folder, methods=["GET", "HEAD"])
        staff_app = build_staff_app(engine, store)
        gr.mount_gradio_app(app, staff_app, path=STAFF_PATH, **{**options, **staff_mount_options()})
    else:
        log.info("staff pages are off: set CHATBOT_STAFF_PASSWORD to serve them on %s", settings.host)
    gr.mount_gradio_app(app, build_app(engine, store), path="/", **options)
    app.add_middleware(JsonBodyGuard)  # innermost: bodies are read only once the password passed
    app.add_middleware(PasswordGate, settings=settings)
    app.add_middleware(SecurityHeaders)
    return app


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
