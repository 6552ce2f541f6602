"""Feedback: patients' votes on answers and the questions the corpus missed, kept durably.

Beside the pipeline: written by the chat, read by the staff page and `chatbot feedback export`.

- `records`: what is kept (`FeedbackRecord`, `GapRecord`, `GapCount`), checked when made.
- `store`: the SQLite store (`FeedbackStore`) and where its file lives.
- `limits`: how many votes and gaps one client may store a minute (`ClientLimits`).
- `protocol`: the seam every store implements (`FeedbackStoreLike`) and `open_store(settings)`.
- `postgres`: the store shared by several replicas (`PostgresFeedbackStore`), with its local spool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot.lazy import lazy_exports

if TYPE_CHECKING:
    from chatbot.feedback.limits import ClientLimits
    from chatbot.feedback.postgres import PostgresFeedbackStore
    from chatbot.feedback.protocol import FeedbackStoreLike, open_store
    from chatbot.feedback.records import FeedbackRecord, GapCount, GapRecord, ShownPassage
    from chatbot.feedback.store import FeedbackStore, default_data_dir

_EXPORTS = {
    "ClientLimits": ".limits",
    "FeedbackRecord": ".records",
    "FeedbackStore": ".store",
    "FeedbackStoreLike": ".protocol",
    "PostgresFeedbackStore": ".postgres",
    "open_store": ".protocol",
    "GapCount": ".records",
    "GapRecord": ".records",
    "ShownPassage": ".records",
    "default_data_dir": ".store",
}
__all__ = [
    "ClientLimits",
    "FeedbackRecord",
    "FeedbackStore",
    "FeedbackStoreLike",
    "GapCount",
    "GapRecord",
    "PostgresFeedbackStore",
    "ShownPassage",
    "default_data_dir",
    "open_store",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
