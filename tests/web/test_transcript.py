"""The conversation download and the per-session record behind it and behind feedback rows."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from webserver import UNSAFE_QUESTION, corpus_with_unsafe_page, fake_engine_for

from chatbot.web.conversation import Turn, feedback_record, find_turn, gap_record, vote_of
from chatbot.web.transcript import escape_text, transcript_markdown


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("transcript")
    return fake_engine_for(corpus_with_unsafe_page(folder), folder / "index")


def turn(engine: Any, question: str, history: tuple[str, ...] = (), first: int = 1) -> Turn:
    answer = engine.ask(question, list(history))
    return Turn(question, history, answer, engine.build_id, first, first + 1, "2024-05-01T10:00:00.000+00:00")


def test_every_passage_is_quoted_with_its_citation(engine: Any) -> None:
    turns = [
        turn(engine, "What is refractory myeloma?"),
        turn(engine, "How is it treated?", ("What is refractory myeloma?",), 4),
    ]
    md = transcript_markdown(turns, "2024-05-01T10:05:00+00:00")
    assert md.startswith("# Questions about refractory myeloma")
    assert "## 1. What is refractory myeloma?" in md and "## 2. How is it treated?" in md
    assert "not medical advice" in md
    for t in turns:
        for p in t.answer.passages:
            assert f"Citation: {escape_text(p.section)}\n" in md + "\n"
            first_sentence = p.text.split(". ")[0]
            assert escape_text(first_sentence) in md
            # nothing internal: no file, offsets or passage id (the staff exports keep them)
            assert p.id not in md and f"{p.start}–{p.end}" not in md
    assert engine.build_id not in md and "characters" not in md and "refractory-myeloma.txt" not in md
    assert "Index build" not in md and "score" not in md and "rank" not in md


def test_corpus_markup_and_questions_are_inert(engine: Any) -> None:
    t = turn(engine, f"{UNSAFE_QUESTION} <img src=x onerror=alert(1)>")
    md = transcript_markdown([t], "now")
    assert "Zebrafish pamphlet" in md
    assert "<img" not in md and "<script" not in md and "![" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md


def test_not_covered_and_alerts_are_written_out(engine: Any) -> None:
    t = turn(engine, "I have a fever during chemo, what is refractory myeloma?")
    empty = replace(t, answer=replace(t.answer, answered=False, passages=(), closest_sections=("A › B",)))
    md = transcript_markdown([empty], "now")
    assert "outside what the article covers" in md and "- A › B" in md
    assert t.answer.alert and t.answer.alert["kind"] == "urgent"
    alerted = transcript_markdown([t], "now")
    assert escape_text(t.answer.alert["message"]) in alerted
    assert "If symptoms get worse" in alerted and "very unwell" not in alerted
    # Only the closest passages, for want of the fact asked for: the reader is told which fact.
    lacking = replace(t, answer=replace(t.answer, answered=True, tentative=True, lacking="a cost or price"))
    assert "The article does not give a cost or price for this" in transcript_markdown([lacking], "now")


def test_an_empty_conversation() -> None:
    assert "No questions yet" in transcript_markdown([], "now")


def test_votes_are_traced_to_the_answer_they_were_given_on(engine: Any) -> None:
    turns = [turn(engine, "What is refractory myeloma?", first=1), turn(engine, "What is CAR T?", first=4)]
    assert find_turn(turns, 1) is turns[0] and find_turn(turns, 2) is turns[0]
    assert find_turn(turns, 4) is turns[1] and find_turn(turns, (5, 0)) is turns[1]
    assert find_turn(turns, 0) is None and find_turn(turns, 9) is None and find_turn(turns, None) is None
    assert [vote_of(v) for v in (True, False, "", "Like", "Dislike", None)] == [
        "like",
        "dislike",
        None,
        "like",
        "dislike",
        None,
    ]
    rec = feedback_record(turns[1], "dislike")
    assert rec.question == "What is CAR T?" and rec.index_build == engine.build_id
    assert [(p.id, p.section) for p in rec.passages] == [(p.id, p.section) for p in turns[1].answer.passages]
    assert rec.query == turns[1].answer.query


def test_only_questions_not_answered_confidently_are_gaps(engine: Any) -> None:
    t = turn(engine, "What is refractory myeloma?")
    assert gap_record(t) is None
    missed = replace(t, answer=replace(t.answer, answered=False, passages=(), closest_sections=("X",)))
    gap = gap_record(missed)
    assert gap is not None and gap.question == t.question and gap.closest_sections == ("X",)
    nothing = replace(missed, answer=replace(missed.answer, query=""))
    assert gap_record(nothing) is None
