"""Start the chat server ready to answer, on an index it can serve.

Ready to answer: the server opens only after one question has gone through the whole pipeline
(`warm_up`), so the first patient does not wait for the model to load. Loading the model in a
thread while Gradio imports was measured too and gained nothing: both are Python imports, which
hold the interpreter lock (see the Performance section of the README).

On an index it can serve: what happens at start when the index or the corpus is broken.
- A damaged index (garbage manifest, truncated `dense.faiss`, missing `chunks.jsonl`, missing build
  folder) is rebuilt from the corpus, with a warning naming the damage: the app has nothing else
  to serve, and the corpus is the source of truth. (`chatbot ask` and `chatbot eval` report it
  instead, with the fix, so a person learns their index broke.)
- A corpus that is missing, or no longer yields a single passage, while a good index made by the
  same model exists: that index is served as it is, with a warning. With neither, the start fails
  with the fix (`error: ...`, exit 1).
- While the app runs, a new build that cannot be loaded leaves the current one serving, with a
  warning (`chatbot.answering.live`).
- A published index (`chatbot index --publish DIR`, served by replicas with `--index DIR`) is
  served as it is: never rebuilt from this machine's corpus, damaged or not (its publisher owns it).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot.answering.answerer import Answerer
from chatbot.errors import ChatbotError, CorpusError, IndexCorruptError
from chatbot.indexing.embedding import Embedder
from chatbot.indexing.store import StoredIndex

if TYPE_CHECKING:
    from chatbot.answering.live import LiveEngine

log = logging.getLogger("chatbot.startup")
WARM_UP_QUESTION = "What is refractory myeloma?"


def warm_up(engine: Answerer) -> float:
    """Answer one question before the server opens, then forget it; returns the seconds it took.

    The first answer otherwise pays for loading the model and for every lazy first use on the
    way (the speller, the safety rules); a warmed-up server answers its first patient as fast as
    its hundredth.
    """
    started = time.perf_counter()
    engine.ask(WARM_UP_QUESTION)
    engine.clear_cache()
    seconds = time.perf_counter() - started
    log.debug("warmed up in %.2fs", seconds)
    return seconds


def open_for_serving(
    corpus_dir: Path, index_dir: Path, embedder: Embedder, *, progress: bool = False
) -> StoredIndex:
    """The index to serve: opened as `chatbot ask` would, or rebuilt, or kept (see the module doc)."""
    from chatbot.indexing.build import build_index, open_index
    from chatbot.indexing.store import is_published, load_build

    if is_published(index_dir):  # a replica of a published build: served as it is, never rebuilt
        return open_index(corpus_dir, index_dir, embedder, progress=progress)
    try:
        return open_index(corpus_dir, index_dir, embedder, progress=progress)
    except IndexCorruptError as exc:
        log.warning("%s (Doing that now, from %s/, before serving.)", exc, corpus_dir)
        build_index(corpus_dir, index_dir, embedder, progress=progress)
        return open_index(corpus_dir, index_dir, embedder, progress=progress)
    except CorpusError as exc:
        try:
            stored = load_build(index_dir)
        except ChatbotError:
            raise exc from None  # no index to fall back on: the corpus error names the fix
        if stored.manifest.model_id != embedder.model_id or stored.manifest.dim != embedder.dim:
            raise exc from None  # vectors of another model would answer nonsense
        log.warning("%s Serving the existing index (build %s) meanwhile.", exc, stored.manifest.build_id)
        return stored


def serving_engine(corpus_dir: Path, index_dir: Path, *, progress: bool = False) -> LiveEngine:
    """The engine `chatbot serve` answers with: questions that arrive together share one model
    call (`BatchingEmbedder`), a damaged index is rebuilt at start (`open_for_serving`), and each
    new build is served without a restart (`LiveEngine`)."""
    from chatbot.answering.engine import Engine
    from chatbot.answering.live import LiveEngine
    from chatbot.indexing.embedding import BatchingEmbedder, MiniLMEmbedder

    embedder = BatchingEmbedder(MiniLMEmbedder())
    index = open_for_serving(corpus_dir, index_dir, embedder, progress=progress)
    return LiveEngine(Engine(index, embedder), index_dir)
