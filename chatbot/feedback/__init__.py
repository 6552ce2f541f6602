"""Feedback: patients' votes on answers and the questions the corpus missed, kept durably.

Beside the pipeline: written by the chat, read by the staff page and `chatbot feedback export`.

- `store`: the SQLite store (`FeedbackStore`) and its records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot.lazy import lazy_exports

if TYPE_CHECKING:
    from chatbot.feedback.store import (
        FeedbackRecord,
        FeedbackStore,
        GapCount,
        GapRecord,
        ShownPassage,
        default_data_dir,
    )

_EXPORTS = {
    "FeedbackRecord": ".store",
    "FeedbackStore": ".store",
    "GapCount": ".store",
    "GapRecord": ".store",
    "ShownPassage": ".store",
    "default_data_dir": ".store",
}
__all__ = ["FeedbackRecord", "FeedbackStore", "GapCount", "GapRecord", "ShownPassage", "default_data_dir"]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
