"""A message as the safety rules read it: normalised tokens, numbers, and typo-tolerant words.

What `normalise` makes of a message (tags, invisible characters, contractions and punctuation
resolved into words, sentence and clause boundaries) is what every rule phrase and cue is matched
against; `Lexicon` finds a rule word in a message despite a slip of the keyboard.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

from chatbot.language import APOSTROPHES, CONTRACTIONS, NT, NT_FULL, PRONOUN_S, SUFFIX, SUFFIX_FULL

# Chat messages are short; a pasted document is not. Danger is usually said at the start or the
# end, so a long text is checked on its head and tail: this bounds the time per message.
MAX_CHARS, HEAD_CHARS, TAIL_CHARS = 4000, 3000, 1000
_TAG = re.compile(r"<[^<>]{0,200}>")
_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060\ufeff\u00ad]")
_TOKEN = re.compile(r"[a-z]+|\d+(?:[.,]\d+)?|[.!?;\n]|[,:\u2013\u2014]")
SENTENCE, CLAUSE = ".", ","
BOUNDARIES = frozenset({SENTENCE, CLAUSE})


def normalise(text: str) -> list[str]:
    """Words and boundary marks ("." ends a sentence, "," a clause) of `text`, lowercased."""
    if len(text) > MAX_CHARS:
        text = text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]
    text = _TAG.sub(" ", html.unescape(text))
    text = unicodedata.normalize("NFKD", _INVISIBLE.sub("", text))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = APOSTROPHES.sub("'", text).replace("\r", "\n")
    text = NT.sub(lambda m: " " + NT_FULL[m[1]] if m[1] else " not", text)
    text = PRONOUN_S.sub(r"\1 is", text)
    text = SUFFIX.sub(lambda m: SUFFIX_FULL[m[1]], text).replace("'", "")  # "mum's" -> "mum"
    tokens: list[str] = []
    for tok in _TOKEN.findall(text):
        mark = SENTENCE if tok in ".!?;\n" else CLAUSE if not tok[0].isalnum() else None
        if mark is not None:
            if tokens and tokens[-1] in BOUNDARIES:  # keep the stronger of two marks in a row
                tokens[-1] = SENTENCE if SENTENCE in (mark, tokens[-1]) else CLAUSE
            elif tokens:
                tokens.append(mark)
        else:
            tokens.extend(CONTRACTIONS.get(tok, tok).split())
    return tokens


def as_number(token: str) -> float | None:
    if not token[:1].isdigit():
        return None
    try:
        return float(token.replace(",", "."))
    except ValueError:
        return None


class Lexicon:
    """Which rule words a typed word stands for, allowing a slip scaled to the word's length.

    Words of 1-3 letters must be exact; 4-letter words may only swap two neighbours or double a
    letter ("pian" is "pain", "leggs" is "legs", "week" is not "weak"); 5-7 letters allow one
    slip, 8 or more two. A slip never changes the first letter, and a known real word ("fewer",
    "cooking") is never corrected.
    """

    def __init__(self, words: Iterable[str], stems: Iterable[str], protected: Iterable[str]):
        self._words = frozenset(words)
        self._stems = tuple(sorted(set(stems)))
        self._protected = frozenset(protected)
        by_letter: dict[str, list[str]] = {}
        for word in sorted(self._words):
            if len(word) >= 4 and word.isalpha():
                by_letter.setdefault(word[0], []).append(word)
        self._by_letter = {k: tuple(v) for k, v in by_letter.items()}
        self.keys = lru_cache(maxsize=65536)(self._keys)

    def _keys(self, token: str) -> frozenset[str]:
        """Every rule word ("fever") or prefix ("vomit*") that `token` matches."""
        keys = {token} if token in self._words else set()
        keys.update(stem + "*" for stem in self._stems if token.startswith(stem))
        # A word that is itself a rule word or a known real word is taken as typed.
        if token in self._words or token in self._protected or len(token) < 4 or not token.isalpha():
            return frozenset(keys)
        for word, dist, _ in process.extract(
            token, self._by_letter.get(token[0], ()), scorer=OSA.distance, score_cutoff=2, limit=None
        ):
            if _slip_ok(token, word, int(dist)):
                keys.add(word)
        for stem in self._stems:
            if len(stem) >= 5 and stem[0] == token[0]:
                n = len(stem)
                # the typo sits inside the stem: "vommiting", "vomting" (never a shorter word)
                if any(OSA.distance(token[:m], stem) <= 1 for m in (n, n + 1) if m <= len(token)):
                    keys.add(stem + "*")
        return frozenset(keys)


def _slip_ok(token: str, word: str, dist: int) -> bool:
    if dist == 0 or len(word) <= 3:
        return dist == 0
    if len(word) == 4:  # a swap of neighbours ("pian") or a doubled letter ("leggs"), never "week"
        swapped = len(token) == 4 and sorted(token) == sorted(word)
        doubled = any(
            token[:i] + token[i + 1 :] == word and token[i] == token[i - 1] for i in range(1, len(token))
        )
        return dist == 1 and (swapped or doubled)
    return dist <= (1 if len(word) <= 7 else 2)
