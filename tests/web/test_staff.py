"""The staff review logic: what was searched and why, each passage with its marked sentences and
one relevance number, feedback and gap tables (safety cards left out), exports, the gap table's
alert column and its migration; and a reason added to a vote after it was stored."""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from webserver import fake_engine_for

import chatbot.web.chat
from chatbot.errors import InvalidFeedbackError
from chatbot.feedback.limits import Client, ClientLimits
from chatbot.feedback.records import (
    CSV_COLUMNS,
    MAX_COMMENT_CHARS,
    FeedbackRecord,
    GapCount,
    GapRecord,
    ShownPassage,
)
from chatbot.feedback.store import DB_FILENAME, SCHEMA_VERSION, FeedbackStore
from chatbot.web.conversation import COMMENT_CUT
from chatbot.web.staff import (
    CANDIDATE_COLUMNS,
    CANDIDATES,
    FEEDBACK_COLUMNS,
    GAP_COLUMNS,
    HTML_COLUMN,
    PASSAGE_COLUMNS,
    feedback_rows,
    gap_alert,
    gap_report,
    gap_rows,
    inspect_question,
    inspection_markdown,
    marked_text,
    parse_history,
)
from chatbot.web.staff_exports import export_text
from chatbot.web.staff_page import build_staff_app, store_line

BIOPSY_Q = "How is a bone marrow biopsy done?"
URGENT_Q = "I have a fever during chemo, what is refractory myeloma?"  # an urgent card, then passages
CRISIS_Q = "I want to end my life, is myeloma curable?"
MARK = re.compile(r"<mark>(.*?)</mark>", re.S)


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "data" / DB_FILENAME)


def vote(question: str = "What is CAR T?", vote: str = "dislike", **kw: Any) -> FeedbackRecord:
    passages = (ShownPassage("abc", "Title › Treatment › CAR T"),)
    return FeedbackRecord(question, ("What is myeloma?",), question, passages, "build-1", vote, **kw)


def cell_text(cell: str) -> str:
    """What a passage cell reads as, its tags dropped."""
    return html.unescape(re.sub(r"<[^>]+>", "", cell))


def passage_part(cell: str) -> str:
    """The passage text of a cell (after its citation line), tags kept."""
    return cell.split('<div class="staff-text">', 1)[1].removesuffix("</div>")


def flat(text: str) -> str:
    return " ".join(text.split())


def cell_id(cell: str) -> str:
    """The chunk id(s) a passage cell names (in its citation's hover text)."""
    found = re.search(r'title="[^"]*\[([0-9a-f+]+)\]"', cell)
    assert found, cell
    return found.group(1)


def numbers(row: list[Any]) -> list[float]:
    return [v for v in row if isinstance(v, float)]


def test_each_shown_passage_has_its_text_its_marked_sentences_and_one_relevance(fake_engine: Any) -> None:
    ins = inspect_question(fake_engine, BIOPSY_Q, [])
    shown = fake_engine.ask(BIOPSY_Q).passages
    assert len(ins.shown) == len(shown) >= 2
    for n, (row, p) in enumerate(zip(ins.shown, shown, strict=True), start=1):
        assert len(row) == len(PASSAGE_COLUMNS) and row[0] == n
        cell = row[HTML_COLUMN]
        # the whole passage text, and exactly its highlighted sentences marked
        assert flat(html.unescape(re.sub(r"<[^>]+>", "", passage_part(cell)))) == flat(p.text)
        marked = [flat(html.unescape(m)) for m in MARK.findall(cell)]
        assert marked and marked == [flat(p.text[s:e]) for s, e in sorted(p.highlights)]
        # where it is from, without the document title every passage shares
        assert "Bone Marrow Biopsy" in cell_text(cell) if n == 1 else True
        assert f'title="{html.escape(p.section)} [{p.id}]"' in cell
        # one number says how relevant it is: the score the answer carries, nothing else
        assert numbers(row) == [round(p.score, 3)] and 0 < row[2] <= 1
        assert row[3] == f"meaning #{p.dense_rank} · words #{p.bm25_rank}"
        assert row[4] == ("–" if n == 1 else f"{p.overlap:.2f}")
        for other in (round(p.dense_score, 4), round(p.bm25_score, 4), round(p.dense_score, 3)):
            assert str(other) not in " ".join(map(str, row[2:]))
    assert ins.build_id == fake_engine.build_id


def test_each_candidate_has_its_text_marked_and_the_relevance_it_was_shown_with(fake_engine: Any) -> None:
    ins = inspect_question(fake_engine, BIOPSY_Q, [])
    shown = {p.id: (n, p) for n, p in enumerate(ins.answer.passages, start=1)}
    assert len(ins.candidates) == CANDIDATES
    assert [r[0] for r in ins.candidates] == list(range(1, CANDIDATES + 1))
    relevances = []
    for row in ins.candidates:
        assert len(row) == len(CANDIDATE_COLUMNS)
        assert MARK.search(row[HTML_COLUMN])  # every candidate shows its best sentence
        assert len(numbers(row)) == 1 and 0 < row[2] <= 1
        relevances.append(row[2])
        chunk_id = cell_id(row[HTML_COLUMN])
        if chunk_id in shown:  # the same passage reads the same in both tables
            n, p = shown[chunk_id]
            assert row[4] == f"passage {n}" and row[2] == round(p.score, 3)
            assert row[HTML_COLUMN] == ins.shown[n - 1][HTML_COLUMN]
            assert row[3] == ins.shown[n - 1][3]
        else:
            assert row[4] == ""
    assert relevances == sorted(relevances, reverse=True)
    assert sum(bool(r[4]) for r in ins.candidates) == len(shown)


def test_a_shown_passage_keeps_one_number_when_the_answer_fused_several_searches(fake_engine: Any) -> None:
    question = "what is refractory myeloma and how is it treated?"  # two questions, two searches
    ins = inspect_question(fake_engine, question, [])
    scores = {p.id: round(p.score, 3) for p in ins.answer.passages}
    matched = 0
    for row in ins.candidates:
        chunk_id = cell_id(row[HTML_COLUMN])
        if chunk_id in scores:
            matched += 1
            assert row[2] == scores[chunk_id]
    assert matched >= 1


def test_passage_text_is_escaped_and_overlapping_highlights_are_one_mark() -> None:
    text = "Intro <img src=x onerror=alert(1)>.  First  sentence.\nSecond & last."
    start = text.index("First")
    out = marked_text(text, [(start, start + 10), (start + 5, len(text)), (900, 950)])
    assert "<img" not in out and "&lt;img src=x onerror=alert(1)&gt;" in out
    assert out.count("<mark>") == 1 and MARK.findall(out) == ["First sentence. Second &amp; last."]
    assert marked_text("No marks here.", []) == "No marks here."


def test_candidates_reuse_the_answers_query_vector(fake_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    texts: list[str] = []
    encode = fake_engine.embedder.encode
    monkeypatch.setattr(fake_engine.embedder, "encode", lambda t: texts.extend(t) or encode(t))
    ins = inspect_question(fake_engine, "How is a bone marrow biopsy done?", [])
    assert texts == [ins.answer.query]  # the search itself, and nothing more
    assert ins.answer.vector is not None
    hits = fake_engine.retriever.find(ins.answer.vector, ins.answer.search, CANDIDATES)
    assert [cell_id(r[HTML_COLUMN]) for r in ins.candidates] == [h.chunk.id for h in hits]


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
    # the citation without the title every passage shares (the full one is in the export)
    assert rows[1][5] == "What is myeloma?" and rows[1][6] == "Treatment › CAR T"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows[0][0])  # UTC, to the second
    for q in ("Can I eat grapefruit?", "can i eat GRAPEFRUIT", "Is coffee ok?"):
        store.record_gap(GapRecord(q, (), q, "build-1", ()))
    gaps = gap_rows(store.gap_counts())
    assert [len(r) for r in gaps] == [len(GAP_COLUMNS)] * 2
    assert [g[:2] for g in gaps] == [[2, "can i eat GRAPEFRUIT"], [1, "Is coffee ok?"]]


def test_exports_are_text_made_in_memory(store: FeedbackStore, tmp_path: Path) -> None:
    store.record_gap(GapRecord("Can I eat grapefruit?", (), "grapefruit", "build-1", ("A › B",)))
    rows = list(csv.reader(io.StringIO(export_text(store, "gaps.csv"))))
    assert rows[0][:2] == ["time", "question"] and rows[1][1] == "Can I eat grapefruit?"
    assert export_text(store, "feedback.jsonl") == ""  # no votes yet
    assert sorted(p.name for p in store.path.parent.iterdir()) == [DB_FILENAME]  # nothing on disk


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


# Content gaps and safety cards: an urgent or crisis message that the article did not answer is
# no content gap (it was answered with what to do now), so the report leaves it out and says so.


def test_the_gap_report_leaves_out_questions_that_got_a_safety_card(store: FeedbackStore) -> None:
    store.record_gap(GapRecord("Can I eat grapefruit?", (), "grapefruit", "build-1", ()))
    store.record_gap(GapRecord(URGENT_Q, (), "refractory myeloma", "build-1", (), alert="urgent"))
    store.record_gap(GapRecord(URGENT_Q.lower(), (), "refractory myeloma", "build-1", (), alert="urgent"))
    # stored without its card (before schema 2, or by a caller that does not say): the rules tell
    store.record_gap(GapRecord(CRISIS_Q, (), "myeloma curable", "build-1", ()))
    counts = store.gap_counts()
    assert {g.question: g.alert for g in counts} == {
        "Can I eat grapefruit?": None,
        URGENT_Q.lower(): "urgent",
        CRISIS_Q: None,
    }
    report = gap_report(counts)
    assert [r[:2] for r in report.rows] == [[1, "Can I eat grapefruit?"]] == [r[:2] for r in gap_rows(counts)]
    assert dict(report.left_out) == {"urgent": 1, "crisis": 1}
    assert "Left out: 2 question(s) that got a safety card (crisis 1, urgent 1)" in report.note()
    plain = [g for g in counts if g.question == "Can I eat grapefruit?"]
    assert gap_report(plain).note() == "" and not gap_report(plain).left_out  # nothing left out


def test_a_gap_keeps_its_stored_card_over_what_the_rules_say_now() -> None:
    assert gap_alert(GapCount("k", "Can I eat grapefruit?", 1, "t", "crisis")) == "crisis"
    assert gap_alert(GapCount("k", "Can I eat grapefruit?", 1, "t")) is None
    assert gap_alert(GapCount("k", URGENT_Q, 1, "t")) == "urgent"
    assert gap_alert(GapCount("k", CRISIS_Q, 1, "t")) == "crisis"


def test_an_urgent_message_from_the_chat_is_no_content_gap(tmp_path: Path, corpus_dir: Path) -> None:
    # An engine that answers nothing confidently: every searched question is a gap candidate.
    strict = fake_engine_for(corpus_dir, tmp_path / "strict", baseline=0.0, cover_threshold=5.0)
    store = FeedbackStore(tmp_path / "chat" / DB_FILENAME)
    for question in (URGENT_Q, "banana bread recipe with walnuts"):
        chatbot.web.chat.respond(strict, question, [], [], store)
    assert strict.ask(URGENT_Q).alert["kind"] == "urgent"
    assert {g.question for g in store.gaps()} == {URGENT_Q, "banana bread recipe with walnuts"}
    report = gap_report(store.gap_counts())
    assert [r[1] for r in report.rows] == ["banana bread recipe with walnuts"]
    assert dict(report.left_out) == {"urgent": 1}


def test_a_gaps_card_is_stored_read_and_exported(store: FeedbackStore) -> None:
    gap = GapRecord(
        URGENT_Q, ("What is myeloma?",), "refractory myeloma", "build-1", ("A › B",), alert="urgent"
    )
    assert store.record_gap(gap)
    assert store.gaps() == [gap]
    out = io.StringIO(newline="")
    store.export("gaps", "csv", out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS["gaps"] and rows[0]["alert"] == "urgent"
    out = io.StringIO()
    store.export("gaps", "jsonl", out)
    assert json.loads(out.getvalue())["alert"] == "urgent"
    with pytest.raises(InvalidFeedbackError, match="alert"):
        GapRecord("q", (), "q", "b", (), alert="worried")


SCHEMA_1 = (
    """CREATE TABLE feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL,
        question TEXT NOT NULL, history TEXT NOT NULL, query TEXT NOT NULL,
        passages TEXT NOT NULL,
        index_build TEXT NOT NULL, vote TEXT NOT NULL, reason TEXT, comment TEXT)""",
    """CREATE TABLE gaps (
        id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL,
        question TEXT NOT NULL, question_key TEXT NOT NULL,
        history TEXT NOT NULL, query TEXT NOT NULL,
        index_build TEXT NOT NULL, closest_sections TEXT NOT NULL)""",
    "CREATE INDEX gaps_by_key ON gaps (question_key)",
    """INSERT INTO gaps (time, question, question_key, history, query, index_build, closest_sections)
        VALUES ('2026-01-02T03:04:05.000+00:00', 'Is coffee ok?', 'is coffee ok',
                '[]', 'coffee', 'b0', '[]')""",
    """INSERT INTO gaps (time, question, question_key, history, query, index_build, closest_sections)
        VALUES ('2026-01-02T03:04:06.000+00:00', 'I want to end my life, is myeloma curable?',
                'i want to end my life is myeloma curable', '[]', 'myeloma', 'b0', '[]')""",
    "PRAGMA user_version = 1",
)


def test_a_schema_1_database_is_read_as_it_is_and_migrated_on_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    with sqlite3.connect(path) as db:
        for statement in SCHEMA_1:
            db.execute(statement)
    db.close()
    # read, also by a read-only store: nothing changes in the file, no card is known
    for reader in (FeedbackStore(path, read_only=True), FeedbackStore(path)):
        assert [(g.question, g.alert) for g in reader.gaps()] == [
            ("I want to end my life, is myeloma curable?", None),
            ("Is coffee ok?", None),
        ]
        assert [r[1] for r in gap_report(reader.gap_counts()).rows] == ["Is coffee ok?"]  # rules: crisis
        out = io.StringIO(newline="")
        assert reader.export("gaps", "csv", out) == 2
        assert list(csv.DictReader(io.StringIO(out.getvalue())))[0]["alert"] == ""
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()
    # the next write adds the column, keeps the old rows and stores the card
    assert FeedbackStore(path).record_gap(GapRecord(URGENT_Q, (), "q", "b1", (), alert="urgent"))
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        assert "alert" in {row[1] for row in db.execute("PRAGMA table_info(gaps)")}
    db.close()
    gaps = FeedbackStore(path).gaps()
    assert [(g.question, g.alert) for g in gaps][0] == (URGENT_Q, "urgent") and len(gaps) == 3
    assert FeedbackStore(path).record_gap(GapRecord("again", (), "q", "b1", ()))  # migrated once only


# Staff data protected (issue 18): one row per answer however often it is voted on, spam held by
# the per-client limits and said, a long comment cut and said, a broken store said on the page.


def test_an_answer_voted_on_50_times_in_the_chat_leaves_one_row(
    fake_engine: Any, store: FeedbackStore
) -> None:
    _, history, turns = chatbot.web.chat.respond(fake_engine, "What is refractory myeloma?", [], [], store)
    _, _, turns = chatbot.web.chat.respond(fake_engine, "How is it treated?", history, turns, store)
    for n in range(50):
        chatbot.web.chat.record_vote(store, turns, turns[0].first_message, n % 2 == 0)
    chatbot.web.chat.record_vote(store, turns, turns[1].first_message, True)
    votes = store.recent_feedback()
    assert [(v.question, v.vote) for v in votes] == [
        ("How is it treated?", "like"),
        ("What is refractory myeloma?", "dislike"),  # the 50th vote, replacing the 49 before it
    ]
    assert votes[1].vote_id == turns[0].vote_id != turns[1].vote_id


def test_a_burst_of_votes_over_the_limit_is_not_stored_and_is_said(
    fake_engine: Any, store: FeedbackStore
) -> None:
    limits = ClientLimits.default()
    client = Client("session-1", "127.0.0.1")
    turns: list[Any] = []
    history: list[Any] = []
    for n in range(40):  # 40 answers, one vote each: every vote a new row, were it not for the limit
        _, history, turns = chatbot.web.chat.respond(fake_engine, f"What is myeloma {n}?", history, turns)
    said = [
        chatbot.web.chat.record_vote(store, turns, t.first_message, True, client, limits)[2] for t in turns
    ]
    assert said == [chatbot.web.chat.THANKS] * 30 + [chatbot.web.chat.TOO_MANY] * 10
    assert len(store.recent_feedback(1000)) == 30
    assert len({v.vote_id for v in store.recent_feedback(1000)}) == 30
    assert "not saved" in chatbot.web.chat.TOO_MANY


def test_gaps_over_the_limit_are_not_stored_and_logged_once(
    tmp_path: Path, corpus_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    strict = fake_engine_for(corpus_dir, tmp_path / "strict", baseline=0.0, cover_threshold=5.0)
    store = FeedbackStore(tmp_path / "gaps" / DB_FILENAME)
    limits = ClientLimits.default()
    client = Client("s", "203.0.113.7")
    with caplog.at_level(logging.WARNING, logger="chatbot.app"):
        for n in range(70):
            _, history, _ = chatbot.web.chat.respond(
                strict, f"banana bread recipe {n}", [], [], store, client, limits
            )
            assert history[1]["role"] == "assistant"  # answered every time
    assert len(store.gaps(1000)) == 60
    assert [r.getMessage() for r in caplog.records if "over the limit" in r.getMessage()] == [
        "content gaps from 203.0.113.7 over the limit are not stored"
    ]


def test_a_10_mb_comment_is_cut_stored_and_the_cut_said(fake_engine: Any, store: FeedbackStore) -> None:
    _, _, turns = chatbot.web.chat.respond(fake_engine, "What is refractory myeloma?", [], [], store)
    record, ask, _ = chatbot.web.chat.record_vote(store, turns, turns[0].first_message, False)
    assert record is not None and ask
    said = chatbot.web.chat.record_reason(store, record, "made-up-reason", "too long " * 1_200_000)
    assert said == f"{chatbot.web.chat.THANKS} {COMMENT_CUT}"
    (kept,) = store.recent_feedback()
    assert kept.reason == "other" and len(kept.comment or "") <= MAX_COMMENT_CHARS
    # no text at all (a malformed call) is no comment, not an error
    assert chatbot.web.chat.record_reason(store, record, "not-answered", None) == chatbot.web.chat.THANKS
    assert store.recent_feedback()[0].reason == "not-answered"


def test_the_staff_page_says_when_the_store_cannot_be_used(fake_engine: Any, tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    path.write_text("not a database " * 100)
    demo = build_staff_app(fake_engine, FeedbackStore(path))
    refresh = next(fn.fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "on_refresh")
    feedback, gaps, _, line = refresh()
    assert feedback.empty and gaps.empty
    assert line.startswith("**The feedback store cannot be used, so these tables are empty.**")
    assert "move it aside" in line and str(tmp_path) in line.replace("\\", "")
    path.unlink()  # moved aside: the page is plain again
    assert refresh()[3] == "" == store_line(None)
