"""What the feedback store keeps: a patient's vote on an answer, and a question the corpus missed.

Plain frozen data, apart from SQLite: the chat builds these, the store writes and reads them, the
staff page shows them. Each checks its fields when made, so a bad vote, reason or time is refused
where the record is built, before anything is written.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chatbot.errors import InvalidFeedbackError

VOTES = ("like", "dislike")
REASONS = ("wrong-passage", "not-answered", "hard-to-understand", "other")
ALERT_KINDS = ("emergency", "urgent", "crisis")  # the safety cards (`Answer.alert["kind"]`)
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
    ),
    "gaps": ("time", "question", "history", "query", "index_build", "closest_sections", "alert"),
}


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


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


@dataclass(frozen=True)
class GapCount:
    """Gaps grouped by normalised question, for the content-gap report."""

    key: str
    question: str  # the most recent wording
    count: int
    last_time: str
    alert: str | None = None  # the safety card stored with the most recent wording, if any
