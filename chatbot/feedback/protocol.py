"""The store seam: what the chat, the API, the staff page and `chatbot feedback export` use of a
feedback store (`FeedbackStoreLike`), and `open_store`, which picks one from the settings.

Two stores implement it: `FeedbackStore` (one SQLite file in the data folder: one machine, the
default) and `PostgresFeedbackStore` (a PostgreSQL database shared by several replicas, with a local
spool for writes it cannot deliver at once). Writes are best effort and never raise for a database
that cannot be used (False, logged); reads raise `FeedbackStoreError` saying why.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal, Protocol, TextIO, runtime_checkable

from chatbot.feedback.records import AnswerRecord, FeedbackRecord, GapCount, GapRecord

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@runtime_checkable
class FeedbackStoreLike(Protocol):
    """A feedback store, as the app uses one."""

    @property
    def where(self) -> str:
        """Where the store is, for messages (a file, or a database without its password)."""
        ...

    def record_feedback(self, rec: FeedbackRecord) -> bool: ...

    def add_reason(self, rec: FeedbackRecord, reason: str | None, comment: str | None = None) -> bool: ...

    def record_gap(self, rec: GapRecord) -> bool: ...

    def record_answer(self, rec: AnswerRecord) -> bool: ...

    def answer(self, answer_id: str) -> AnswerRecord | None: ...

    def recent_feedback(self, limit: int = 50) -> list[FeedbackRecord]: ...

    def gaps(self, limit: int = 100) -> list[GapRecord]: ...

    def gap_counts(self, limit: int = 100) -> list[GapCount]: ...

    def export(self, kind: Literal["feedback", "gaps"], fmt: Literal["csv", "jsonl"], out: TextIO) -> int: ...

    def problem(self) -> str | None: ...

    def check(self) -> str | None: ...

    def close(self) -> None: ...


class StoreSettings(Protocol):
    """What `open_store` reads of the settings (`WebSettings` has it all)."""

    @property
    def data_dir(self) -> Path: ...

    @property
    def feedback_db(self) -> str | None: ...

    @property
    def replica(self) -> str: ...


def is_postgres(url: str | None) -> bool:
    return bool(url) and str(url).startswith(POSTGRES_SCHEMES)


def default_replica(port: int | None = None) -> str:
    """This server's name in the rows it writes: CHATBOT_REPLICA, else hostname:port."""
    name = os.environ.get("CHATBOT_REPLICA", "").strip()
    if name:
        return name
    host = socket.gethostname()
    return f"{host}:{port}" if port is not None else host


def open_store(settings: StoreSettings, *, spool: bool = True) -> FeedbackStoreLike:
    """The store the settings name: PostgreSQL for a `postgresql://` URL, else the SQLite file in
    the data folder. `spool=False` (a staff tool only reading) keeps no local spool."""
    from chatbot.errors import ChatbotError
    from chatbot.feedback.store import DB_FILENAME, FeedbackStore

    url = settings.feedback_db
    if not url:
        return FeedbackStore(settings.data_dir / DB_FILENAME)
    if not is_postgres(url):
        raise ChatbotError(
            f"--feedback-db {url.split('://', 1)[0]}://... is not a PostgreSQL URL: give "
            "postgresql://USER@HOST/DB (or leave it out to keep votes in SQLite in the data folder)."
        )
    from chatbot.feedback.postgres import SPOOL_FILENAME, PostgresFeedbackStore

    return PostgresFeedbackStore(
        url,
        replica=settings.replica or default_replica(),
        spool=settings.data_dir / SPOOL_FILENAME if spool else None,
    )
