"""The staff review logic: what was searched and why, feedback and gap tables, exports; and a
reason added to a vote after it was stored."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from webserver import fake_engine_for

from chatbot.feedback.records import FeedbackRecord, GapRecord, ShownPassage
from chatbot.feedback.store import DB_FILENAME, FeedbackStore
from chatbot.web.staff import (
    CANDIDATE_COLUMNS,
    CANDIDATES,
    FEEDBACK_COLUMNS,
    GAP_COLUMNS,
    PASSAGE_COLUMNS,
    export_file,
    feedback_rows,
    gap_rows,
    inspect_question,
    inspection_markdown,
    parse_history,
)


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "data" / DB_FILENAME)


def vote(question: str = "What is CAR T?", vote: str = "dislike", **kw: Any) -> FeedbackRecord:
    passages = (ShownPassage("abc", "Title › Treatment › CAR T"),)
    return FeedbackRecord(question, ("What is myeloma?",), question, passages, "build-1", vote, **kw)


def test_inspection_shows_every_signal_of_the_shown_passages(fake_engine: Any) -> None:
    ins = inspect_question(fake_engine, "How is a bone marrow biopsy done?", [])
    shown = fake_engine.ask("How is a bone marrow biopsy done?").passages
    assert len(ins.shown) == len(shown) >= 1
    for row, p in zip(ins.shown, shown, strict=True):
        assert len(row) == len(PASSAGE_COLUMNS)
        assert row[1] == p.section
        assert row[3] == round(p.dense_score, 4) and row[5] == round(p.bm25_score, 4)
        assert row[4] == (p.dense_rank if p.dense_rank is not None else "–")
    assert len(ins.candidates) == CANDIDATES
    assert all(len(r) == len(CANDIDATE_COLUMNS) for r in ins.candidates)
    assert [r[0] for r in ins.candidates] == list(range(1, CANDIDATES + 1))
    assert ins.build_id == fake_engine.build_id


def test_candidates_reuse_the_answers_query_vector(fake_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    texts: list[str] = []
    encode = fake_engine.embedder.encode
    monkeypatch.setattr(fake_engine.embedder, "encode", lambda t: texts.extend(t) or encode(t))
    ins = inspect_question(fake_engine, "How is a bone marrow biopsy done?", [])
    assert texts == [ins.answer.query]  # the search itself, and nothing more
    assert ins.answer.vector is not None
    hits = fake_engine.retriever.find(ins.answer.vector, ins.answer.search, CANDIDATES)
    assert [r[-1] for r in ins.candidates] == [h.chunk.id for h in hits]


def test_summary_says_which_answer_type_was_favoured(fake_engine: Any) -> None:
    assert "**Passages favoured for giving:**" not in inspection_markdown(
        inspect_question(fake_engine, "How is a bone marrow biopsy done?")
    )
    text = inspection_markdown(inspect_question(fake_engine, "What is a bone marrow biopsy?"))
    assert "**Passages favoured for giving:** a definition of “bone marrow biopsy”" in text
    text = inspection_markdown(inspect_question(fake_engine, "Why is a bone marrow biopsy done?"))
    assert "**Passages favoured for giving:** a cause (the question asks why)" in text
    assert "**Asks for:**" not in text
    text = inspection_markdown(inspect_question(fake_engine, "How much does a bone marrow biopsy cost?"))
    assert "**Asks for:** a cost or price (a passage found must give one)" in text


def test_summary_says_what_was_searched_and_why(fake_engine: Any) -> None:
    ins = inspect_question(fake_engine, "Is it risky?", ["What is CAR T-cell therapy?"])
    text = inspection_markdown(ins)
    assert "**Searched for:**" in text and "**Why:** answer" in text
    assert "**Earlier questions:** What is CAR T\\-cell therapy?" in text
    assert fake_engine.build_id in text


def test_summary_says_an_answer_is_tentative(tmp_path: Path, corpus_dir: Path, fake_engine: Any) -> None:
    question = "How is a bone marrow biopsy done?"
    confident = inspection_markdown(inspect_question(fake_engine, question))
    assert re.search(r"\*\*Result:\*\* answer \(the passages answer it\), \d", confident)
    near = fake_engine.ask(question).confidence - 0.05  # clears it by less than the margin
    engine = fake_engine_for(corpus_dir, tmp_path / "near", cover_threshold=near)
    text = inspection_markdown(inspect_question(engine, question))
    assert "**Result:** **closest** (the article may not say exactly" in text and "closest: " in text


def test_summary_of_a_question_that_is_not_covered(tmp_path: Path, corpus_dir: Path) -> None:
    strict = fake_engine_for(corpus_dir, tmp_path / "strict", baseline=0.0, cover_threshold=5.0)
    ins = inspect_question(strict, "banana bread recipe with walnuts")
    text = inspection_markdown(ins)
    assert ins.shown == [] and len(ins.candidates) == CANDIDATES  # the candidates still show
    assert "**not covered**" in text and "below the subject threshold" in text
    assert "**Closest sections:**" in text


def test_an_engine_without_a_retriever_still_shows_the_answer(fake_engine: Any) -> None:
    class Live:  # only the public interface, as a hot-swapping engine offers
        build_id = fake_engine.build_id
        index = fake_engine.index

        def ask(self, question: str, history: Any = ()) -> Any:
            return fake_engine.ask(question, history)

    ins = inspect_question(Live(), "What is refractory myeloma?")
    assert ins.shown and ins.candidates == []


def test_staff_markup_is_escaped(fake_engine: Any) -> None:
    text = inspection_markdown(inspect_question(fake_engine, "<img src=x onerror=alert(1)> myeloma"))
    assert "<img" not in text


def test_history_is_typed_one_question_per_line() -> None:
    assert parse_history("  first?\n\n second? \n") == ["first?", "second?"]
    assert parse_history("") == []


def test_feedback_and_gap_tables(store: FeedbackStore) -> None:
    store.record_feedback(vote(reason="wrong-passage", comment="not this"))
    store.record_feedback(vote("Is it curable?", "like"))
    rows = feedback_rows(store.recent_feedback())
    assert [len(r) for r in rows] == [len(FEEDBACK_COLUMNS)] * 2
    assert rows[0][1:5] == ["like", "", "", "Is it curable?"]  # most recent first
    assert rows[1][1:4] == ["dislike", "wrong-passage", "not this"]
    assert rows[1][5] == "What is myeloma?" and rows[1][6] == "Title › Treatment › CAR T [abc]"
    for q in ("Can I eat grapefruit?", "can i eat GRAPEFRUIT", "Is coffee ok?"):
        store.record_gap(GapRecord(q, (), q, "build-1", ()))
    gaps = gap_rows(store.gap_counts())
    assert [len(r) for r in gaps] == [len(GAP_COLUMNS)] * 2
    assert [g[:2] for g in gaps] == [[2, "can i eat GRAPEFRUIT"], [1, "Is coffee ok?"]]


def test_exports_are_files_in_a_private_folder(store: FeedbackStore, tmp_path: Path) -> None:
    store.record_gap(GapRecord("Can I eat grapefruit?", (), "grapefruit", "build-1", ("A › B",)))
    path = export_file(store, "gaps", "csv", folder=tmp_path)
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert rows[0][:2] == ["time", "question"] and rows[1][1] == "Can I eat grapefruit?"
    assert path.parent.parent == tmp_path and oct(path.parent.stat().st_mode & 0o777) == "0o700"
    path = export_file(store, "feedback", "jsonl", folder=tmp_path)
    assert path.read_text(encoding="utf-8") == ""  # no votes yet


def test_a_reason_is_added_to_the_vote_it_belongs_to(store: FeedbackStore) -> None:
    first, second = vote(), vote("Is it curable?")
    assert store.record_feedback(first) and store.record_feedback(second)
    assert store.add_reason(first, "not-answered", "  It talks about something else  ")
    by_question = {r.question: r for r in store.recent_feedback()}
    assert by_question["What is CAR T?"].reason == "not-answered"
    assert by_question["What is CAR T?"].comment == "  It talks about something else  "
    assert by_question["Is it curable?"].reason is None
    assert store.add_reason(second, None, "   ")  # nothing to add: stays empty
    assert {r.question: r for r in store.recent_feedback()}["Is it curable?"].comment is None
    out = io.StringIO()
    assert store.export("feedback", "jsonl", out) == 2  # still one row per vote
    assert {json.loads(line)["reason"] for line in out.getvalue().splitlines()} == {"not-answered", None}


def test_a_reason_that_cannot_be_saved_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = FeedbackStore(tmp_path / "data" / DB_FILENAME)
    store.record_feedback(vote())
    readonly = FeedbackStore(store.path, read_only=True)
    assert readonly.add_reason(vote(), "other", "x") is False
    assert "Could not save a feedback reason" in caplog.text
