"""Words: the one tokenizer, and the BM25 index built on it.

BM25 catches what the embedding model blurs (drug names, "IMiDs", "CT scan"), and the same
tokenizer feeds typo correction and highlights, so the three agree on what a word is.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
# Common English function words; question words are kept out of BM25 because every question has them.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "may",
        "might",
        "must",
        "shall",
        "us",
        "get",
        "got",
        "tell",
        "know",
        "please",
        "thanks",
        "thank",
        "i'm",
        "it's",
        "what's",
        "whats",
        "dont",
        "cant",
        "wont",
        "doesnt",
        "didnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "hasnt",
        "havent",
        "shouldnt",
        "couldnt",
        "wouldnt",
        "don't",
        "im",
        "ive",
        "i've",
    ]
)


def words(text: str) -> list[str]:
    """Lower-cased words of a text, apostrophes normalised, nothing removed."""
    return [w.replace("’", "'") for w in _WORD.findall(text.lower())]


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


def term_words(text: str) -> list[tuple[str, str]]:
    """The content words of a text, each with its BM25 term (its stem)."""
    return [(w, stem(w)) for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


def terms(text: str) -> list[str]:
    """BM25 terms: content words, stemmed."""
    return [t for _, t in term_words(text)]


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
