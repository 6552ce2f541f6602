"""Answering: the passages that answer a question, chosen and cited, or an honest "not covered".

Stage 5. In: a question and an open index. Out: an `Answer` of `Passage`s, each the corpus's own
words with its section.

- `answerer`: the `Answerer` seam every front end is typed against.
- `engine`: the `Engine` (and `open_engine`): safety, query, retrieval, coverage, passages.
- `retrieval`: dense and BM25 search, fused.
- `live`: an engine that follows the index's manifest and serves each new build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot.lazy import lazy_exports

if TYPE_CHECKING:
    from chatbot.answering.answerer import Answerer
    from chatbot.answering.engine import Answer, Engine, Passage, open_engine
    from chatbot.answering.live import LiveEngine
    from chatbot.answering.retrieval import Fusion, Retriever

_EXPORTS = {
    "Answerer": ".answerer",
    "Answer": ".engine",
    "Engine": ".engine",
    "Passage": ".engine",
    "open_engine": ".engine",
    "Fusion": ".retrieval",
    "Retriever": ".retrieval",
    "LiveEngine": ".live",
}
__all__ = ["Answer", "Answerer", "Engine", "Fusion", "LiveEngine", "Passage", "Retriever", "open_engine"]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
