"""Answering: the passages that answer a question, chosen and cited, or an honest "not covered".

Stage 5. In: a question and an open index. Out: an `Answer` of `Passage`s, each the corpus's own
words with its section.

- `answerer`: the `Answerer` seam every front end is typed against.
- `answer`: what an answer is (`Answer`, `Passage`), plain data every front end reads.
- `engine`: the `Engine` (and `open_engine`): safety, query, retrieval, coverage, passages.
- `coverage`: covered or not, and how surely (the one home of that decision).
- `passages`: which hits are shown, merged how, with which sentences marked.
- `retrieval`: dense and BM25 search, fused.
- `live`: an engine that follows the index's manifest and serves each new build.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot.lazy import lazy_exports

if TYPE_CHECKING:
    from chatbot.answering.answer import Answer, Passage
    from chatbot.answering.answerer import Answerer
    from chatbot.answering.coverage import COVER_THRESHOLD, Verdict, judge
    from chatbot.answering.engine import Engine, open_engine
    from chatbot.answering.live import LiveEngine
    from chatbot.answering.passages import DIVERSITY, choose
    from chatbot.answering.retrieval import Fusion, Retriever

_EXPORTS = {
    "Answerer": ".answerer",
    "Answer": ".answer",
    "Passage": ".answer",
    "Engine": ".engine",
    "open_engine": ".engine",
    "COVER_THRESHOLD": ".coverage",
    "Verdict": ".coverage",
    "judge": ".coverage",
    "DIVERSITY": ".passages",
    "choose": ".passages",
    "Fusion": ".retrieval",
    "Retriever": ".retrieval",
    "LiveEngine": ".live",
}
__all__ = [
    "Answer",
    "Answerer",
    "COVER_THRESHOLD",
    "DIVERSITY",
    "Engine",
    "Fusion",
    "LiveEngine",
    "Passage",
    "Retriever",
    "Verdict",
    "choose",
    "judge",
    "open_engine",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
