"""Shared test fixtures: a deterministic fake embedder, a throw-away corpus and index, the real model.

Unit tests never load a model: `FakeEmbedder` hashes the words of a text into a bag-of-words vector,
so texts that share words are close and a test can reason about which chunk a query finds. The
real MiniLM model is session-scoped and only used by tests marked `model` (the marker is added
automatically to every test that asks for it).
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
ARTICLE = CORPUS / "refractory-myeloma.txt"
DATA = ROOT / "tests" / "data"
AWKWARD = DATA / "corpus_awkward"

_WORD = re.compile(r"\w+")
# Function words carry no topic; leaving them out keeps the fake's rankings about content words.
STOPWORDS = frozenset(
    _WORD.findall(
        "a an and are as at be by can do does for from has have how in is it its of on or that the "
        "their them these this to was what when which who why will with you your"
    )
)


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


class FakeEmbedder:
    """A hashed bag of words: deterministic, instant, and texts sharing words score high together.

    Dimension 0 is a component every text shares (weight `baseline`), the words hash into the
    other dimensions. The cosine of two texts is then (baseline² + bag-of-words cosine) /
    (baseline² + 1): rankings are those of plain word overlap, but every score sits at or above
    baseline² / (baseline² + 1) (0.5 by default), so the engine's "not covered" threshold, which
    is calibrated for the real model, never turns a fake-embedder question away.
    """

    def __init__(self, dim: int = 256, model_id: str | None = None, baseline: float = 1.0) -> None:
        self.dim = dim
        self.model_id = model_id or f"fake-bag-of-words-{dim}"
        self.baseline = baseline
        self.encoded: list[str] = []  # every text embedded, to count what a build re-embeds

    def bucket(self, word: str) -> int:
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        return 1 + int.from_bytes(digest, "big") % (self.dim - 1)

    def bag(self, text: str) -> np.ndarray:
        """The unit bag-of-words part alone (zero for a text without content words)."""
        out = np.zeros(self.dim, dtype=np.float64)
        for word in content_words(text):
            out[self.bucket(word)] += 1.0
        norm = np.linalg.norm(out)
        return out / norm if norm else out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            self.encoded.append(text)
            vector = self.bag(text)
            vector[0] = self.baseline if vector.any() or self.baseline else 1.0
            out[row] = vector / np.linalg.norm(vector)
        return out

    def warm_up(self) -> None:
        """MiniLMEmbedder has it; the CLI and the app may call it."""


@pytest.fixture(autouse=True)
def _restore_chatbot_logger() -> Iterator[None]:
    """`cli.main` attaches a handler to the "chatbot" logger and stops propagation; undo it after
    each test so that caplog (on the root logger) still sees "chatbot.index" records later."""
    logger = logging.getLogger("chatbot")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    logger.handlers[:] = saved[0]
    logger.propagate, logger.level = saved[1], saved[2]


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A private copy of the project's corpus, free to edit."""
    return Path(shutil.copytree(CORPUS, tmp_path / "corpus"))


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"


@pytest.fixture
def built_index(corpus_dir: Path, index_dir: Path, fake_embedder: FakeEmbedder) -> Any:
    """The corpus copy indexed with the fake embedder; returns the BuildReport."""
    from chatbot.indexing.build import build_index

    return build_index(corpus_dir, index_dir, fake_embedder, progress=False)


@pytest.fixture
def fake_engine(built_index: Any, index_dir: Path, fake_embedder: FakeEmbedder) -> Any:
    from chatbot.answering.engine import Engine
    from chatbot.indexing.store import load_build

    return Engine(load_build(index_dir), fake_embedder)


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> type[FakeEmbedder]:
    """Make every `MiniLMEmbedder()` the CLI creates a FakeEmbedder (the CLI imports it on call)."""
    import chatbot.indexing.embedding

    monkeypatch.setattr(chatbot.indexing.embedding, "MiniLMEmbedder", FakeEmbedder)
    return FakeEmbedder


@pytest.fixture(scope="session")
def minilm() -> Any:
    """The real all-MiniLM-L6-v2, loaded once for the whole session."""
    from chatbot.indexing.embedding import MiniLMEmbedder

    embedder = MiniLMEmbedder()
    embedder.warm_up()
    return embedder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "minilm" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.model)
