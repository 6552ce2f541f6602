"""The BM25 index, built on the one tokenizer (`chatbot.language`).

BM25 catches what the embedding model blurs (drug names, "IMiDs", "CT scan"), and the same
tokenizer feeds typo correction and highlights, so the three agree on what a word is.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from chatbot.language import terms


class BM25Index:
    """BM25 (Lucene variant, via bm25s) over a fixed list of texts."""

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        self.size = len(texts)
        self._bm25 = bm25s.BM25(k1=1.2, b=0.75)
        corpus_terms = [terms(t) or ["∅"] for t in texts]
        self._bm25.index(corpus_terms, show_progress=False)
        self._doc_terms = [frozenset(t) for t in corpus_terms]
        self._df = Counter(t for doc in self._doc_terms for t in doc)

    def idf(self, term: str) -> float:
        """Inverse document frequency; a term the corpus never uses weighs the most."""
        return math.log(1 + (self.size + 1) / (self._df.get(term, 0) + 0.5))

    def knows(self, term: str) -> bool:
        """Whether any text of the corpus uses `term`."""
        return term in self._df

    def coverage(self, weights: Mapping[str, float], position: int) -> float:
        """Share of the query terms' weight (term -> weight) that occurs in text number `position`."""
        total = sum(weights.values())
        if total <= 0:
            return 0.0
        return sum(w for t, w in weights.items() if t in self._doc_terms[position]) / total

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every text for the query (zeros where nothing matches)."""
        known = [t for t in query_terms if t in self._bm25.vocab_dict]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)
