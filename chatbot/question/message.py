"""What a message asks: the question inside a long message, and the questions of a message that asks two.

Patients often tell their story first ("I was diagnosed in 2019, my numbers went up again after
lenalidomide, and my doctor mentioned something called refractory ... what does that mean?"): the
sentences that ask are the question; the rest is background, searched only in support, the way
an earlier turn of the conversation is. A message may also ask two things at once ("what causes it
and what are the symptoms?"): each part is searched on its own, so that the passages shown answer
both. The rules are general (how English asks: a question mark, an interrogative or a request
opening the sentence), not keyed to any topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chatbot.language import ASKING_OPENERS, QUESTION_JOIN, REQUEST_OPENERS, words

# A message shorter than this is a question as it stands: background needs a story to tell.
LONG_MESSAGE_WORDS = 25
MAX_PARTS = 3  # a message asking more than this is read as its first three questions
_SENTENCE_END = re.compile(r"(?<=[?.!])\s+|\s*\n+\s*|(?<=[?])(?=\w)")


@dataclass(frozen=True)
class Reading:
    """A message as read: what it asks, the story around it, and its separate questions."""

    asked: str  # the sentences that ask, in order (the whole message when none does)
    background: str  # the other sentences, in order ("" for a message that only asks)
    parts: tuple[str, ...]  # the separate questions of `asked` (one for a single question)


def sentences(text: str) -> list[str]:
    """The sentences of a message, by their end marks and line breaks."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def asks(sentence: str, marked: bool = False) -> bool:
    """Whether a sentence asks something: it ends with "?" or opens as a question or request does.
    In a message that marks its questions (`marked`: some sentence ends with "?"), a sentence
    without one asks only by a request ("please explain ...", "I want to know ..."): "When the
    doctor said refractory I heard 'death sentence'." tells, it does not ask."""
    if sentence.rstrip().endswith("?"):
        return True
    opener = ASKING_OPENERS.match(sentence)
    return bool(opener) and (not marked or bool(REQUEST_OPENERS.match(sentence)))


def split_parts(asked: list[str]) -> tuple[str, ...]:
    """The separate questions among the asking sentences: one per sentence, and one sentence's
    questions joined by "and"/";" ("what causes it and what are the symptoms?") apart. A part
    without a word of its own beyond question words is not a question of its own."""
    parts: list[str] = []
    for sentence in asked:
        pieces = [p.strip(" ,;") for p in QUESTION_JOIN.split(sentence)]
        parts.extend(p for p in pieces if p)
    return tuple(parts[:MAX_PARTS]) if len(parts) > 1 else (" ".join(asked),)


def read_message(text: str) -> Reading:
    """The question a message asks, its background, and its parts (see the module's docstring)."""
    found = sentences(text)
    marked = any(s.rstrip().endswith("?") for s in found)
    asking = [s for s in found if asks(s, marked)]
    if not asking:
        return Reading(text, "", (text,))
    parts = split_parts(asking)
    if len(words(text)) < LONG_MESSAGE_WORDS:
        # A short message is read whole ("I'm tired. Is that normal?"), unless it asks two things.
        return Reading(text, "", parts if len(parts) > 1 else (text,))
    background = " ".join(s for s in found if s not in asking)
    return Reading(" ".join(asking), background, parts)
