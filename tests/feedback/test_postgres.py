"""The feedback store on PostgreSQL (several replicas, one database), against a real server.

A session fixture initdb's a throw-away cluster in a temporary folder and serves it on a Unix
socket there only (no TCP), as an unprivileged user when the tests run as root; it is stopped at
the end. Without PostgreSQL's binaries (or psycopg) the tests skip saying why, and fail under
CI=true. The store's behaviour tests run against both stores (`any_store`); then what only
several replicas meet: a reason on another replica, retries, the database stopped and restarted.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pgcluster import Cluster, running_cluster
from test_feedback import AWKWARD, fb, gap

from chatbot.cli import main
from chatbot.errors import ChatbotError, FeedbackStoreError, InvalidFeedbackError
from chatbot.feedback.protocol import FeedbackStoreLike, open_store
from chatbot.feedback.records import AnswerRecord, FeedbackRecord, ShownPassage, new_vote_id
from chatbot.feedback.store import DB_FILENAME, FeedbackStore
from chatbot.web.settings import WebSettings, settings_from

psycopg = pytest.importorskip("psycopg") if os.environ.get("CI") != "true" else __import__("psycopg")

FORMULAS = ('=HYPERLINK("http://evil.example/","Click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)")


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    yield from running_cluster()


_numbers = itertools.count()


@pytest.fixture
def pg_url(cluster: Cluster) -> str:
    """A fresh, empty database on the cluster for each test."""
    name = f"t{os.getpid()}_{next(_numbers)}"
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return cluster.url(name)


@pytest.fixture
def replicas(pg_url: str, tmp_path: Path) -> Iterator[Callable[[str], Any]]:
    """Makes PostgreSQL stores on the test's database, one per replica name, each with its spool."""
    from chatbot.feedback.postgres import SPOOL_FILENAME, PostgresFeedbackStore

    made: list[PostgresFeedbackStore] = []

    def make(name: str, **kw: Any) -> PostgresFeedbackStore:
        store = PostgresFeedbackStore(pg_url, replica=name, spool=tmp_path / name / SPOOL_FILENAME, **kw)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> FeedbackStoreLike:
    if request.param == "sqlite":
        return FeedbackStore(tmp_path / "data" / DB_FILENAME)
    make = request.getfixturevalue("replicas")
    return make("replica-a")  # type: ignore[no-any-return]


def sql(url: str, query: str, *params: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(query, params))


# --- the store's behaviour, on both stores ------------------------------------------------------


def test_both_stores_implement_the_seam(any_store: FeedbackStoreLike) -> None:
    assert isinstance(any_store, FeedbackStoreLike)
    assert any_store.problem() is None and any_store.check() is None
    assert "password" not in any_store.where


def test_round_trip_most_recent_first(any_store: FeedbackStoreLike) -> None:
    first = fb("first", vote="like", reason=None, comment=None)
    second = fb(AWKWARD)
    assert any_store.record_feedback(first) and any_store.record_feedback(second)
    assert any_store.recent_feedback() == [second, first]
    assert any_store.recent_feedback(limit=1) == [second]
    g1, g2 = gap("q1"), gap(AWKWARD, history=("earlier?",), alert="urgent")
    assert any_store.record_gap(g1) and any_store.record_gap(g2)
    assert any_store.gaps() == [g2, g1]


def test_gap_counts_group_rewordings(any_store: FeedbackStoreLike) -> None:
    for q in ("What is CAR-T?", "what is car t", "Other thing", "WHAT IS  CAR_T"):
        assert any_store.record_gap(gap(q))
    assert [(c.key, c.count, c.question) for c in any_store.gap_counts()] == [
        ("what is car t", 3, "WHAT IS  CAR_T"),
        ("other thing", 1, "Other thing"),
    ]


def test_answers_are_kept_by_id(any_store: FeedbackStoreLike) -> None:
    kept = AnswerRecord(new_vote_id(), "q?", ("earlier",), "query", (ShownPassage("a#1", "A › B"),), "b1")
    assert any_store.record_answer(kept)
    assert any_store.answer(kept.answer_id) == kept
    assert any_store.answer(new_vote_id()) is None


def test_exports_parse_back_oldest_first(any_store: FeedbackStoreLike) -> None:
    assert any_store.record_feedback(fb(AWKWARD, history=(AWKWARD, "plain")))
    assert any_store.record_feedback(fb("liked", vote="like", reason=None, comment=None))
    assert any_store.record_gap(gap(AWKWARD, closest_sections=(AWKWARD,)))
    out = io.StringIO()
    assert any_store.export("feedback", "jsonl", out) == 2
    parsed = []
    for line in out.getvalue().splitlines():
        d = json.loads(line)
        d["history"] = tuple(d["history"])
        d["passages"] = tuple(ShownPassage(**p) for p in d["passages"])
        parsed.append(FeedbackRecord(**d))
    assert parsed == list(reversed(any_store.recent_feedback()))
    out = io.StringIO(newline="")
    assert any_store.export("gaps", "csv", out) == 1
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert row["question"] == AWKWARD
    with pytest.raises(InvalidFeedbackError, match="'csv', 'jsonl'"):
        any_store.export("feedback", "xlsx", io.StringIO())  # type: ignore[arg-type]


def test_csv_export_neutralises_formulas(any_store: FeedbackStoreLike) -> None:
    for text in FORMULAS:
        assert any_store.record_feedback(fb(text, query=text, reason="other", comment=text))
        assert any_store.record_gap(gap(text))
    for kind in ("feedback", "gaps"):
        out = io.StringIO(newline="")
        any_store.export(kind, "csv", out)  # type: ignore[arg-type]
        exported = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
        assert [r["question"] for r in exported] == ["'" + t for t in FORMULAS]
        assert all(not r["time"].startswith("'") for r in exported)


def test_the_same_answer_voted_50_times_leaves_one_row_the_latest(any_store: FeedbackStoreLike) -> None:
    other = fb("another answer")
    assert any_store.record_feedback(other)
    vote_id = new_vote_id()
    for n in range(50):
        vote = "like" if n % 2 else "dislike"
        assert any_store.record_feedback(fb(vote=vote, reason=None, comment=f"try {n}", vote_id=vote_id))
    latest, first = any_store.recent_feedback()
    assert (latest.vote, latest.comment, latest.vote_id) == ("like", "try 49", vote_id)
    assert first == other


def test_a_reason_is_attached_by_vote_id_even_to_a_twin_vote(any_store: FeedbackStoreLike) -> None:
    one = fb(reason=None, comment=None, time="2026-01-02T03:04:05.000+00:00")
    twin = FeedbackRecord(**{**one.__dict__, "vote_id": new_vote_id()})
    assert any_store.record_feedback(one) and any_store.record_feedback(twin)
    assert any_store.add_reason(twin, "not-answered", "wrong one")
    by_id = {r.vote_id: r for r in any_store.recent_feedback()}
    assert by_id[twin.vote_id].reason == "not-answered" and by_id[one.vote_id].reason is None
    with pytest.raises(InvalidFeedbackError, match="comment"):
        any_store.add_reason(twin, "other", "spam " * 1_000)


def test_threads_lose_nothing(any_store: FeedbackStoreLike) -> None:
    start = threading.Barrier(8)
    failures: list[str] = []

    def work(t: int) -> None:
        start.wait()
        for i in range(25):
            if not any_store.record_feedback(fb(f"t{t}-{i}")):
                failures.append(f"t{t}-{i}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert failures == []
    assert {r.question for r in any_store.recent_feedback(limit=1000)} == {
        f"t{t}-{i}" for t in range(8) for i in range(25)
    }


# --- several replicas on one database ------------------------------------------------------------


def test_a_vote_on_one_replica_and_its_reason_on_another_make_one_row(
    replicas: Callable[[str], Any], pg_url: str
) -> None:
    a, b = replicas("replica-a"), replicas("replica-b")
    vote = fb(reason=None, comment=None)
    assert a.record_feedback(vote)
    assert b.add_reason(vote, "wrong-passage", "showed dosing")
    assert sql(pg_url, "SELECT vote_id, vote, reason, comment, replica FROM feedback") == [
        (vote.vote_id, "dislike", "wrong-passage", "showed dosing", "replica-a")
    ]
    assert a.recent_feedback() == b.recent_feedback()  # staff on either replica see the same


def test_a_retried_vote_is_counted_once_and_keeps_its_reason(
    replicas: Callable[[str], Any], pg_url: str
) -> None:
    a, b = replicas("replica-a"), replicas("replica-b")
    vote = fb(reason=None, comment=None)
    # The reason reaches replica b before the vote itself is stored (a's write was retried late).
    assert b.add_reason(vote, "not-answered", "first")
    for _ in range(3):
        assert a.record_feedback(vote)
    assert sql(pg_url, "SELECT COUNT(*), MIN(reason), MIN(comment) FROM feedback") == [
        (1, "not-answered", "first")
    ]
    changed = FeedbackRecord(**{**vote.__dict__, "vote": "like", "time": "2099-01-01T00:00:00.000+00:00"})
    assert a.record_feedback(changed)  # a new click on the same answer replaces it, reason and all
    assert sql(pg_url, "SELECT COUNT(*), MIN(vote), MIN(reason) FROM feedback") == [(1, "like", None)]
    assert a.record_feedback(vote)  # the older vote, arriving late, replaces nothing
    assert sql(pg_url, "SELECT vote FROM feedback") == [("like",)]


def test_every_row_records_its_replica_and_the_index_build(
    replicas: Callable[[str], Any], pg_url: str
) -> None:
    a, b = replicas("hostA:7860"), replicas("hostB:7861")
    assert a.record_feedback(fb(index_build="build-7")) and b.record_gap(gap(index_build="build-7"))
    kept = AnswerRecord(new_vote_id(), "q?", (), "q", (), "build-7")
    assert b.record_answer(kept)
    assert a.answer(kept.answer_id) == kept  # an answer given by b, found by a
    for table, replica in (("feedback", "hostA:7860"), ("gaps", "hostB:7861"), ("answers", "hostB:7861")):
        assert sql(pg_url, f"SELECT replica, index_build FROM {table}") == [(replica, "build-7")]
    assert sql(pg_url, "SELECT name, version FROM chatbot_schema") == [("feedback", 1)]


def test_a_newer_schema_is_refused_with_a_fix(
    replicas: Callable[[str], Any], pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert replicas("first").record_feedback(fb())
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE chatbot_schema SET version = 99")
    later = replicas("later")
    assert "upgrade chatbot" in (later.problem() or "")
    with caplog.at_level(logging.ERROR, logger="chatbot.feedback"):
        assert later.record_feedback(fb()) is False
    assert "upgrade chatbot" in caplog.text


def test_postgresql_stopped_midway_votes_wait_in_the_spool_and_are_all_replayed(
    cluster: Cluster, replicas: Callable[[str], Any], pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = replicas("replica-a"), replicas("replica-b")
    before = [fb(f"before {i}", reason=None, comment=None) for i in range(5)]
    assert all(a.record_feedback(v) for v in before)
    cluster.stop()
    waits: list[float] = []
    during = [fb(f"during {i}", reason=None, comment=None) for i in range(20)]
    try:
        for i, vote in enumerate(during):
            started = time.monotonic()
            assert a.record_feedback(vote)  # kept: in the spool
            if i % 2:
                assert a.add_reason(vote, "other", f"reason {i}")
            waits.append(time.monotonic() - started)
        for i in range(10):
            started = time.monotonic()
            assert a.record_gap(gap(f"gap {i}"))
            waits.append(time.monotonic() - started)
        # The replica that answered sees its spool; staff reads say plainly what is wrong.
        assert a.waiting() == 40
        with pytest.raises(FeedbackStoreError, match="cannot be reached.*40 vote"):
            a.recent_feedback()
        assert "cannot be reached" in (b.problem() or "")
        # Retries of spooled votes while down: still one row each in the end.
        assert a.record_feedback(during[0]) and a.record_feedback(during[1])
        assert os.stat(a.spool.path).st_mode & 0o777 == 0o600
    finally:
        cluster.start()
    assert a.wait_for_replay(30), "the spool was not replayed within 30 s of the restart"
    assert max(waits) < 1.5, f"a write waited {max(waits):.2f} s with the database down"
    assert sum(waits) < 3.0, f"30 writes waited {sum(waits):.2f} s in all"
    assert sql(pg_url, "SELECT COUNT(*) FROM feedback") == [(25,)]
    assert sql(pg_url, "SELECT COUNT(*) FROM feedback WHERE reason IS NOT NULL") == [(10,)]
    reasons = dict(sql(pg_url, "SELECT question, comment FROM feedback WHERE reason = 'other'"))
    assert reasons == {f"during {i}": f"reason {i}" for i in range(1, 20, 2)}
    assert sql(pg_url, "SELECT COUNT(*), COUNT(DISTINCT gap_id) FROM gaps") == [(10, 10)]
    assert a.waiting() == 0 and not a.spool.path.exists()
    # Back to direct writes, and both replicas read everything.
    assert b.record_feedback(fb("after", reason=None, comment=None))
    assert len(b.recent_feedback(limit=100)) == 26 and b.problem() is None
    print(
        f"\nwith PostgreSQL down: longest write {max(waits) * 1000:.0f} ms, "
        f"{len(waits)} writes in {sum(waits):.2f} s"
    )


def test_a_spool_replayed_twice_doubles_nothing(replicas: Callable[[str], Any], pg_url: str) -> None:
    from chatbot.feedback.store import _feedback_values

    a = replicas("replica-a")
    vote = fb(reason=None, comment=None)
    spooled_gap = (gap().time, "spooled", "spooled", "[]", "spooled", "b", "[]", None, "gap-1", "replica-a")
    for _ in range(2):  # the same lines twice, as a replay cut short by a crash leaves them
        a.spool.append("feedback", (*_feedback_values(vote), "replica-a"))
        a.spool.append("gap", spooled_gap)
    a.replay()
    assert sql(pg_url, "SELECT COUNT(*) FROM feedback") == [(1,)]
    assert sql(pg_url, "SELECT COUNT(*) FROM gaps WHERE gap_id = 'gap-1'") == [(1,)]
    assert a.spool.waiting() == 0


def test_a_spool_left_by_a_stopped_replica_is_replayed_at_the_next_start(pg_url: str, tmp_path: Path) -> None:
    from chatbot.feedback.postgres import SPOOL_FILENAME, PostgresFeedbackStore, Spool
    from chatbot.feedback.store import _feedback_values

    spool = tmp_path / SPOOL_FILENAME
    vote = fb(reason=None, comment=None)
    Spool(spool).append("feedback", (*_feedback_values(vote), "gone"))
    Spool(spool).append("bogus", ("x",))  # unreadable lines are set aside, never block the rest
    store = PostgresFeedbackStore(pg_url, replica="back", spool=spool)
    try:
        assert store.wait_for_replay(10)
        assert store.recent_feedback() == [vote]
        assert stat.S_IMODE(spool.with_name(SPOOL_FILENAME + ".rejected").stat().st_mode) == 0o600
    finally:
        store.close()


# --- choosing the store, the CLI -----------------------------------------------------------------


def test_open_store_picks_postgres_for_a_url_and_sqlite_by_default(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatbot.feedback.postgres import PostgresFeedbackStore

    assert isinstance(open_store(WebSettings(data_dir=tmp_path)), FeedbackStore)
    settings = settings_from(port=7861, data_dir=tmp_path, environ={"CHATBOT_FEEDBACK_DB": pg_url})
    assert settings.feedback_db == pg_url and settings.replica.endswith(":7861")
    store = open_store(settings)
    try:
        assert isinstance(store, PostgresFeedbackStore) and store.replica == settings.replica
        assert store.record_gap(gap())
    finally:
        store.close()
    named = settings_from(
        data_dir=tmp_path, feedback_db=pg_url, replica="blue", environ={"CHATBOT_REPLICA": "x"}
    )
    assert named.replica == "blue"
    assert settings_from(data_dir=tmp_path, environ={"CHATBOT_REPLICA": "green"}).replica == "green"
    with pytest.raises(ChatbotError, match="not a PostgreSQL URL"):
        WebSettings(feedback_db="mysql://db/x").check()


def test_the_cli_export_reads_postgres_neutralised(
    pg_url: str, replicas: Callable[[str], Any], tmp_path: Path
) -> None:
    assert replicas("replica-a").record_gap(gap(FORMULAS[0]))
    out = tmp_path / "gaps.csv"
    assert main(["feedback", "export", "--kind", "gaps", "--feedback-db", pg_url, "--out", str(out)]) == 0
    (row,) = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert row["question"] == "'" + FORMULAS[0] and stat.S_IMODE(out.stat().st_mode) == 0o600


def test_the_cli_export_says_plainly_when_the_database_is_unreachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = f"postgresql://postgres@/none?host={tmp_path}"  # no server on that socket
    started = time.monotonic()
    assert main(["feedback", "export", "--feedback-db", nowhere, "--out", str(tmp_path / "x.csv")]) == 1
    assert time.monotonic() - started < 5
    assert "cannot be reached" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()
