"""What one chat session showed, kept on the server: the source of feedback rows and transcripts.

The chat keeps a list of `Turn`s in the session's server-side state (never in the browser): the
question, the earlier questions, the Answer with its passages, the index build that chose them,
and where the answer sits in the chat's message list, so a vote on a message can be traced back
to exactly what the patient saw. Each turn has a vote id made by the server: however often the
patient votes on that answer, the store keeps one row for it, the latest vote.

What a patient typed reaches a record within the store's bounds (`chatbot.feedback.records`): the
earlier questions the engine reads (the last 20), texts and a comment cut, and the cut said.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chatbot.answering.answer import Answer
from chatbot.feedback.records import (
    MAX_COMMENT_CHARS,
    MAX_HISTORY,
    MAX_LISTED,
    MAX_TEXT_CHARS,
    FeedbackRecord,
    GapRecord,
    ShownPassage,
    bounded,
    new_vote_id,
    utc_now,
)

COMMENT_CUT = f"Your comment was long: its first {MAX_COMMENT_CHARS:,} characters were kept."


@dataclass(frozen=True)
class Turn:
    """One question and the answer shown for it."""

    question: str
    history: tuple[str, ...]  # earlier questions, oldest first
    answer: Answer
    build_id: str
    first_message: int  # index of the answer's first message in the chat history
    last_message: int  # index of its last message (the Sources block when there is one)
    time: str = ""
    vote_id: str = field(default_factory=new_vote_id)  # the one row this answer's votes share

    def __post_init__(self) -> None:
        if not self.time:
            object.__setattr__(self, "time", utc_now())


def find_turn(turns: Sequence[Turn], message_index: object) -> Turn | None:
    """The turn a chat message belongs to (a vote names the message it was given on)."""
    if isinstance(message_index, (list, tuple)):  # a two-dimensional index: (row, column)
        message_index = message_index[0] if message_index else None
    if not isinstance(message_index, int):
        return None
    return next((t for t in turns if t.first_message <= message_index <= t.last_message), None)


def vote_of(liked: object) -> str | None:
    """Gradio's LikeData.liked as a stored vote: True like, False dislike, "" a withdrawn vote."""
    if liked is True or liked == "Like":
        return "like"
    if liked is False or liked == "Dislike":
        return "dislike"
    return None


def _text(value: str) -> str:
    return bounded(value, MAX_TEXT_CHARS)[0]


def _history(turn: Turn) -> tuple[str, ...]:
    """The earlier questions a record keeps: the last ones, as many as the engine reads."""
    return tuple(_text(h) for h in turn.history[-MAX_HISTORY:])


def feedback_record(turn: Turn, vote: str) -> FeedbackRecord:
    """The row stored for a vote: what was asked and exactly which passages were shown."""
    return FeedbackRecord(
        question=_text(turn.question),
        history=_history(turn),
        query=_text(turn.answer.query),
        passages=tuple(ShownPassage(p.id, p.section) for p in turn.answer.passages[:MAX_LISTED]),
        index_build=turn.build_id,
        vote=vote,
        vote_id=turn.vote_id,
    )


def comment_of(typed: object) -> tuple[str, bool]:
    """A comment as typed (anything but text is none), cut to the bound: (the comment, whether it
    was cut). The status line then says so (`COMMENT_CUT`) rather than refusing it."""
    return bounded(typed, MAX_COMMENT_CHARS) if isinstance(typed, str) else ("", False)


def gap_record(turn: Turn) -> GapRecord | None:
    """A content gap when the corpus did not answer the question confidently (outside its subject,
    or only its closest passages: the article may not say exactly), else None."""
    if turn.answer.outcome == "answer" or not turn.answer.query:  # answered, or nothing searched
        return None
    return GapRecord(
        question=_text(turn.question),
        history=_history(turn),
        query=_text(turn.answer.query),
        index_build=turn.build_id,
        closest_sections=tuple(turn.answer.closest_sections[:MAX_LISTED]),
    )
