"""Answer a question with the corpus's own words: the pipeline every front end calls.

The chat, `chatbot ask` and the evaluation scripts all go through `Engine.ask`, so what support
staff check from the command line is exactly what a patient saw. Steps: clean the input
(`question.cleaning`), check it for danger (`safety`), build the search query (follow-ups,
spelling, synonyms: `question.query`), retrieve (hybrid: `retrieval`), decide whether the corpus
covers the question at all (`coverage`), and choose the passages shown (`passages`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from chatbot.answering.answer import Answer, Passage
from chatbot.answering.answerer import DEFAULT_TOP_K, Answerer
from chatbot.answering.coverage import COVER_THRESHOLD, Evidence, Found, found, judge, overall, word_weights
from chatbot.answering.passages import DIVERSITY, choose, interleaved
from chatbot.answering.retrieval import FUSION, Fusion, Retriever, Variant
from chatbot.indexing.embedding import Embedder
from chatbot.indexing.store import StoredIndex
from chatbot.language import words
from chatbot.question.cleaning import clean_question
from chatbot.question.message import read_message
from chatbot.question.query import SearchQuery, build_query, synonym_table
from chatbot.question.spelling import Speller
from chatbot.safety.advice import advice_framing
from chatbot.safety.match import check_message

__all__ = ["Answer", "Engine", "Passage", "open_engine"]

MAX_TOP_K = 20
ANSWER_CACHE = 512  # answers kept for repeated questions (an engine serves one index build)
# Earlier questions used for a follow-up: only the recent chain matters, and a client sending
# thousands must not slow an answer down.
MAX_HISTORY = 20
# A question with a conversation before it, whose own words match nothing this well, is searched
# again with the earlier questions: follow-ups do not always carry a pronoun ("what happens to the
# sample afterward?"). Set on the tuning sets, where self-contained questions after a change
# of topic score above it and unmarked follow-ups mostly below (any value from 0.70 to 0.95 ranks
# them alike).
CONTEXT_BELOW = 0.88
# How much the question in the light of its context counts beside the question alone (weight 1)
# when both are searched: less, so that the new question's own words lead the ranking (0.5 to
# 1.5 ranked the tuning sets alike).
CONTEXT_WEIGHT = 0.5
# A rewrite of the question (spelling, text-speak, synonyms) whose best passage is not even among
# the candidates the words as typed find (`CANDIDATES` x top_k) moved the ranking to another topic,
# and is fused with the typed words, weighted `AS_TYPED` (see `Engine._own`). On the tuning sets
# (dev, tune, tune2, tune3: 427 answerable) the check, at depths 5-30 and weights 0.5-1, moved
# hit@1 by at most 2 questions either way: it guards against the hijack without costing answers.
AS_TYPED = 0.5
CANDIDATES = 4  # hits searched per passage shown: room for merging, diversity and the checks
CLOSEST_SHOWN = 2  # passages shown when the article may not say exactly: the best one or two
EMERGENCY_ONLY = "an emergency: the card is the whole answer"


def _mean(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """The direction between several unit vectors (what highlights a passage for a two-part message)."""
    total = np.sum(vectors, axis=0)
    return total / max(float(np.linalg.norm(total)), 1e-12)


class Engine(Answerer):
    """Holds the loaded index and the model; answers questions."""

    def __init__(
        self,
        index: StoredIndex,
        embedder: Embedder,
        cover_threshold: float = COVER_THRESHOLD,
        fusion: Fusion = FUSION,
        diversity: float = DIVERSITY,
    ) -> None:
        self._index = index
        self.embedder = embedder
        self.cover_threshold = cover_threshold
        self.diversity = diversity
        self._retriever = Retriever(index, fusion)
        # The synonym file's lay words: never corrected, and (uncapitalised) not taken for a name,
        # except those of its `[names]`, which name what the corpus covers only as a class.
        self.lay_words = frozenset(w for key in index.synonyms for w in words(key))
        named = frozenset(w for key in index.names for w in words(key))
        self.speller = Speller(
            (w for c in index.chunks for w in words(c.lexical_text)),
            protected=self.lay_words,
        )
        self._everyday = self.lay_words - named
        self.synonyms = synonym_table(index.synonyms)
        self._cached = lru_cache(maxsize=ANSWER_CACHE)(self._answer)

    def clear_cache(self) -> None:
        """Forget cached answers (benchmarks time the real work)."""
        self._cached.cache_clear()

    @property
    def build_id(self) -> str:
        return self.index.manifest.build_id

    @property
    def index(self) -> StoredIndex:
        return self._index

    @property
    def retriever(self) -> Retriever:
        return self._retriever

    def search_query(
        self, question: str, history: Sequence[str] = (), force_context: bool = False
    ) -> SearchQuery:
        return build_query(
            clean_question(question),
            [clean_question(h) for h in history],
            self.speller,
            self.synonyms,
            force_context,
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
        if found and found.kind == "emergency":
            # Nothing after an emergency card: a passage below it would only compete for the eyes.
            return Answer(question, "", False, (), alert=alert, reason=EMERGENCY_ONLY)
        answer = self._retrieve(question, history, top_k, method)
        return replace(answer, alert=alert, advice=advice_framing(question))

    def _search(
        self,
        search: SearchQuery,
        vector: np.ndarray,
        top_k: int,
        method: str,
        also: Sequence[Variant] = (),
        weight: float = 1.0,
    ) -> Found:
        """What `search` finds (fused with the other readings `also`, when given), with the
        evidence of coverage measured against `search` itself."""
        hits = self.retriever.find_all([Variant(vector, search, weight), *also], top_k * CANDIDATES, method)
        return found(self.retriever.bm25, search, vector, hits)

    def _word_weights(self, text: str) -> dict[str, float]:
        return word_weights(self.retriever.bm25, text)

    def _own(
        self, question: str, context: Sequence[str], top_k: int, method: str
    ) -> tuple[Found, list[Variant]]:
        """The question searched by its own words, and the readings any context search must keep.

        A rewrite (spelling, text-speak, synonyms) is checked against the words as typed: when the
        rewrite's best passage is among the candidates the typed words find too, it only
        sharpens them ("isn't responding" read as "refractory") and is searched alone. When it is
        not, the rewrite moved the ranking to another topic ("meds" read as "drugs" finding
        "New Drugs" for a question about tiredness), and both readings are fused (`AS_TYPED`),
        so that the rewrite cannot take rank 1 on its own.
        """
        search = self.search_query(question, context)
        if not (search.corrections or search.expansions):
            return self._search(search, self.embedder.encode([search.text])[0], top_k, method), []
        typed = build_query(clean_question(question), [clean_question(h) for h in context], None, {})
        vectors = self.embedder.encode([search.text, typed.text])  # one call: the model batches them
        rewritten = self._search(search, vectors[0], top_k, method)
        as_typed = Variant(vectors[1], typed, AS_TYPED)
        agree = {h.position for h in self.retriever.find_all([as_typed], top_k * CANDIDATES, method)}
        if not rewritten.hits or rewritten.hits[0].position in agree:
            return rewritten, []
        return self._search(search, vectors[0], top_k, method, [as_typed]), [as_typed]

    def _evidence(
        self, question: str, history: Sequence[str], told: Sequence[str], top_k: int, method: str, story: bool
    ) -> Evidence:
        """What the corpus holds for one question, asked after `history` (earlier questions) and
        `told` (what the same message said before it: a story, an earlier question of two).

        A follow-up marked by a pronoun ("is it risky?") is searched with the conversation's topic.
        A question that stands on its own is searched on its own; only when it alone matches
        nothing well ("what happens to the sample afterward?") is its context searched too, fused
        with it at `CONTEXT_WEIGHT` so that its own words still lead. Whether the question is on
        the corpus's subject at all is judged on the message's own words: an earlier question about
        transplants never makes "what's the weather tomorrow?" one.
        """
        context = (*history, *told)
        own, typed = self._own(question, context, top_k, method)
        if not context or own.search.followup or own.confidence >= CONTEXT_BELOW:
            return Evidence(question, own, own, own.search.followup or bool(told), story)
        in_context = self.search_query(question, context, True)
        vector = self.embedder.encode([in_context.text])[0]
        also = [*typed, Variant(own.vector, own.search, 1.0)]
        with_context = self._search(in_context, vector, top_k, method, also, CONTEXT_WEIGHT)
        # The passages found in context, judged by the question's own words too: a story told
        # first makes the whole message's words many, and each one a small share of them.
        hits = with_context.hits
        sentences = self.retriever.sentence_scores(own.vector, [h.position for h in hits])
        by_own = found(self.retriever.bm25, own.search, own.vector, hits, float(max(sentences, default=0.0)))
        better = max(with_context, by_own, key=lambda f: f.confidence)
        return Evidence(question, own, replace(better, search=in_context, vector=vector), bool(told), story)

    def _retrieve(self, question: str, history: Sequence[str], top_k: int, method: str) -> Answer:
        """Each question of the message searched in its context, judged, and its passages chosen."""
        reading = read_message(question)
        evidence = []
        for n, part in enumerate(reading.parts):
            told = tuple(t for t in (reading.background, *reading.parts[:n]) if t)
            evidence.append(self._evidence(part, history, told, top_k, method, bool(reading.background)))
        verdicts = [judge(e, self.cover_threshold, self.retriever.bm25, self._everyday) for e in evidence]
        verdict = overall(verdicts)
        # A question off the subject is reported by its own words: an earlier question it was
        # searched beside is neither what was searched for nor where to browse.
        shown = [e.found if v.covered else e.own for e, v in zip(evidence, verdicts, strict=True)]
        hits = interleaved([f.hits for f in shown])
        first = shown[0]
        vector = first.vector if len(shown) == 1 else _mean([f.vector for f in shown])
        passages: tuple[Passage, ...] = ()
        if verdict.outcome != "not_covered":
            hybrid = method == "hybrid" and len(evidence) == 1
            passages = choose(
                self.index,
                hits,
                vector,
                top_k if verdict.outcome == "answer" else min(top_k, CLOSEST_SHOWN),
                diversity=self.diversity if hybrid else 0.0,
                scale=self.retriever.fusion.max_score if method == "hybrid" else 1.0,
            )
        # Provenance on every answer: of the passages shown, or of the sections offered instead.
        sources = [p.source for p in passages] or [h.chunk.source for h in hits[:3]]
        return Answer(
            question,
            " / ".join(f.search.text for f in shown),
            bool(passages),
            passages,
            self._provenance(sources),
            confidence=min(e.strength for e in evidence),
            tentative=verdict.outcome == "closest" and bool(passages),
            reason="; ".join(v.reason for v in verdicts),
            closest_sections=tuple(dict.fromkeys(h.chunk.citation for h in hits))[:3],
            lacking=verdict.lacking,
            search=first.search,
            vector=vector,
        )

    def _provenance(self, sources: Iterable[str]) -> tuple[str, ...]:
        docs = self.index.documents
        return tuple(docs[s].provenance.line() for s in dict.fromkeys(sources) if s in docs)


def open_engine(
    corpus_dir: Path = Path("corpus"),
    index_dir: Path = Path("index"),
    embedder: Embedder | None = None,
    *,
    progress: bool = False,
) -> Engine:
    """The engine over an index, built first when missing or stale (the real model by default).

    What `chatbot ask` and `chatbot eval` use; a library user's one call:
    `open_engine().ask("what is refractory myeloma?")`.
    """
    from chatbot.indexing.build import open_index
    from chatbot.indexing.embedding import MiniLMEmbedder

    embedder = embedder or MiniLMEmbedder()
    return Engine(open_index(corpus_dir, index_dir, embedder, progress=progress), embedder)
