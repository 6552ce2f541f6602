"""Broken files and a broken feedback store: the CLI says what to do, the app goes on serving.

What each case does (see `chatbot.web.startup`):
- `chatbot ask` / `ask --json` on a damaged index (truncated `dense.faiss`, garbage manifest,
  missing `chunks.jsonl`): one `error:` line naming the fix, exit 1.
- `chatbot serve` on a damaged index: rebuilt from the corpus at start, with a warning, and served.
- `chatbot serve` with no usable corpus but a good index: the index is served, with a warning.
- a running app whose index is damaged on disk, or whose new build is: keeps serving the build it
  has, with a warning, and takes the next good build.
- a corpus file that vanishes between listing and reading: skipped with a warning (`--strict`: a
  one-line error, the old index kept).
- the feedback store locked or read-only: the chat answers, the vote says it was not saved, and
  the failure is logged.
All with the fake embedder.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import FakeEmbedder
from webserver import free_port

import chatbot.corpus.files
import chatbot.web.chat
from chatbot.answering.engine import Engine
from chatbot.answering.live import LiveEngine
from chatbot.cli import main
from chatbot.feedback.records import GapRecord
from chatbot.feedback.store import DB_FILENAME, FeedbackStore
from chatbot.indexing.build import build_index
from chatbot.indexing.store import MANIFEST, load_build, read_manifest

NEW_PAGE = "# Zebrafish notes\n\n## Research\n\nZebrafish models help researchers study blood disorders.\n"


def build_file(index_dir: Path, name: str) -> Path:
    manifest = read_manifest(index_dir)
    assert manifest is not None
    return index_dir / "builds" / manifest.build_id / name


def truncated_faiss(index_dir: Path) -> None:
    path = build_file(index_dir, "dense.faiss")
    path.write_bytes(path.read_bytes()[:100])


def garbage_manifest(index_dir: Path) -> None:
    (index_dir / MANIFEST).write_text("{this is not json", encoding="utf-8")


def missing_chunks(index_dir: Path) -> None:
    build_file(index_dir, "chunks.jsonl").unlink()


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated dense.faiss": truncated_faiss,
    "garbage manifest": garbage_manifest,
    "missing chunks.jsonl": missing_chunks,
}


def paths(corpus: Path, index: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(index)]


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr
    return errors[0]


# --- the command line: one line naming the fix ------------------------------------------------------


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("command", [["ask", "What is myeloma?"], ["ask", "--json"]])
def test_cli_on_a_damaged_index_names_the_fix(
    damage: str,
    command: list[str],
    built_index: Any,
    fake_model: Any,
    corpus_dir: Path,
    index_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    DAMAGE[damage](index_dir)
    monkeypatch.setattr("sys.stdin", io.StringIO('"What is myeloma?"\n'))
    assert main([*command, *paths(corpus_dir, index_dir)]) == 1
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert f"chatbot index --index {index_dir}" in line
    assert captured.out == ""


# --- serve: the same code path as `chatbot serve`, up to starting the server -------------------------


@pytest.fixture
def serve_app(fake_model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Run `main(["serve", ...])` up to the point where uvicorn would start; returns the app."""
    import chatbot.web.server

    def start(corpus: Path, index: Path) -> Any:
        seen: dict[str, Any] = {}
        server = lambda config: SimpleNamespace(run=lambda: seen.update(app=config.app))  # noqa: E731
        monkeypatch.setattr(chatbot.web.server, "_stoppable_server", server)
        port = str(free_port())  # the default 7860 may be taken by a chat running on this machine
        code = main(["serve", *paths(corpus, index), "--data", str(tmp_path / "data"), "--port", port])
        return seen.get("app") if code == 0 else code

    return start


def chat(url: str, question: str) -> str:
    """The assistant's reply from the site's public /chat endpoint."""
    import httpx

    with httpx.Client(base_url=url, timeout=30) as client:
        event_id = client.post("/gradio_api/call/chat", json={"data": [question, []]}).json()["event_id"]
        stream = client.get(f"/gradio_api/call/chat/{event_id}").text
    data = [line[5:] for line in stream.splitlines() if line.startswith("data:")][-1]
    messages = json.loads(data)[1]
    return str(messages[1]["content"])


@pytest.mark.app
@pytest.mark.parametrize("damage", DAMAGE)
def test_serve_rebuilds_a_damaged_index_and_answers(
    damage: str,
    built_index: Any,
    corpus_dir: Path,
    index_dir: Path,
    serve_app: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from webserver import serving

    before = built_index.manifest.build_id
    DAMAGE[damage](index_dir)
    app = serve_app(corpus_dir, index_dir)
    assert app is not None and not isinstance(app, int)
    err = capsys.readouterr().err  # the CLI's own log lines
    assert "damaged" in err and "before serving" in err and "Traceback" not in err
    rebuilt = load_build(index_dir)
    assert rebuilt.manifest.build_id != before
    with serving(app) as url:
        assert "Refractory" in chat(url, "What is refractory myeloma?")


def test_serve_without_a_corpus_serves_the_index_it_has(
    built_index: Any,
    corpus_dir: Path,
    index_dir: Path,
    serve_app: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.rmtree(corpus_dir)
    app = serve_app(corpus_dir, index_dir)
    assert app is not None and not isinstance(app, int)
    assert "Serving the existing index" in capsys.readouterr().err


def test_serve_without_corpus_or_index_fails_with_the_fix(
    serve_app: Callable[..., Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert serve_app(tmp_path / "no-corpus", tmp_path / "no-index") == 1
    assert "--corpus" in one_error_line(capsys.readouterr().err)


# --- a running app: keeps the build it has --------------------------------------------------------


@pytest.fixture
def live(built_index: Any, index_dir: Path, fake_embedder: FakeEmbedder) -> Iterator[LiveEngine]:
    engine = Engine(load_build(index_dir), fake_embedder)
    with LiveEngine(engine, index_dir, interval=3600, watch=False) as live:
        yield live


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_running_app_keeps_serving_when_its_index_breaks(
    damage: str,
    live: LiveEngine,
    corpus_dir: Path,
    index_dir: Path,
    fake_embedder: FakeEmbedder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = live.build_id
    (corpus_dir / "zebrafish.md").write_text(NEW_PAGE, encoding="utf-8")
    build_index(corpus_dir, index_dir, fake_embedder, progress=False)
    DAMAGE[damage](index_dir)  # the new build, or the manifest pointing at it, is broken
    with caplog.at_level(logging.WARNING, logger="chatbot.live"):
        live.refresh(wait=True)
    assert live.build_id == old
    assert live.ask("What is refractory myeloma?").passages
    assert any("still serving build" in r.getMessage() for r in caplog.records)
    # the next good build is taken
    build_index(corpus_dir, index_dir, fake_embedder, progress=False)
    live.refresh(wait=True)
    assert live.build_id != old
    assert any(p.source == "zebrafish.md" for p in live.ask("zebrafish blood disorders research").passages)


# --- a corpus file that vanishes between listing and reading ------------------------------------


@pytest.fixture
def vanishing(corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """zebrafish.md is listed, then deleted just before it is read."""
    page = corpus_dir / "zebrafish.md"
    page.write_text(NEW_PAGE, encoding="utf-8")
    read_file = chatbot.corpus.files.read_file

    def read_after_deleting(path: Path, *args: Any, **kwargs: Any) -> Any:
        if path.name == page.name:
            path.unlink(missing_ok=True)
        return read_file(path, *args, **kwargs)

    monkeypatch.setattr(chatbot.corpus.files, "read_file", read_after_deleting)
    return page


def test_a_file_vanishing_mid_build_is_skipped_with_a_warning(
    vanishing: Path, fake_model: Any, corpus_dir: Path, index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index", "--quiet", *paths(corpus_dir, index_dir)]) == 0
    captured = capsys.readouterr()
    assert "skipped zebrafish.md: cannot be read" in captured.err
    assert "1 skipped" in captured.out
    assert {c.source for c in load_build(index_dir).chunks} == {"refractory-myeloma.txt"}


def test_a_file_vanishing_mid_build_with_strict_is_one_error_line(
    built_index: Any,  # built before the file is added
    vanishing: Path,
    fake_model: Any,
    corpus_dir: Path,
    index_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = built_index.manifest.build_id
    assert main(["index", "--quiet", "--strict", *paths(corpus_dir, index_dir)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "zebrafish.md" in line and "without --strict" in line
    assert load_build(index_dir).manifest.build_id == before  # the old index stays


# --- the feedback store locked or read-only --------------------------------------------------------


@pytest.fixture
def strict_engine(tmp_path: Path, corpus_dir: Path) -> Engine:
    """Answers nothing confidently, so each answer also writes a content gap."""
    from webserver import fake_engine_for

    engine: Engine = fake_engine_for(corpus_dir, tmp_path / "strict-index", baseline=0.0, cover_threshold=5.0)
    return engine


@pytest.fixture(params=["locked", "read-only"])
def broken_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FeedbackStore]:
    """A store whose file exists (with a row) but cannot be written: another process holds the
    write lock, or it is opened read-only (SQLite's mode=ro; chmod does not stop root)."""
    path = tmp_path / DB_FILENAME
    assert FeedbackStore(path).record_gap(GapRecord("earlier", (), "earlier", "b1", ()))
    if request.param == "read-only":
        yield FeedbackStore(path, read_only=True, busy_timeout=0.2)
        return
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        yield FeedbackStore(path, busy_timeout=0.2)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_the_chat_answers_and_logs_when_feedback_cannot_be_saved(
    strict_engine: Engine, fake_engine: Engine, broken_store: FeedbackStore, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="chatbot.feedback"):
        started = time.perf_counter()
        _, history, turns = chatbot.web.chat.respond(
            strict_engine, "banana bread recipe with walnuts", [], [], broken_store
        )
        assert time.perf_counter() - started < 5  # bounded by the store's busy timeout
        assert (
            history[1]["role"] == "assistant" and "outside what the article covers" in history[1]["content"]
        )
        _, history, turns = chatbot.web.chat.respond(
            fake_engine, "What is refractory myeloma?", [], [], broken_store
        )
        assert turns[0].answer.answered
        record, ask_reason, status = chatbot.web.chat.record_vote(
            broken_store, turns, turns[0].first_message, True
        )
        assert record is None and not ask_reason and status == chatbot.web.chat.NOT_SAVED
        again = chatbot.web.chat.record_vote(broken_store, turns, turns[0].first_message, False)
        assert again == (None, False, chatbot.web.chat.NOT_SAVED)
    failures = [r.getMessage() for r in caplog.records if "Could not save" in r.getMessage()]
    assert len(failures) == 3  # the content gap, the like, the dislike
    assert all("CHATBOT_DATA_DIR" in f for f in failures)  # each names a fix


def test_a_vote_is_thanked_when_it_is_saved(fake_engine: Engine, tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / DB_FILENAME)
    _, _, turns = chatbot.web.chat.respond(fake_engine, "What is refractory myeloma?", [], [], store)
    assert chatbot.web.chat.record_vote(store, turns, turns[0].first_message, True) == (
        None,
        False,
        chatbot.web.chat.THANKS,
    )
    record, ask_reason, _ = chatbot.web.chat.record_vote(store, turns, turns[0].first_message, False)
    assert record is not None and ask_reason
    # one vote per answer: the dislike replaces the like
    assert [r.vote for r in store.recent_feedback()] == ["dislike"]
