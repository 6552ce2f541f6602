"""BatchingEmbedder: questions asked together share a model call, and each gets its own vectors."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest
from conftest import FakeEmbedder

from chatbot.indexing.embedding import BatchingEmbedder


class SlowEmbedder(FakeEmbedder):
    """A fake whose every call takes a while, as the model's does, and which counts its calls."""

    def __init__(self, delay: float = 0.03, fail_on: str | None = None) -> None:
        super().__init__()
        self.delay = delay
        self.fail_on = fail_on
        self.batches: list[int] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(len(texts))
        time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError("model failed")
        return super().encode(texts)


def _ask_together(embedder: BatchingEmbedder, questions: list[str]) -> dict[str, np.ndarray]:
    results: dict[str, np.ndarray] = {}
    start = threading.Barrier(len(questions))

    def ask(q: str) -> None:
        start.wait()
        results[q] = embedder.encode([q])

    threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_each_caller_gets_the_vectors_of_its_own_text() -> None:
    inner = SlowEmbedder(delay=0.005)
    embedder = BatchingEmbedder(inner)
    questions = [f"question {n} about marrow {n * 7}" for n in range(40)]
    results = _ask_together(embedder, questions)
    reference = FakeEmbedder()
    for q in questions:
        assert results[q].shape == (1, inner.dim)
        np.testing.assert_allclose(results[q], reference.encode([q]), rtol=1e-6)


def test_questions_asked_at_once_share_model_calls() -> None:
    inner = SlowEmbedder(delay=0.05)
    embedder = BatchingEmbedder(inner)
    _ask_together(embedder, [f"question {n}" for n in range(8)])
    assert sum(inner.batches) == 8
    assert len(inner.batches) < 8 and max(inner.batches) > 1


def test_a_lone_question_is_not_held_back() -> None:
    inner = SlowEmbedder(delay=0.0)
    embedder = BatchingEmbedder(inner)
    embedder.encode(["first"])
    started = time.perf_counter()
    embedder.encode(["second"])
    assert time.perf_counter() - started < 0.5  # generous: no waiting for company
    assert inner.batches == [1, 1]


def test_a_failure_reaches_its_caller_and_the_batcher_lives_on() -> None:
    embedder = BatchingEmbedder(SlowEmbedder(delay=0.0, fail_on="boom"))
    with pytest.raises(RuntimeError, match="model failed"):
        embedder.encode(["boom"])
    assert embedder.encode(["still here"]).shape == (1, embedder.dim)
    assert embedder.encode([]).shape == (0, embedder.dim)
