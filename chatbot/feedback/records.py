"""What the feedback store keeps: a patient's vote on an answer, and a question the corpus missed.

Plain frozen data, apart from SQLite: the chat builds these, the store writes and reads them, the
staff page shows them. Each checks its fields when made, so a bad vote, reason or time, or text
over its bound (a 10 MB comment), is refused where the record is built, before anything is written.
The chat cuts what a patient typed to these bounds first (`bounded`), and says so.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chatbot.errors import InvalidFeedbackError

VOTES = ("like", "dislike")
REASONS = ("wrong-passage", "not-answered", "hard-to-understand", "other")
ALERT_KINDS = ("emergency", "urgent", "crisis")  # the safety cards (`Answer.alert["kind"]`)
# Bounds on stored text, so that an anonymous client cannot fill the disk or stall the staff page.
# A comment is a few sentences; a question is already cut to 1,000 characters when cleaned, and the
# query searched for it (two questions joined, a follow-up with its topic) stays well under 5,000.
MAX_COMMENT_CHARS = 2_000
MAX_TEXT_CHARS = 5_000
MAX_HISTORY = 20  # earlier questions kept with a record: as many as the engine reads
MAX_LISTED = 50  # passages shown, or closest sections: an answer shows a handful
_VOTE_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
CSV_COLUMNS = {
    "feedback": (
        "time",
        "question",
        "history",
        "query",
        "passage_ids",
        "passage_sections",
        "index_build",
        "vote",
        "reason",
        "comment",
        "vote_id",
    ),
    "gaps": ("time", "question", "history", "query", "index_build", "closest_sections", "alert"),
}


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_vote_id() -> str:
    """An id for one vote, made by the app (never by the client): the row a later vote on the same
    answer replaces, and the row its reason is attached to."""
    return uuid.uuid4().hex


CUT_MARK = " […]"  # ends a text that was cut, so that staff reading it know there was more


def bounded(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to at most `limit` characters, `CUT_MARK` included (at a word boundary when one is
    near), and whether it was cut."""
    if len(text) <= limit:
        return text, False
    room = limit - len(CUT_MARK)
    cut = text.rfind(" ", 0, room)
    return text[: cut if cut > room * 3 // 4 else room].rstrip() + CUT_MARK, True


def check_text(name: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise InvalidFeedbackError(
            f"{name} is {len(value):,} characters long, over the {limit:,} kept; cut it first "
            "(`chatbot.feedback.records.bounded`)."
        )


def _check_list(name: str, values: tuple[str, ...], count: int, limit: int) -> None:
    if len(values) > count:
        raise InvalidFeedbackError(
            f"{name} has {len(values):,} items, over the {count} kept; keep the last {count}."
        )
    for value in values:
        check_text(f"an item of {name}", value, limit)


def normalise_question(question: str) -> str:
    """Key grouping trivial rewordings ("What is CAR-T?", "what is car t")."""
    folded = unicodedata.normalize("NFKC", question).casefold()
    return " ".join(re.sub(r"[\W_]+", " ", folded).split())


def check_choice(name: str, value: str | None, valid: tuple[str, ...], optional: bool) -> None:
    if value is None and optional:
        return
    if value not in valid:
        allowed = ", ".join(repr(v) for v in valid) + (" or None" if optional else "")
        raise InvalidFeedbackError(f"{name} is {value!r}; use one of {allowed}.")


def _check_time(value: str) -> None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.utcoffset() != UTC.utcoffset(None):
        raise InvalidFeedbackError(
            f"time is {value!r}; give an ISO-8601 UTC time such as {utc_now()!r}, "
            "or leave it out to use the current time."
        )


def check_vote_id(value: str) -> None:
    if not isinstance(value, str) or not _VOTE_ID.fullmatch(value):
        raise InvalidFeedbackError(
            f"vote_id is {value!r}; give 1 to 64 letters, digits, '-' or '_' (`new_vote_id()` makes one)."
        )


@dataclass(frozen=True)
class ShownPassage:
    id: str
    section: str  # the citation as the user saw it: title, section, subsection


@dataclass(frozen=True)
class FeedbackRecord:
    question: str
    history: tuple[str, ...]  # earlier questions in the conversation, oldest first
    query: str  # what was actually searched (may differ from the question)
    passages: tuple[ShownPassage, ...]
    index_build: str
    vote: str  # "like" | "dislike"
    reason: str | None = None  # one of REASONS
    comment: str | None = None
    time: str = field(default_factory=utc_now)
    # One vote per answer: a later vote with the same id replaces this one in the store.
    vote_id: str = field(default_factory=new_vote_id)

    def __post_init__(self) -> None:
        # Tuples, not lists: a record stays immutable whatever the caller passed.
        object.__setattr__(self, "history", tuple(self.history))
        object.__setattr__(self, "passages", tuple(self.passages))
        # A blank comment is no comment; storing None keeps CSV exports unambiguous.
        if self.comment is not None and not self.comment.strip():
            object.__setattr__(self, "comment", None)
        check_choice("vote", self.vote, VOTES, optional=False)
        check_choice("reason", self.reason, REASONS, optional=True)
        _check_time(self.time)
        check_vote_id(self.vote_id)
        check_text("comment", self.comment, MAX_COMMENT_CHARS)
        _check_shown(self.question, self.query, self.history, self.passages)


def _check_shown(question: str, query: str, history: tuple[str, ...], passages: Sequence[Any]) -> None:
    """What was asked and shown, within the bounds every record keeps."""
    check_text("question", question, MAX_TEXT_CHARS)
    check_text("query", query, MAX_TEXT_CHARS)
    _check_list("history", history, MAX_HISTORY, MAX_TEXT_CHARS)
    if len(passages) > MAX_LISTED:
        raise InvalidFeedbackError(
            f"passages has {len(passages)} items, over the {MAX_LISTED} an answer can show."
        )


@dataclass(frozen=True)
class AnswerRecord:
    """An answer given through the web API, kept under its id: everything a vote on it needs, so
    that the vote may reach any server sharing the store, whichever one answered (no session)."""

    answer_id: str  # made by the app (`new_vote_id`): the vote id of every vote on this answer
    question: str
    history: tuple[str, ...]
    query: str
    passages: tuple[ShownPassage, ...]
    index_build: str
    time: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        object.__setattr__(self, "history", tuple(self.history))
        object.__setattr__(self, "passages", tuple(self.passages))
        check_vote_id(self.answer_id)
        _check_time(self.time)
        _check_shown(self.question, self.query, self.history, self.passages)

    def vote(self, vote: str, reason: str | None = None, comment: str | None = None) -> FeedbackRecord:
        """The feedback row for a vote on this answer: its vote id is the answer id, so a retried
        or changed vote replaces the earlier row instead of adding one."""
        return FeedbackRecord(
            self.question,
            self.history,
            self.query,
            self.passages,
            self.index_build,
            vote,
            reason,
            comment,
            vote_id=self.answer_id,
        )


@dataclass(frozen=True)
class GapRecord:
    """A question answered with "not covered": a candidate for new corpus content."""

    question: str
    history: tuple[str, ...]
    query: str
    index_build: str
    closest_sections: tuple[str, ...]  # citations of the best (too weak) passages
    time: str = field(default_factory=utc_now)
    # The safety card shown with the answer (one of ALERT_KINDS), or None: none, or not known
    # (rows stored before schema 2, or by a caller that does not say).
    alert: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "history", tuple(self.history))
        object.__setattr__(self, "closest_sections", tuple(self.closest_sections))
        _check_time(self.time)
        check_choice("alert", self.alert, ALERT_KINDS, optional=True)
        check_text("question", self.question, MAX_TEXT_CHARS)
        check_text("query", self.query, MAX_TEXT_CHARS)
        _check_list("history", self.history, MAX_HISTORY, MAX_TEXT_CHARS)
        _check_list("closest_sections", self.closest_sections, MAX_LISTED, MAX_TEXT_CHARS)


@dataclass(frozen=True)
class GapCount:
    """Gaps grouped by normalised question, for the content-gap report."""

    key: str
    question: str  # the most recent wording
    count: int
    last_time: str
    alert: str | None = None  # the safety card stored with the most recent wording, if any
