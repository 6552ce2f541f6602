"""Serve the newest build without a restart: an engine that follows the index's manifest.

`chatbot index` writes a new build and switches `index/manifest.json` last. A running app looks
at that file (one `stat`, at most once per `interval`, from a watcher thread and on requests);
when it names another build, the build is loaded and its engine made in a background thread
while the current engine keeps answering, and then the reference is swapped in one assignment.
A request takes the engine once and finishes on it, so a request in flight during the swap ends
on the old build, whose files stay on disk until two builds later (see `store.prune_builds`).
A build that cannot be loaded is logged and the current one kept.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from chatbot.answering.answer import Answer
from chatbot.answering.answerer import DEFAULT_TOP_K, Answerer
from chatbot.answering.engine import Engine
from chatbot.answering.retrieval import Retriever
from chatbot.indexing.embedding import Embedder
from chatbot.indexing.store import MANIFEST, StoredIndex, load_build, read_manifest
from chatbot.question.query import SearchQuery

log = logging.getLogger("chatbot.live")
CHECK_INTERVAL = 1.0  # seconds between two looks at the manifest


class LiveEngine(Answerer):
    """Answers like `Engine`, always from the newest build that loaded without error."""

    def __init__(
        self,
        engine: Engine,
        index_dir: Path,
        *,
        interval: float = CHECK_INTERVAL,
        factory: Callable[[StoredIndex], Engine] | None = None,
        watch: bool = True,
    ) -> None:
        self._engine = engine
        self._index_dir = index_dir
        self._interval = interval
        self._factory = factory or (lambda stored: Engine(stored, engine.embedder, engine.cover_threshold))
        self._lock = threading.Lock()
        self._seen = self._stamp()
        self._next_check = time.monotonic() + interval
        self._loader: threading.Thread | None = None
        self._stop = threading.Event()
        self.swaps = 0  # how many builds have been switched to
        if watch:
            threading.Thread(target=self._watch, name="index-watch", daemon=True).start()

    # --- what the app uses -------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The current engine; take it once per request."""
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self._interval
            self.refresh()
        return self._engine

    def ask(
        self, question: str, history: Sequence[str] = (), top_k: int = DEFAULT_TOP_K, method: str = "hybrid"
    ) -> Answer:
        return self.engine.ask(question, history, top_k, method)

    def search_query(self, question: str, history: Sequence[str] = ()) -> SearchQuery:
        return self.engine.search_query(question, history)

    @property
    def build_id(self) -> str:
        return self.engine.build_id

    @property
    def index(self) -> StoredIndex:
        return self.engine.index

    @property
    def retriever(self) -> Retriever:
        return self.engine.retriever

    @property
    def embedder(self) -> Embedder:
        return self.engine.embedder

    def clear_cache(self) -> None:
        self.engine.clear_cache()

    # --- following the manifest ---------------------------------------------------------------

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._index_dir / MANIFEST)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def refresh(self, wait: bool = False) -> None:
        """Look at the manifest now; when it changed, load the build it names in the background."""
        stamp = self._stamp()
        with self._lock:
            busy = self._loader is not None and self._loader.is_alive()
            if stamp is None or stamp == self._seen or busy:
                loader = self._loader if busy else None
            else:
                self._seen = stamp
                loader = self._loader = threading.Thread(target=self._load, name="index-load", daemon=True)
                loader.start()
        if wait and loader is not None:
            loader.join()

    def _load(self) -> None:
        current = self._engine.build_id
        try:
            manifest = read_manifest(self._index_dir)
            if manifest is None or manifest.build_id == current:
                return
            started = time.perf_counter()
            engine = self._factory(load_build(self._index_dir, manifest))
        except Exception as exc:  # a bad build must never take the running app down
            log.warning("cannot load the new index build (%s); still serving build %s", exc, current)
            return
        self._engine = engine
        self.swaps += 1
        log.info(
            "now serving build %s (%d chunks), loaded in %.1fs",
            engine.build_id,
            len(engine.index.chunks),
            time.perf_counter() - started,
        )

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            self.refresh()

    def close(self) -> None:
        """Stop watching the manifest (the current engine keeps answering)."""
        self._stop.set()

    def __enter__(self) -> LiveEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
