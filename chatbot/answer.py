"""Answer a question with the corpus's own words: the pipeline every front end calls.

The chat, `chatbot ask` and the evaluation scripts all go through `Engine.ask`, so what support
staff check from the command line is exactly what a patient saw. Steps: clean the input, build the
search query (follow-ups, spelling, synonyms), retrieve (hybrid), decide whether the corpus covers
the question at all, merge passages of one section, and mark the sentences that answer best.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np

from chatbot.advice import advice_framing
from chatbot.embedding import Embedder
from chatbot.lexical import terms, words
from chatbot.query import SearchQuery, Speller, build_query, synonym_table
from chatbot.retrieval import RRF_K, WEIGHTS, Hit, Retriever
from chatbot.safety import check_message
from chatbot.store import StoredIndex

DEFAULT_TOP_K = 3
MAX_TOP_K = 20
# Questions are short; a pasted page is cut here, at a word boundary, so that a huge input costs
# no more than a long question (the model itself reads only the first 256 tokens).
MAX_QUESTION_CHARS = 1000
# "Is this covered at all?" combines two kinds of evidence about the closest passages: the cosine
# similarity of the query (meaning) and the share of the query's idf weight they contain (words,
# which catches acronyms and drug names the model does not know). Below the threshold the corpus
# is taken not to cover the question. Calibrated on the development set: `chatbot eval` prints the
# trade-off between answering answerable questions and declining off-topic ones.
LEXICAL_WEIGHT = 0.3
COVER_THRESHOLD = 0.34
# Two passages of one section are merged when the result stays readable.
MAX_MERGED_CHARS = 1600
ANSWER_CACHE = 512  # answers kept for repeated questions (an engine serves one index build)
# Earlier questions used for a follow-up: only the recent chain matters, and a client sending
# thousands must not slow an answer down.
MAX_HISTORY = 20
HIGHLIGHT_MARGIN = 0.06
MAX_HIGHLIGHTS = 2
# Control and invisible characters, and lone surrogates (valid in JSON escapes and Python strings,
# but not text: the tokenizer, UTF-8 output and SQLite all refuse them).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff\ud800-\udfff]")
_MAX_FUSED = sum(WEIGHTS) / (RRF_K + 1)  # a chunk ranked first by every retriever scores 1.0


@dataclass(frozen=True)
class Passage:
    """A passage shown to the user: exact corpus text, where it comes from, and why it was chosen."""

    id: str
    text: str
    source: str
    section: str
    score: float
    start: int
    end: int
    highlights: tuple[tuple[int, int], ...] = ()
    dense_score: float = 0.0
    dense_rank: int | None = None
    bm25_score: float = 0.0
    bm25_rank: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "source": self.source,
            "section": self.section,
            "score": round(self.score, 6),
            "start": self.start,
            "end": self.end,
            "highlights": [list(h) for h in self.highlights],
            "ranks": {"dense": self.dense_rank, "bm25": self.bm25_rank},
        }


@dataclass(frozen=True)
class Answer:
    """Everything shown for one question."""

    question: str
    query: str
    answered: bool
    passages: tuple[Passage, ...]
    provenance: tuple[str, ...] = ()
    alert: dict[str, str] | None = None
    advice: str | None = None
    confidence: float = 0.0  # the coverage score compared with the threshold
    reason: str = ""  # why the question was or was not taken as covered, for staff
    closest_sections: tuple[str, ...] = ()  # offered to browse when not covered
    search: SearchQuery | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "question": self.question,
            "query": self.query,
            "answered": self.answered,
            "alert": self.alert,
            "advice": self.advice,
            "passages": [p.to_json() for p in self.passages],
        }
        if not self.answered and self.closest_sections:
            out["closest_sections"] = list(self.closest_sections)
        return out


def clean_question(text: str) -> str:
    """Normalise what a person typed: unicode form, no control characters, bounded length."""
    text = text.strip()[: MAX_QUESTION_CHARS * 20]  # a pasted book costs no more than a page
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    if len(text) > MAX_QUESTION_CHARS:
        cut = text.rfind(" ", 0, MAX_QUESTION_CHARS)
        text = text[: cut if cut > MAX_QUESTION_CHARS // 2 else MAX_QUESTION_CHARS]
    return text


@dataclass
class _Group:
    """Hits of one passage being assembled (one chunk, or neighbours of one section)."""

    hits: list[Hit]
    start: int
    end: int


class Engine:
    """Holds the loaded index and the model; answers questions."""

    def __init__(
        self, index: StoredIndex, embedder: Embedder, cover_threshold: float = COVER_THRESHOLD
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.cover_threshold = cover_threshold
        self.retriever = Retriever(index)
        self.speller = Speller(w for c in index.chunks for w in words(c.lexical_text))
        self.synonyms = synonym_table(index.synonyms)
        self._cached = lru_cache(maxsize=ANSWER_CACHE)(self._answer)

    def clear_cache(self) -> None:
        """Forget cached answers (benchmarks time the real work)."""
        self._cached.cache_clear()

    @property
    def build_id(self) -> str:
        return self.index.manifest.build_id

    def search_query(self, question: str, history: Sequence[str] = ()) -> SearchQuery:
        return build_query(
            clean_question(question), [clean_question(h) for h in history], self.speller, self.synonyms
        )

    def ask(
        self, question: str, history: Sequence[str] = (), top_k: int = DEFAULT_TOP_K, method: str = "hybrid"
    ) -> Answer:
        """The best passages for a question; `history` holds the earlier questions, oldest first.

        Answers are cached by (question, history, top_k, method): example questions are asked
        again and again, and an Answer is immutable, so a repeat costs nothing.
        """
        earlier = tuple(clean_question(h) for h in list(history)[-MAX_HISTORY:])
        return self._cached(clean_question(question), earlier, max(1, min(top_k, MAX_TOP_K)), method)

    def _answer(self, question: str, history: tuple[str, ...], top_k: int, method: str) -> Answer:
        if not question or not words(question):
            return Answer(question, "", False, (), reason="the question has no words to search for")
        # Danger first: the alert is decided before, and whatever, retrieval finds.
        found = check_message(question)
        alert = {"kind": found.kind, "message": found.message} if found else None
        answer = self._retrieve(question, history, top_k, method)
        return replace(answer, alert=alert, advice=advice_framing(question))

    def _retrieve(self, question: str, history: Sequence[str], top_k: int, method: str) -> Answer:
        search = self.search_query(question, history)
        vector = self.embedder.encode([search.text])[0]
        hits = self.retriever.search(vector, terms(search.text), top_k * 4, method)
        best_dense = max((h.dense_score for h in hits), default=0.0)
        own_terms = terms(search.corrected)
        best_cover = max((self.retriever.bm25.coverage(own_terms, h.position) for h in hits), default=0.0)
        confidence = best_dense + LEXICAL_WEIGHT * best_cover
        closest = tuple(dict.fromkeys(h.chunk.citation for h in hits))[:3]
        evidence = (
            f"similarity {best_dense:.2f} + {LEXICAL_WEIGHT} × word coverage {best_cover:.2f} "
            f"= {confidence:.2f}"
        )
        covered = confidence >= self.cover_threshold
        if covered:
            passages = tuple(self._passage(g, vector, method) for g in self._group(hits, top_k))
            reason = f"covered: {evidence} ≥ threshold {self.cover_threshold:.2f}"
        else:
            passages = ()
            reason = f"not covered: {evidence} is below the threshold {self.cover_threshold:.2f}"
        # Provenance on every answer: of the passages shown, or of the sections offered instead.
        shown = [p.source for p in passages] or [h.chunk.source for h in hits[:3]]
        return Answer(
            question,
            search.text,
            bool(passages),
            passages,
            self._provenance(shown),
            confidence=confidence,
            reason=reason,
            closest_sections=closest,
            search=search,
        )

    def _provenance(self, sources: Iterable[str]) -> tuple[str, ...]:
        docs = self.index.documents
        return tuple(docs[s].provenance.line() for s in dict.fromkeys(sources) if s in docs)

    def _group(self, hits: list[Hit], top_k: int) -> list[_Group]:
        """Passages from ranked hits: one section's neighbours merged, near-duplicates dropped."""
        groups: list[_Group] = []
        seen_words: list[set[str]] = []
        for hit in hits:
            c = hit.chunk
            same = next(
                (
                    g
                    for g in groups
                    if g.hits[0].chunk.source == c.source and g.hits[0].chunk.section == c.section
                ),
                None,
            )
            if same is not None:
                start, end = min(same.start, c.start), max(same.end, c.end)
                if end - start <= MAX_MERGED_CHARS:
                    same.hits.append(hit)
                    same.start, same.end = start, end
                continue
            if len(groups) == top_k:
                continue
            ws = set(words(c.text))
            if any(len(ws & s) / max(1, len(ws | s)) >= 0.8 for s in seen_words):
                continue  # the same text under another heading or file
            groups.append(_Group([hit], c.start, c.end))
            seen_words.append(ws)
        return groups

    def _passage(self, group: _Group, query_vector: np.ndarray, method: str) -> Passage:
        best = group.hits[0]
        first = min(group.hits, key=lambda h: h.chunk.start).chunk
        if len(group.hits) == 1:
            text = best.chunk.text
        else:
            text = self.index.documents[first.source].text[group.start : group.end]
        score = best.score / _MAX_FUSED if method == "hybrid" else best.score
        return Passage(
            id=first.id
            if len(group.hits) == 1
            else "+".join(h.chunk.id for h in sorted(group.hits, key=lambda h: h.chunk.start)),
            text=text,
            source=first.source,
            section=first.citation,
            score=score,
            start=group.start,
            end=group.end,
            highlights=self._highlights(group, query_vector),
            dense_score=best.dense_score,
            dense_rank=best.dense_rank,
            bm25_score=best.bm25_score,
            bm25_rank=best.bm25_rank,
        )

    def _highlights(self, group: _Group, query_vector: np.ndarray) -> tuple[tuple[int, int], ...]:
        """The sentences of a passage closest to the query (offsets into the passage's text)."""
        spans: list[tuple[int, int]] = []
        rows: list[np.ndarray] = []
        offsets = self.index.sentence_offsets
        for hit in group.hits:
            shift = hit.chunk.start - group.start
            lo, hi = int(offsets[hit.position]), int(offsets[hit.position + 1])
            spans.extend((s + shift, e + shift) for s, e in hit.chunk.sentences)
            rows.append(np.asarray(self.index.sentence_vectors[lo:hi]))
        if not spans:
            return ()
        sims = np.concatenate(rows) @ query_vector
        best = float(sims.max())
        order = np.argsort(-sims, kind="stable")[:MAX_HIGHLIGHTS]
        chosen = sorted(spans[i] for i in order if sims[i] >= best - HIGHLIGHT_MARGIN)
        return tuple(dict.fromkeys(chosen))
