"""The JSON protocol of `chatbot ask --json`, both ways: requests read, answers written.

One module for both directions, so that any front end (the command line today, a web endpoint
tomorrow) reads and writes exactly the same lines without importing the CLI. A request is a JSON
object `{"question": str, "history": [str, ...]}` or a plain JSON string; an answer is the object
the README documents. A line that cannot be read gets `{"error": "line N: ..."}` in its place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from chatbot.errors import InputError

if TYPE_CHECKING:
    from chatbot.answering.answer import Answer, Passage
    from chatbot.answering.answerer import Answerer

_UNDECODABLE = re.compile("[\udc80-\udcff]")


def parse_request(line: str) -> tuple[str, list[str]]:
    """One line of the batch protocol: a JSON object with question/history, or a JSON string."""
    return request_from(decode_request(line))


def decode_request(line: str) -> Any:
    """The JSON value of a request line, or an InputError saying why it is not JSON. Apart from
    `request_from` so that the web API can tell a body that is not JSON (400) from a JSON value
    of the wrong shape (422), with the same words as the command line."""
    if _UNDECODABLE.search(line):  # bytes that were not UTF-8, kept by errors="surrogateescape"
        raise InputError("not UTF-8 text; send the line as UTF-8")
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    except (RecursionError, ValueError) as exc:  # nested too deep, an integer too long
        raise InputError(f"not usable JSON ({str(exc).split('(')[0].strip()})") from None


def request_from(data: Any) -> tuple[str, list[str]]:
    """(question, history) from a decoded request: an object with question/history, or a string."""
    if isinstance(data, str):
        return data, []
    if not isinstance(data, dict):
        raise InputError('expected an object {"question": ..., "history": [...]} or a string')
    question = data.get("question")
    if not isinstance(question, str):
        raise InputError('"question" must be a string')
    history = data.get("history", [])
    if history is None:
        history = []
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        raise InputError('"history" must be a list of strings (earlier questions, oldest first)')
    return question, history


def passage_json(passage: Passage) -> dict[str, Any]:
    """A passage as the protocol writes it (the staff-only signals stay out)."""
    return {
        "id": passage.id,
        "text": passage.text,
        "source": passage.source,
        "section": passage.section,
        "score": round(passage.score, 6),
        "start": passage.start,
        "end": passage.end,
        "highlights": [list(h) for h in passage.highlights],
        "ranks": {"dense": passage.dense_rank, "bm25": passage.bm25_rank},
    }


def answer_json(answer: Answer) -> dict[str, Any]:
    """An answer as the protocol writes it: optional keys appear only when they say something."""
    out: dict[str, Any] = {
        "question": answer.question,
        "query": answer.query,
        "outcome": answer.outcome,
        "answered": answer.answered,
        "alert": answer.alert,
        "advice": answer.advice,
        "passages": [passage_json(p) for p in answer.passages],
    }
    if not answer.answered and answer.closest_sections:
        out["closest_sections"] = list(answer.closest_sections)
    if answer.lacking:
        out["asks_for"] = answer.lacking
    if answer.answered and answer.tentative:
        out["tentative"] = True
    return out


def answer_lines(answerer: Answerer, lines: Iterable[str], out: TextIO, top_k: int) -> None:
    """Answer every request line in order, one JSON line each."""
    for n, line in enumerate(lines, start=1):
        reply: dict[str, Any]
        try:
            question, history = parse_request(line)
            reply = answer_json(answerer.ask(question, history, top_k))
        except InputError as exc:
            reply = {"error": f"line {n}: {exc}"}
        out.write(json.dumps(reply, ensure_ascii=False) + "\n")
        out.flush()
