"""`chatbot eval`'s scoring, on canned answers: hits by rank, off-topic declines, tentative counts."""

from __future__ import annotations

from typing import Any

from chatbot.answering.answer import Answer, Passage
from chatbot.evaluation.eval_sets import EvalCase, evaluate, format_report

ANSWER_TEXT = "Refractory myeloma is a type of multiple myeloma that resists treatment."


def passage(text: str) -> Passage:
    return Passage("id", text, "a.txt", "A › B", 0.9, 0, len(text))


class Canned:
    """Answers each question with what the test set for it."""

    def __init__(self, answers: dict[str, Answer]) -> None:
        self.answers = answers

    def ask(self, question: str, history: Any = (), top_k: int = 3) -> Answer:
        return self.answers[question]


def test_hits_declines_and_tentative_answers_are_counted() -> None:
    other, right = passage("Something else entirely."), passage(f"Intro. {ANSWER_TEXT} More.")
    answers = {
        "first": Answer("first", "first", True, (right, other), confidence=1.5),
        "second": Answer("second", "second", True, (other, right), confidence=0.9, tentative=True),
        "missed": Answer("missed", "missed", True, (other,), confidence=1.2),
        "weather": Answer("weather", "weather", True, (other,), confidence=0.9, tentative=True),
        "recipe": Answer("recipe", "recipe", False, (), confidence=0.3),
    }
    cases = [
        EvalCase(q, q, (), "plain", (ANSWER_TEXT,) if q in ("first", "second", "missed") else ())
        for q in answers
    ]
    report = evaluate(Canned(answers), cases)
    assert (report.overall.hit1, report.overall.hit3) == (1 / 3, 2 / 3)
    assert report.misses == ("missed",)
    assert (report.offtopic_n, report.offtopic_declined, report.answerable_answered) == (2, 0.5, 1.0)
    assert report.tentative == ((1, 3), (1, 1))
    assert report.to_json()["tentative"] == {
        "answerable": {"tentative": 1, "answered": 3},
        "offtopic": {"tentative": 1, "answered": 1},
    }
    assert "answered tentatively: 1 of 3 answerable, 1 of 1 off-topic" in format_report(report)
