"""The REST API at /api: the same answers as `chatbot ask --json`, votes that reach any server
sharing the store, one-line JSON refusals, the site's layers and limits, health and the schema."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import CORPUS, DATA
from fastapi.testclient import TestClient
from webserver import fake_engine_for, serve_process

from chatbot.errors import IndexMissingError
from chatbot.feedback.limits import Limit, RateLimiter
from chatbot.feedback.records import CUT_MARK, MAX_COMMENT_CHARS, AnswerRecord, ShownPassage
from chatbot.feedback.store import DB_FILENAME, SCHEMA_VERSION, FeedbackStore
from chatbot.protocol import answer_lines
from chatbot.web.api import ApiLimits, build_api
from chatbot.web.security import CSP
from chatbot.web.server import create_app
from chatbot.web.settings import WebSettings, parse_credentials

pytestmark = pytest.mark.app

BASE = "http://127.0.0.1"  # the Host guard refuses TestClient's "testserver"
# Every question of every evaluation set (tuning and held-out: long messages, two questions in
# one, follow-ups, near-topic, off-topic and urgent ones).
EVALUATION_SETS = tuple(sorted(p.name for p in DATA.glob("article_*.jsonl")))


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return fake_engine_for(CORPUS, tmp_path_factory.mktemp("api") / "index")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def client(engine: Any, data: Path) -> Iterator[TestClient]:
    with TestClient(create_app(engine, WebSettings(data_dir=data)), base_url=BASE) as c:
        yield c


def rows(data: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data / DB_FILENAME) as conn:
        found = conn.execute(sql).fetchall()
    conn.close()
    return found


def ask(client: TestClient, question: str, history: list[str] | None = None) -> dict[str, Any]:
    r = client.post("/api/ask", json={"question": question, "history": history or []})
    assert r.status_code == 200, r.text
    return dict(r.json())


def assert_one_line_error(r: httpx.Response, status: int, fragment: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert list(body) == ["error"] and isinstance(body["error"], str)
    assert "\n" not in body["error"] and "Traceback" not in body["error"]
    assert fragment in body["error"], body["error"]


@pytest.mark.parametrize("name", EVALUATION_SETS)
def test_every_evaluation_question_gets_what_ask_json_gives(
    engine: Any, client: TestClient, data: Path, name: str
) -> None:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    out = io.StringIO()
    answer_lines(engine, lines, out, top_k=3)  # what `chatbot ask --json` writes for the file
    expected = [json.loads(line) for line in out.getvalue().splitlines()]
    engine.clear_cache()  # the API computes its answers afresh, not from the CLI's cache
    ids = []
    for line, want in zip(lines, expected, strict=True):
        # The line itself is the body (its extra keys, "id", "kind", "expected", are ignored by both).
        r = client.post("/api/ask", content=line.encode(), headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        got = r.json()
        ids.append(got.pop("answer_id"))
        assert got == want, line
    assert len(expected) == len(lines) >= 30 and not any("error" in want for want in expected)
    assert len(set(ids)) == len(ids)  # a new id for every answer
    # Every answer kept under its id; every question not answered confidently is a content gap.
    assert rows(data, "SELECT COUNT(*) FROM answers") == [(len(lines),)]
    gaps = sum(1 for want in expected if want["outcome"] != "answer" and want["query"])
    assert rows(data, "SELECT COUNT(*) FROM gaps") == [(gaps,)]


def test_votes_sent_to_another_server_all_arrive(engine: Any, data: Path) -> None:
    settings = WebSettings(data_dir=data)
    with (
        TestClient(create_app(engine, settings), base_url=BASE) as a,
        TestClient(create_app(engine, settings), base_url=BASE) as b,
    ):
        questions = ["what is refractory myeloma", "what is a stem cell transplant", "what is CAR-T"]
        answers = [ask(a, q) for q in questions] + [
            ask(a, "is it risky?", ["what is a stem cell transplant"])
        ]
        reasons = [None, "not-answered", "the words are too hard", "hard-to-understand"]
        for n, (answer, reason) in enumerate(zip(answers, reasons, strict=True)):
            vote = "like" if n % 2 == 0 else "dislike"
            r = b.post(
                "/api/feedback", json={"answer_id": answer["answer_id"], "vote": vote, "reason": reason}
            )
            assert r.status_code == 200 and r.json() == {"id": answer["answer_id"]}
    stored = {rec.vote_id: rec for rec in FeedbackStore(data / DB_FILENAME).recent_feedback()}
    assert set(stored) == {a["answer_id"] for a in answers}
    for n, answer in enumerate(answers):
        rec = stored[answer["answer_id"]]
        assert rec.question == answer["question"] and rec.query == answer["query"]
        assert [(p.id, p.section) for p in rec.passages] == [
            (p["id"], p["section"]) for p in answer["passages"]
        ]
        assert rec.index_build == engine.build_id and rec.vote == ("like" if n % 2 == 0 else "dislike")
    assert stored[answers[3]["answer_id"]].history == ("what is a stem cell transplant",)
    # A reason code is kept as the code; any other text as "other", with the text as the comment.
    assert [(stored[a["answer_id"]].reason, stored[a["answer_id"]].comment) for a in answers] == [
        (None, None),
        ("not-answered", None),
        ("other", "the words are too hard"),
        ("hard-to-understand", None),
    ]


def test_a_retried_or_changed_vote_is_one_row_the_latest(client: TestClient, data: Path) -> None:
    answer_id = ask(client, "what is a stem cell transplant")["answer_id"]
    for _ in range(3):  # a client retrying after a timeout
        assert client.post("/api/feedback", json={"answer_id": answer_id, "vote": "like"}).status_code == 200
    long = "word " * MAX_COMMENT_CHARS
    changed = {"answer_id": answer_id, "vote": "dislike", "reason": long}
    assert client.post("/api/feedback", json=changed).json() == {"id": answer_id}
    (row,) = rows(data, "SELECT vote_id, vote, reason, comment FROM feedback")
    assert row[:3] == (answer_id, "dislike", "other")
    assert len(row[3]) <= MAX_COMMENT_CHARS and row[3].endswith(CUT_MARK)  # cut as the chat cuts


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "fragment"),
    [
        ("/api/ask", b"{not json", "application/json", 400, "not usable JSON"),
        ("/api/ask", b"{not json", "text/plain", 400, "not JSON"),
        ("/api/ask", b"", "application/json", 400, "not usable JSON"),
        ("/api/ask", b'{"question": 3}', "application/json", 422, '"question" must be a string'),
        ("/api/ask", b'{"history": []}', "application/json", 422, '"question" must be a string'),
        ("/api/ask", b'{"question": "hi", "history": "x"}', "application/json", 422, '"history" must be'),
        ("/api/ask", b"[1, 2]", "application/json", 422, "expected an object"),
        ("/api/ask", b'{"question": " \\u200b "}', "application/json", 422, '"question" is empty'),
        (
            "/api/ask",
            json.dumps({"question": "why " * 300}).encode(),
            "application/json",
            422,
            "over the 1,000",
        ),
        ("/api/ask", b'{"question": NaN}', "application/json", 400, "not usable JSON"),
        ("/api/ask", b'"' + b"x" * 600_000 + b'"', "application/json", 413, "over 512 KB"),
        ("/api/feedback", b"{not json", "application/json", 400, "not usable JSON"),
        ("/api/feedback", b"hello", "text/plain", 422, "must be a JSON object"),
        ("/api/feedback", b'{"vote": "like"}', "application/json", 422, '"answer_id": Field required'),
        ("/api/feedback", b'{"answer_id": "a1", "vote": "meh"}', "application/json", 422, '"vote"'),
        ("/api/feedback", b'{"answer_id": 7, "vote": "like"}', "application/json", 422, '"answer_id"'),
        ("/api/feedback", b'{"answer_id": "../x", "vote": "like"}', "application/json", 422, '"answer_id"'),
        (
            "/api/feedback",
            b'{"answer_id": "a", "vote": "like", "reason": 5}',
            "application/json",
            422,
            '"reason"',
        ),
        ("/api/feedback", b'{"answer_id": "a1", "vote": "like", "x": 1}', "application/json", 422, '"x"'),
        (
            "/api/feedback",
            b'{"answer_id": "f00d", "vote": "like"}',
            "application/json",
            404,
            "No answer 'f00d'",
        ),
        ("/api/nowhere", b"{}", "application/json", 404, "/api/openapi.json"),
    ],
)
def test_bad_input_gets_a_one_line_json_error(
    client: TestClient, path: str, body: bytes, content_type: str, status: int, fragment: str
) -> None:
    r = client.post(path, content=body, headers={"content-type": content_type})
    assert_one_line_error(r, status, fragment)
    assert r.headers["content-security-policy"] == CSP


def test_wrong_method_and_no_docs_page(client: TestClient) -> None:
    assert_one_line_error(client.get("/api/ask"), 405, "Method Not Allowed: GET /api/ask")
    assert_one_line_error(client.get("/api/docs"), 404, "Not Found")


def test_the_site_layers_guard_the_api(engine: Any, data: Path) -> None:
    settings = WebSettings(data_dir=data, auth=parse_credentials("ann:long-password-1", "test"))
    with TestClient(create_app(engine, settings), base_url=BASE) as c:
        r = c.post("/api/ask", json={"question": "what is myeloma"})
        assert_one_line_error(r, 401, "needs a password")
        assert r.headers["www-authenticate"].startswith('Basic realm="chat"')
        assert r.headers["content-security-policy"] == CSP and r.headers["x-frame-options"] == "DENY"
        assert_one_line_error(c.get("/api/health"), 401, "needs a password")
        auth = ("ann", "long-password-1")
        ok = c.post("/api/ask", json={"question": "what is myeloma"}, auth=auth)
        assert ok.status_code == 200 and ok.headers["content-security-policy"] == CSP
        foreign = c.post(
            "/api/ask", json={"question": "x"}, auth=auth, headers={"origin": "https://evil.example"}
        )
        assert_one_line_error(foreign, 403, "another site")
        assert "access-control-allow-origin" not in foreign.headers
    with TestClient(create_app(engine, settings)) as other_name:  # Host: testserver
        assert_one_line_error(other_name.get("/api/health", auth=auth), 400, "host name")


def test_votes_over_the_limit_get_429_and_are_not_stored(engine: Any, data: Path) -> None:
    now = [0.0]
    limits = ApiLimits(RateLimiter(Limit(3, per_address=1), clock=lambda: now[0]), RateLimiter(Limit(100)))
    store = FeedbackStore(data / DB_FILENAME)
    with TestClient(build_api(engine, store, limits), base_url=BASE) as api:
        ids = [
            api.post("/ask", json={"question": f"what is myeloma {n}"}).json()["answer_id"] for n in range(5)
        ]
        assert [
            api.post("/feedback", json={"answer_id": i, "vote": "like"}).status_code for i in ids[:3]
        ] == [200] * 3
        r = api.post("/feedback", json={"answer_id": ids[3], "vote": "like"})
        assert_one_line_error(r, 429, "Too many votes from this address")
        assert r.headers["retry-after"] == "60"
        assert len(store.recent_feedback()) == 3  # the refused vote is not kept
        now[0] = 61.0  # a quiet minute later the client may vote again
        assert api.post("/feedback", json={"answer_id": ids[4], "vote": "like"}).status_code == 200


def test_an_unusable_store_gets_503(engine: Any, client: TestClient, data: Path) -> None:
    answer_id = ask(client, "what is a stem cell transplant")["answer_id"]
    read_only = build_api(engine, FeedbackStore(data / DB_FILENAME, read_only=True))
    with TestClient(read_only, base_url=BASE) as api:  # the answer is readable, a vote cannot be written
        assert_one_line_error(
            api.post("/feedback", json={"answer_id": answer_id, "vote": "like"}), 503, "later"
        )
    (data / DB_FILENAME).write_bytes(b"this is not a database" * 100)
    for end in ("-wal", "-shm"):
        (data / (DB_FILENAME + end)).unlink(missing_ok=True)
    r = client.post("/api/feedback", json={"answer_id": answer_id, "vote": "like"})
    assert_one_line_error(r, 503, "The feedback store cannot be used")
    assert "mv " in r.json()["error"]  # the fix, as the store words it


def test_health_says_the_build_and_whether_it_can_answer(engine: Any, client: TestClient, data: Path) -> None:
    r = client.get("/api/health")
    manifest = engine.index.manifest
    assert r.status_code == 200 and r.json() == {
        "ready": True,
        "build_id": manifest.build_id,
        "model": manifest.model_id,
        "corpus_hash": manifest.corpus_hash,
        "chunks": manifest.chunks,
        "documents": manifest.documents,
    }

    class NoIndex:  # an engine whose index is gone
        @property
        def build_id(self) -> str:
            raise IndexMissingError("no index in index/: run `chatbot index`")

        index = build_id

    with TestClient(build_api(NoIndex(), FeedbackStore(data / DB_FILENAME)), base_url=BASE) as api:  # type: ignore[arg-type]
        r = api.get("/health")
        assert r.status_code == 503 and r.json()["ready"] is False and r.json()["build_id"] is None


def test_the_schema_lists_the_three_routes_and_the_chat_still_serves(client: TestClient) -> None:
    r = client.get("/api/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")  # not Gradio's
    schema = r.json()
    assert set(schema["paths"]) == {"/ask", "/feedback", "/health"} and schema["servers"] == [{"url": "/api"}]
    assert set(schema["paths"]["/ask"]) == {"post"} and set(schema["paths"]["/health"]) == {"get"}
    body = schema["paths"]["/ask"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["question"]["description"] and body["example"]["question"]
    answer = schema["components"]["schemas"]["AskResponse"]["properties"]
    assert "answer_id" in answer and answer["answer_id"]["examples"]
    assert "422" in schema["paths"]["/feedback"]["post"]["responses"]
    assert client.get("/").status_code == 200 and "gradio" in client.get("/").text.lower()


def test_answers_migrate_an_older_store_on_its_next_write(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    store = FeedbackStore(path)
    kept = AnswerRecord("a1", "what is myeloma", (), "myeloma", (ShownPassage("p1", "T › S"),), "b1")
    assert store.record_answer(kept) and store.answer("a1") == kept and store.answer("a2") is None
    with sqlite3.connect(path) as conn:  # as a file of schema 3 is: no answers table
        conn.execute("DROP TABLE answers")
        conn.execute("PRAGMA user_version = 3")
    conn.close()
    assert store.answer("a1") is None  # read as it is, unchanged
    assert rows(tmp_path, "PRAGMA user_version") == [(3,)]
    assert store.record_answer(kept) and store.answer("a1") == kept
    assert rows(tmp_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)] and SCHEMA_VERSION == 4
    assert kept.vote("like").vote_id == "a1"


@pytest.mark.slow
def test_a_real_server_answers_and_takes_votes_over_http(tmp_path: Path) -> None:
    with serve_process(tmp_path) as (_, url):
        health = httpx.get(f"{url}/api/health", timeout=30)
        assert health.status_code == 200 and health.json()["ready"] is True
        answer = httpx.post(f"{url}/api/ask", json={"question": "what is a stem cell transplant"}, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["passages"] and answer.json()["outcome"] in ("answer", "closest")
        vote = {"answer_id": answer.json()["answer_id"], "vote": "dislike", "reason": "wrong-passage"}
        assert httpx.post(f"{url}/api/feedback", json=vote, timeout=30).json() == {"id": vote["answer_id"]}
        bad = httpx.post(
            f"{url}/api/ask", content=b"{", headers={"content-type": "application/json"}, timeout=30
        )
        assert bad.status_code == 400 and list(bad.json()) == ["error"]
    (rec,) = FeedbackStore(tmp_path / "data" / DB_FILENAME).recent_feedback()
    assert (rec.vote_id, rec.vote, rec.reason) == (vote["answer_id"], "dislike", "wrong-passage")
