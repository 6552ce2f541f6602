"""Covered or not: whether the passages found answer the question at all, and how surely.

The one home of that decision. Evidence: the best sentence's cosine with the query (meaning) plus
the share of the question's words the best passage holds, each word weighed by its rarity in the
corpus and in English (`word_weights`). A question that asks for a kind of fact (a cost, an age)
is covered only when a passage found gives one (`question.answer_kinds`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chatbot.answering.retrieval import Hit
from chatbot.indexing.bm25 import BM25Index
from chatbot.language import WHO, term_words
from chatbot.question.answer_kinds import BY_NAME, gives
from chatbot.question.query import SearchQuery
from chatbot.question.spelling import specificity

# "Is this covered at all?" combines two kinds of evidence about the closest passages: the cosine
# similarity of the query (meaning) and the share of the query's words they contain, each word
# weighed by its rarity in the corpus and in English (words, which catch acronyms and drug names the
# model does not know, and a specific thing the article never names: "dialysis", "insurance").
# Below the threshold the corpus is taken not to cover the question. Both numbers were chosen on
# the tuning sets, dev, tune and tune2: the most off-topic questions declined while answering at
# least 97% of answerable ones. `chatbot eval` prints the trade-off.
LEXICAL_WEIGHT = 1.0
COVER_THRESHOLD = 0.84
# An answer whose evidence clears the threshold by less than this is tentative: the reader is told
# the passages are the closest the article has and may not answer exactly. On the tuning sets, 6 of
# the 28 answered questions within this margin were off-topic (near-topic questions the article does
# not answer: flying after a transplant, smoking, pregnancy), against 2 of the 278 above it.
TENTATIVE_MARGIN = 0.21


@dataclass(frozen=True)
class Found:
    """What one search query found, with the evidence that the corpus covers it."""

    search: SearchQuery
    vector: np.ndarray
    hits: list[Hit]
    best_sentence: float
    best_cover: float

    @property
    def confidence(self) -> float:
        return self.best_sentence + LEXICAL_WEIGHT * self.best_cover


@dataclass(frozen=True)
class Verdict:
    """Covered or not, and why, in words staff read on the review page."""

    covered: bool
    tentative: bool  # covered, but the evidence only just clears the threshold
    lacking: str  # the kind of fact asked for that no passage found gives ("a cost or price")
    reason: str


def word_weights(bm25: BM25Index, text: str) -> dict[str, float]:
    """The question's terms, weighed for word coverage: rare in the corpus (idf) and specific
    in English (see `question.spelling.specificity`). Who the question is about is left out."""
    weights: dict[str, float] = {}
    for word, term in term_words(text):
        if term not in WHO:
            weight = bm25.idf(term) * specificity(word)
            weights[term] = max(weights.get(term, 0.0), weight)
    return weights


def found(bm25: BM25Index, search: SearchQuery, vector: np.ndarray, hits: list[Hit]) -> Found:
    """The evidence of what `search` found: best sentence cosine, best word coverage."""
    best_sentence = max((h.sentence_score for h in hits), default=0.0)
    weights = word_weights(bm25, search.clinical)
    best_cover = max((bm25.coverage(weights, h.position) for h in hits), default=0.0)
    return Found(search, vector, hits, best_sentence, best_cover)


def judge(evidence: Found, threshold: float) -> Verdict:
    """Covered when the evidence reaches `threshold` and a passage gives the kind of fact asked."""
    confidence, search = evidence.confidence, evidence.search
    told = (
        f"sentence similarity {evidence.best_sentence:.2f} + {LEXICAL_WEIGHT} × word coverage "
        f"{evidence.best_cover:.2f} = {confidence:.2f}"
    )
    covered = confidence >= threshold
    lacking = ""
    if covered and search.expects and not any(gives(search.expects, h.chunk.text) for h in evidence.hits):
        # About the right topic, but without the fact asked for: no passage found names a cost.
        covered, lacking = False, BY_NAME[search.expects].label
    if covered:
        tentative = confidence < threshold + TENTATIVE_MARGIN
        reason = f"covered: {told} ≥ threshold {threshold:.2f}" + (
            f", by less than {TENTATIVE_MARGIN:.2f}: tentative" if tentative else ""
        )
        return Verdict(True, tentative, "", reason)
    reason = (
        f"not covered: the question asks for {lacking}, and no passage found gives one"
        if lacking
        else f"not covered: {told} is below the threshold {threshold:.2f}"
    )
    return Verdict(False, False, lacking, reason)
