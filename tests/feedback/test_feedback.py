"""Tests for the feedback store: round trips, concurrency, exports and failures that must
be logged rather than raised (a failed vote must never break the chat)."""

from __future__ import annotations

import csv
import io
import json
import logging
import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from chatbot.errors import FeedbackStoreError, InvalidFeedbackError
from chatbot.feedback.records import (
    CSV_COLUMNS,
    REASONS,
    FeedbackRecord,
    GapRecord,
    ShownPassage,
    normalise_question,
)
from chatbot.feedback.store import (
    DB_FILENAME,
    SCHEMA_VERSION,
    FeedbackStore,
    default_data_dir,
    default_db_path,
)

# Commas, quotes, CR/LF, unicode and an HTML payload: everything a CSV writer can get wrong.
AWKWARD = 'Is "CAR-T", or bispecifics,\r\nbetter?\nÉtape 2 — 日本語 🙂 <img src=x>'


def fb(question: str = "What is daratumumab?", **kw: object) -> FeedbackRecord:
    fields: dict[str, object] = {
        "question": question,
        "history": ("What is myeloma?", "Is it curable?"),
        "query": f"myeloma {question}",
        "passages": (
            ShownPassage("dara#3", "Daratumumab › How it works › Dosing"),
            ShownPassage("car-t#1", "CAR-T › Overview"),
        ),
        "index_build": "2024-05-01T10:00:00+00:00/bge-small",
        "vote": "dislike",
        "reason": "wrong-passage",
        "comment": "Showed the dosing, not what it is.",
    }
    fields.update(kw)
    return FeedbackRecord(**fields)  # type: ignore[arg-type]


def gap(question: str = "Can I eat grapefruit on selinexor?", **kw: object) -> GapRecord:
    fields: dict[str, object] = {
        "question": question,
        "history": (),
        "query": question,
        "index_build": "build-1",
        "closest_sections": ("Selinexor › Side effects", "Diet › Overview"),
    }
    fields.update(kw)
    return GapRecord(**fields)  # type: ignore[arg-type]


def count_rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def failure_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "chatbot.feedback" and r.levelno >= logging.ERROR]


# --- round trips and schema ---------------------------------------------------------


def test_round_trip_most_recent_first(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "data" / DB_FILENAME)  # folder made lazily
    first = fb("first", vote="like", reason=None, comment=None)
    second = fb(AWKWARD)
    assert store.record_feedback(first) and store.record_feedback(second)
    assert store.recent_feedback() == [second, first]
    assert store.recent_feedback(limit=1) == [second]

    g1, g2 = gap("q1"), gap(AWKWARD, history=("earlier?",))
    assert store.record_gap(g1) and store.record_gap(g2)
    assert store.gaps() == [g2, g1]


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    assert FeedbackStore(path).record_feedback(fb())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_reading_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "nowhere" / DB_FILENAME)
    assert store.recent_feedback() == [] and store.gaps() == []
    assert store.gap_counts() == []
    assert not (tmp_path / "nowhere").exists()


def test_lists_become_tuples_and_time_is_utc() -> None:
    rec = fb(history=["a", "b"], passages=[ShownPassage("x", "X")], comment="  ")
    assert rec.history == ("a", "b") and rec.passages == (ShownPassage("x", "X"),)
    assert rec.comment is None  # blank comment is no comment
    assert rec.time.endswith("+00:00")


def test_gap_counts_group_rewordings(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / DB_FILENAME)
    for q in ("What is CAR-T?", "what is car t", "Other thing", "WHAT IS  CAR_T"):
        assert store.record_gap(gap(q))
    counts = store.gap_counts()
    assert [(c.key, c.count, c.question) for c in counts] == [
        ("what is car t", 3, "WHAT IS  CAR_T"),
        ("other thing", 1, "Other thing"),
    ]
    assert normalise_question("Ｃａｒ-T？") == "car t"  # full-width forms fold too


def test_default_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CHATBOT_DATA_DIR", raising=False)
    assert default_data_dir() == Path("data")
    monkeypatch.setenv("CHATBOT_DATA_DIR", str(tmp_path))
    assert default_db_path() == tmp_path / "feedback.sqlite3"


# --- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "named"),
    [
        ({"vote": "meh"}, "'like', 'dislike'"),
        ({"vote": None}, "'like', 'dislike'"),
        ({"reason": "rude"}, "'hard-to-understand'"),
        ({"time": "yesterday"}, "ISO-8601 UTC"),
        ({"time": "2024-05-01T10:00:00+02:00"}, "ISO-8601 UTC"),
        ({"time": "2024-05-01T10:00:00"}, "ISO-8601 UTC"),  # naive: not UTC
    ],
)
def test_invalid_values_rejected(kw: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidFeedbackError, match=named) as err:
        fb("q", **kw)
    assert isinstance(err.value, ValueError)


def test_every_listed_reason_accepted() -> None:
    for reason in (*REASONS, None):
        assert fb(reason=reason).reason == reason


def test_export_rejects_unknown_kind_and_format(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / DB_FILENAME)
    with pytest.raises(InvalidFeedbackError, match="'csv', 'jsonl'"):
        store.export("feedback", "xlsx", io.StringIO())  # type: ignore[arg-type]
    with pytest.raises(InvalidFeedbackError, match="'feedback', 'gaps'"):
        store.export("votes", "csv", io.StringIO())  # type: ignore[arg-type]


# --- many writers -------------------------------------------------------------------


def test_threads_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    store = FeedbackStore(path)  # one store shared by all threads, as in the app
    start = threading.Barrier(8)
    failures: list[str] = []

    def work(t: int) -> None:
        start.wait()
        for i in range(50):
            if not store.record_feedback(fb(f"t{t}-{i}")):
                failures.append(f"t{t}-{i}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert failures == []
    questions = {r.question for r in store.recent_feedback(limit=1000)}
    assert questions == {f"t{t}-{i}" for t in range(8) for i in range(50)}
    assert count_rows(path, "feedback") == 400


def _process_writer(path: str, worker: int, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    store = FeedbackStore(Path(path))  # each process opens its own store
    for i in range(50):
        ok = store.record_feedback(fb(f"p{worker}-{i}"))
        ok = store.record_gap(gap(f"p{worker}-{i}")) and ok
        if not ok:
            raise SystemExit(f"write {i} failed in worker {worker}")


def test_processes_lose_nothing(tmp_path: Path) -> None:
    # A fresh file, so the processes also race to create the schema.
    path = tmp_path / "fresh" / DB_FILENAME
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(4)
    procs = [ctx.Process(target=_process_writer, args=(str(path), w, start)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert count_rows(path, "feedback") == 200 and count_rows(path, "gaps") == 200
    store = FeedbackStore(path)
    expected = {f"p{w}-{i}" for w in range(4) for i in range(50)}
    assert {r.question for r in store.recent_feedback(limit=1000)} == expected
    assert {g.question for g in store.gaps(limit=1000)} == expected


# --- export -------------------------------------------------------------------------


def _filled_store(tmp_path: Path) -> FeedbackStore:
    store = FeedbackStore(tmp_path / DB_FILENAME)
    assert store.record_feedback(fb(AWKWARD, history=(AWKWARD, "plain")))
    assert store.record_feedback(fb("liked", vote="like", reason=None, comment=None))
    assert store.record_feedback(fb("no passages", passages=(), reason="other"))
    assert store.record_gap(gap(AWKWARD, closest_sections=(AWKWARD,)))
    assert store.record_gap(gap("nothing close", closest_sections=()))
    return store


def test_export_feedback_csv_parses_back(tmp_path: Path) -> None:
    store = _filled_store(tmp_path)
    out = io.StringIO(newline="")
    assert store.export("feedback", "csv", out) == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert tuple(rows[0].keys()) == CSV_COLUMNS["feedback"]
    parsed = [
        FeedbackRecord(
            question=r["question"],
            history=tuple(json.loads(r["history"])),
            query=r["query"],
            passages=tuple(
                ShownPassage(i, s)
                for i, s in zip(
                    json.loads(r["passage_ids"]),
                    json.loads(r["passage_sections"]),
                    strict=True,
                )
            ),
            index_build=r["index_build"],
            vote=r["vote"],
            reason=r["reason"] or None,
            comment=r["comment"] or None,
            time=r["time"],
            vote_id=r["vote_id"],
        )
        for r in rows
    ]
    assert parsed == list(reversed(store.recent_feedback()))  # export is oldest first
    assert parsed[0].question == AWKWARD


def test_export_gaps_csv_parses_back(tmp_path: Path) -> None:
    store = _filled_store(tmp_path)
    out = io.StringIO(newline="")
    assert store.export("gaps", "csv", out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    parsed = [
        GapRecord(
            question=r["question"],
            history=tuple(json.loads(r["history"])),
            query=r["query"],
            index_build=r["index_build"],
            closest_sections=tuple(json.loads(r["closest_sections"])),
            time=r["time"],
        )
        for r in rows
    ]
    assert parsed == list(reversed(store.gaps()))


def test_export_jsonl_parses_back(tmp_path: Path) -> None:
    store = _filled_store(tmp_path)
    out = io.StringIO()
    assert store.export("feedback", "jsonl", out) == 3
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # newlines inside questions are escaped, one record a line
    parsed = []
    for line in lines:
        d = json.loads(line)
        d["history"] = tuple(d["history"])
        d["passages"] = tuple(ShownPassage(**p) for p in d["passages"])
        parsed.append(FeedbackRecord(**d))
    assert parsed == list(reversed(store.recent_feedback()))

    out = io.StringIO()
    assert store.export("gaps", "jsonl", out) == 2
    gaps = []
    for line in out.getvalue().splitlines():
        d = json.loads(line)
        d["history"] = tuple(d["history"])
        d["closest_sections"] = tuple(d["closest_sections"])
        gaps.append(GapRecord(**d))
    assert gaps == list(reversed(store.gaps()))


@pytest.mark.parametrize("kind", ["feedback", "gaps"])
def test_empty_store_exports_header_or_nothing(tmp_path: Path, kind: str) -> None:
    # Never written at all, and written only with the other kind (table exists, empty).
    other = FeedbackStore(tmp_path / DB_FILENAME)
    assert other.record_gap(gap()) if kind == "feedback" else other.record_feedback(fb())
    for store in (FeedbackStore(tmp_path / "missing" / DB_FILENAME), other):
        out = io.StringIO(newline="")
        assert store.export(kind, "csv", out) == 0  # type: ignore[arg-type]
        assert list(csv.reader(io.StringIO(out.getvalue()))) == [list(CSV_COLUMNS[kind])]
        out = io.StringIO()
        assert store.export(kind, "jsonl", out) == 0  # type: ignore[arg-type]
        assert out.getvalue() == ""


# --- failures are logged, never raised -----------------------------------------------


def test_locked_database_returns_false_and_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / DB_FILENAME
    store = FeedbackStore(path, busy_timeout=0.1)
    assert store.record_feedback(fb("before"))
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with caplog.at_level(logging.ERROR, logger="chatbot.feedback"):
            assert store.record_feedback(fb("while locked")) is False
            assert store.record_gap(gap("while locked")) is False
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    logs = failure_logs(caplog)
    assert len(logs) == 2 and "locked" in logs[0].getMessage()
    assert "CHATBOT_DATA_DIR" in logs[0].getMessage()  # the message names a fix
    assert store.record_feedback(fb("after"))  # the store recovers once unlocked
    assert [r.question for r in store.recent_feedback()] == ["after", "before"]


def test_read_only_database_returns_false_and_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # SQLite's mode=ro refuses writes even for root, unlike chmod.
    path = tmp_path / DB_FILENAME
    assert FeedbackStore(path).record_feedback(fb("kept"))
    ro = FeedbackStore(path, read_only=True)
    with caplog.at_level(logging.ERROR, logger="chatbot.feedback"):
        assert ro.record_feedback(fb("refused")) is False
        assert ro.record_gap(gap("refused")) is False
    assert len(failure_logs(caplog)) == 2
    assert [r.question for r in ro.recent_feedback()] == ["kept"]  # reads still work


def test_folder_that_cannot_exist_returns_false_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A regular file where the data folder should be: mkdir fails, even for root.
    (tmp_path / "data").write_text("not a folder")
    store = FeedbackStore(tmp_path / "data" / "sub" / DB_FILENAME)
    with caplog.at_level(logging.ERROR, logger="chatbot.feedback"):
        assert store.record_feedback(fb()) is False
        assert store.record_gap(gap()) is False
    logs = failure_logs(caplog)
    assert len(logs) == 2 and str(tmp_path / "data") in logs[0].getMessage()


class _TinyStore(FeedbackStore):
    """Caps the file at its current size, so the next insert hits SQLITE_FULL."""

    def _connect(self, mode: str) -> sqlite3.Connection:
        conn = super()._connect(mode)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {max(pages, 1)}")
        return conn


def test_full_disk_returns_false_and_logs_and_leaves_no_partial_row(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / DB_FILENAME
    assert FeedbackStore(path).record_feedback(fb("kept"))
    with caplog.at_level(logging.ERROR, logger="chatbot.feedback"):
        assert _TinyStore(path).record_feedback(fb(history=("x" * 5_000,) * 10)) is False
    assert "full" in failure_logs(caplog)[0].getMessage()
    assert count_rows(path, "feedback") == 1


def test_newer_schema_is_refused_with_a_fix(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / DB_FILENAME
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with caplog.at_level(logging.ERROR, logger="chatbot.feedback"):
        assert FeedbackStore(path).record_feedback(fb()) is False
    assert "upgrade chatbot" in failure_logs(caplog)[0].getMessage()


def test_unreadable_file_raises_store_error_on_read(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    path.write_text("this is not a database")
    with pytest.raises(FeedbackStoreError, match=r"not a database\); move it aside \(mv "):
        FeedbackStore(path).recent_feedback()
