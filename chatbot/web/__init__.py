"""The web front end: the patient chat, the staff page and the article, served by one app.

The last stage. In: an `Answerer`. Out: pages. Gradio is imported only by the page modules, and
only when one is used.

- `server`: the app at /, /staff and /article; `security` the headers and passwords in front of
  it; `settings` its address and passwords, checked before the model loads.
- `startup`: an engine ready to serve, warmed up before the first patient.
- `chat`: the patient chat; `conversation` what one session showed; `transcript` its download.
- `staff_page` and `staff`: the staff review page and what it shows.
- `article`: the "Read the article" page; `downloads`: private folders for files offered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot.lazy import lazy_exports

if TYPE_CHECKING:
    from chatbot.web.chat import build_app
    from chatbot.web.server import create_app, serve
    from chatbot.web.settings import WebSettings, check_address, settings_from
    from chatbot.web.staff_page import build_staff_app
    from chatbot.web.startup import serving_engine, warm_up

_EXPORTS = {
    "WebSettings": ".settings",
    "check_address": ".settings",
    "create_app": ".server",
    "serve": ".server",
    "settings_from": ".settings",
    "serving_engine": ".startup",
    "warm_up": ".startup",
    "build_app": ".chat",
    "build_staff_app": ".staff_page",
}
__all__ = [
    "WebSettings",
    "build_app",
    "build_staff_app",
    "check_address",
    "create_app",
    "serve",
    "serving_engine",
    "settings_from",
    "warm_up",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
