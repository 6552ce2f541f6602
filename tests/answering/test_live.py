"""Hot reload: a running engine serves each new build without a restart, and no request fails
while it switches. With the fake embedder; `chatbot index` runs in-process."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeEmbedder

from chatbot.answering.answer import Answer
from chatbot.answering.answerer import Answerer
from chatbot.answering.engine import Engine, open_engine
from chatbot.answering.live import LiveEngine
from chatbot.cli import main
from chatbot.indexing.store import MANIFEST, load_build
from chatbot.web.startup import serving_engine

NEW_DOC = (
    "# Zebrafish notes\n\n## Research\n\nZebrafish models help researchers study hemoglobin disorders.\n"
)
QUESTION = "zebrafish hemoglobin research"


@pytest.fixture
def live(built_index: Any, index_dir: Path, fake_embedder: FakeEmbedder) -> Iterator[LiveEngine]:
    engine = Engine(load_build(index_dir), fake_embedder)
    with LiveEngine(engine, index_dir, interval=0.05) as live:
        yield live


def reindex(corpus_dir: Path, index_dir: Path) -> None:
    assert main(["index", "--quiet", "--corpus", str(corpus_dir), "--index", str(index_dir)]) == 0


def wait_for_build(live: LiveEngine, old: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while live.build_id == old:
        assert time.monotonic() < deadline, "the new build was not picked up"
        time.sleep(0.02)
    return live.build_id


class Hammer(threading.Thread):
    """Asks questions without pause, recording every error and every build that answered."""

    def __init__(self, live: LiveEngine) -> None:
        super().__init__(daemon=True)
        self.live = live
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.answers = 0
        self.builds: set[str] = set()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                engine = self.live.engine
                answer = engine.ask("What is refractory myeloma?")
                assert isinstance(answer, Answer) and answer.passages
                self.answers += 1
                self.builds.add(engine.build_id)
            except BaseException as exc:  # anything at all is a failed request
                self.errors.append(exc)


def test_a_document_added_while_serving_is_found_after_index(
    live: LiveEngine, corpus_dir: Path, index_dir: Path, fake_model: Any
) -> None:
    old = live.build_id
    assert all(p.source != "zebrafish.md" for p in live.ask(QUESTION).passages)
    hammer = Hammer(live)
    hammer.start()
    try:
        (corpus_dir / "zebrafish.md").write_text(NEW_DOC, encoding="utf-8")
        reindex(corpus_dir, index_dir)
        new = wait_for_build(live, old)
        time.sleep(0.2)  # keep asking on the new build for a while
    finally:
        hammer.stop.set()
        hammer.join(10)
    assert hammer.errors == []
    assert hammer.builds == {old, new} and hammer.answers > 10
    assert live.ask(QUESTION).passages[0].source == "zebrafish.md"
    assert live.swaps == 1


def test_a_removed_document_is_gone_after_index(
    live: LiveEngine, corpus_dir: Path, index_dir: Path, fake_model: Any
) -> None:
    old = live.build_id
    (corpus_dir / "zebrafish.md").write_text(NEW_DOC, encoding="utf-8")
    reindex(corpus_dir, index_dir)
    first = wait_for_build(live, old)
    assert live.ask(QUESTION).passages[0].source == "zebrafish.md"
    (corpus_dir / "zebrafish.md").unlink()
    reindex(corpus_dir, index_dir)
    wait_for_build(live, first)
    assert all(p.source != "zebrafish.md" for p in live.ask(QUESTION).passages)


def test_a_build_that_cannot_load_keeps_the_current_one(
    live: LiveEngine, index_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="chatbot.live")
    old = live.build_id
    raw = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    raw["build_id"] = "20990101T000000-gone00"  # names a build folder that does not exist
    (index_dir / MANIFEST).write_text(json.dumps(raw), encoding="utf-8")
    live.refresh(wait=True)
    assert live.build_id == old and live.ask("What is refractory myeloma?").passages
    assert any("cannot load the new index build" in r.getMessage() for r in caplog.records)


def test_live_engine_answers_as_its_current_engine(live: LiveEngine) -> None:
    engine = live.engine
    assert isinstance(live, Answerer) and isinstance(engine, Answerer)
    assert live.index is engine.index and live.build_id == engine.build_id
    assert live.retriever is engine.retriever and live.embedder is engine.embedder
    assert live.search_query("myleoma?").corrected == engine.search_query("myleoma?").corrected
    with pytest.raises(AttributeError):
        live._private  # noqa: B018


def test_serve_gets_a_live_engine_and_the_other_commands_a_plain_one(
    built_index: Any, corpus_dir: Path, index_dir: Path, fake_model: Any
) -> None:
    assert type(open_engine(corpus_dir, index_dir)) is Engine
    live = serving_engine(corpus_dir, index_dir)
    assert isinstance(live, LiveEngine)
    live.close()
