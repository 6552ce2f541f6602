"""The staff exports, computed for each request at /staff/export/<kind>.<format>, behind the staff
password, and never kept: not on disk, not in a browser's or a proxy's cache.

A file a Gradio handler returns is copied into Gradio's cache, which the patient app's own file
route serves to anyone who knows its path; so the staff page links here instead of offering files.
Being under /staff, these routes sit behind `chatbot.web.security.PasswordGate` like the page.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any, Literal, cast

from chatbot.errors import FeedbackStoreError
from chatbot.feedback.protocol import FeedbackStoreLike
from chatbot.web.settings import STAFF_PATH

EXPORT_PATH = f"{STAFF_PATH}/export"
KINDS = ("feedback", "gaps")
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
# Every name the route answers: feedback.csv, feedback.jsonl, gaps.csv, gaps.jsonl.
NAMES = tuple(f"{kind}.{fmt}" for kind in KINDS for fmt in FORMATS)
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


def export_link(name: str) -> str:
    """The export's address relative to the staff page (/staff/): right behind a proxy's prefix too."""
    return f"{EXPORT_PATH.removeprefix(STAFF_PATH + '/')}/{name}"


def export_text(store: FeedbackStoreLike, name: str) -> str:
    """An export as text, in memory (`name` one of NAMES)."""
    kind, fmt = name.split(".")
    out = io.StringIO(newline="")
    store.export(cast(Literal["feedback", "gaps"], kind), cast(Literal["csv", "jsonl"], fmt), out)
    return out.getvalue()


def export_endpoint(store: FeedbackStoreLike) -> Any:
    """The route's function: a download of the export named in the path, or a 404 naming those
    there are, or a 503 saying why the store cannot be read."""
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response

    # A plain function: Starlette runs it in a worker thread, so SQLite never blocks the event loop.
    def endpoint(request: Request) -> Response:
        name = str(request.path_params.get("name", ""))
        if name not in NAMES:
            known = ", ".join(f"{EXPORT_PATH}/{n}" for n in NAMES)
            return PlainTextResponse(f"No export {name!r}; there are {known}.", 404, headers=NO_STORE)
        try:
            text = export_text(store, name)
        except FeedbackStoreError as exc:
            return PlainTextResponse(str(exc), 503, headers=NO_STORE)
        kind, fmt = name.split(".")
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        disposition = f'attachment; filename="{kind}-{stamp}.{fmt}"'
        headers = {**NO_STORE, "content-disposition": disposition}
        return Response(text, media_type=FORMATS[fmt], headers=headers)

    return endpoint


def add_export_routes(app: Any, store: FeedbackStoreLike) -> None:
    """Serve the exports at EXPORT_PATH/<name> (GET; HEAD too). Added before the staff page's mount,
    which would otherwise take every path under /staff."""
    app.add_route(f"{EXPORT_PATH}/{{name}}", export_endpoint(store), methods=["GET"])
