"""Covered or not: whether the passages found answer the question, may not say exactly, or the
question is outside the corpus's subject. The one home of that decision (`judge`).

Evidence: the best sentence's cosine with the query (meaning) plus the share of the question's
words the best passage holds, each word weighed by its rarity in the corpus and in English
(`word_weights`). Three outcomes:

- `answer`: the evidence is strong, and nothing specific the question asks for is missing;
- `closest`: on the corpus's subject, but the article may not say exactly: the evidence is only
  fair, or the question asks for a kind of fact no passage found gives (a cost, a dose, a date:
  `question.answer_kinds`), or it names something the corpus never names (a drug, a place, a
  person: `unnamed`). The best one or two passages are shown, led by a line that says so;
- `not_covered`: outside the corpus's subject (weather, recipes, sport), judged on the message's
  own words, so that an earlier question never makes an unrelated one look on-topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from chatbot.answering.retrieval import Hit
from chatbot.indexing.bm25 import BM25Index
from chatbot.language import QUESTION_FILLER, STOPWORDS, WHO, term_words
from chatbot.question.answer_kinds import BY_NAME, gives
from chatbot.question.query import SearchQuery
from chatbot.question.spelling import english_words, slip, specificity

_WORD_IN_TEXT = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n\"“(]|\s-)\s*$")

OUTCOMES = ("answer", "closest", "not_covered")

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
# Below this the question is taken to be outside the corpus's subject (`not_covered`); between it
# and the answer threshold the closest passages are shown with a line saying the article may not
# say exactly. Set on the tuning sets (dev, tune, tune2, tune3), where off-topic questions' own
# words reached 0.05-0.59 (most below 0.3) and only 4 of 412 answerable ones fell below 0.6.
SUBJECT_AT = 0.55
# After a conversation, a question that alone reaches this and reads as an answered question in
# its light ("what happens to the sample afterward?", 0.57 alone) is on the subject: an unmarked
# follow-up. Off-topic questions asked after myeloma ones reached at most 0.13 alone.
FOLLOWUP_SUBJECT_AT = 0.45
# A message that tells its story first is judged against the whole message, whose meaning and words
# are spread over the story: the best passage's sentence and words match a smaller share of it. Its
# answer threshold is lower by this. Set on tune3's 26 long messages (dev, tune and tune2 have
# none): their right passages were found at confidence 0.68-0.94 against the 1.05 of a question.
STORY_DISCOUNT = 0.3
# A word the corpus never uses, this specific in English (1: past the model's 10,000th word or
# unknown to it: a drug, a place, a surname), is a named thing the article does not speak of.
NAME_SPECIFICITY = 1.0


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
class Evidence:
    """What one question found: by its own words (`own`), and what is shown (`found`: the same,
    or fused with the conversation when the question alone matched nothing well)."""

    question: str  # the question as the person wrote it (one part of a message that asks two)
    own: Found
    found: Found
    # Whether `found`'s context may count for "is it on the subject at all": yes when it is the
    # same message (a story told first) or the question points back at it ("is it risky?"); no
    # for earlier questions a self-contained one is searched beside.
    context_counts: bool
    story: bool = False  # the message told a story before asking (`question.message`)

    @property
    def strength(self) -> float:
        return max(self.own.confidence, self.found.confidence)

    def on_subject(self, answer_at: float) -> bool:
        """Whether the question is on the corpus's subject at all (see `SUBJECT_AT`)."""
        if self.context_counts:
            return self.strength >= SUBJECT_AT
        own = self.own.confidence
        return own >= SUBJECT_AT or (own >= FOLLOWUP_SUBJECT_AT and self.found.confidence >= answer_at)


@dataclass(frozen=True)
class Verdict:
    """The outcome, and why, in words staff read on the review page."""

    outcome: str  # one of OUTCOMES
    lacking: str  # what the question asks for that no passage found gives ("a cost or price")
    reason: str
    # `closest` because of something specific the corpus lacks (a kind of fact, a name), not
    # because the evidence is only fair
    specific: bool = False

    @property
    def covered(self) -> bool:
        return self.outcome != "not_covered"

    @property
    def tentative(self) -> bool:
        return self.outcome == "closest"


def word_weights(bm25: BM25Index, text: str) -> dict[str, float]:
    """The question's terms, weighed for word coverage: rare in the corpus (idf) and specific
    in English (see `question.spelling.specificity`). Who the question is about is left out."""
    weights: dict[str, float] = {}
    for word, term in term_words(text):
        if term not in WHO:
            weight = bm25.idf(term) * specificity(word)
            weights[term] = max(weights.get(term, 0.0), weight)
    return weights


def found(
    bm25: BM25Index,
    search: SearchQuery,
    vector: np.ndarray,
    hits: list[Hit],
    best_sentence: float | None = None,
) -> Found:
    """The evidence of what `search` found: best sentence cosine (the hits' own, unless given),
    best word coverage."""
    if best_sentence is None:
        best_sentence = max((h.sentence_score for h in hits), default=0.0)
    weights = word_weights(bm25, search.clinical)
    best_cover = max((bm25.coverage(weights, h.position) for h in hits), default=0.0)
    return Found(search, vector, hits, best_sentence, best_cover)


def _english(word: str) -> bool:
    """Whether the model's English knows the word or its stem ("tweaks" is "tweak" + s)."""
    known = english_words()
    return word in known or any(
        word.endswith(end) and word[: -len(end)] in known for end in ("s", "es", "ed", "d", "ing", "ly")
    )


def unnamed(
    bm25: BM25Index, question: str, search: SearchQuery, lay: frozenset[str] = frozenset()
) -> list[str]:
    """Words of the question that name something the corpus never names: a proper name
    (capitalised inside a sentence: "Manchester", "Revlimid", "Dr Patel"), or a word neither the
    corpus, the model's English nor the synonym file (`lay`) knows ("daratumumab", "grapefruit").
    Never a word the corpus uses, whom the question is about, a question word, a word spelling
    correction mended, or a slip of an everyday word (`Speller` leaves those)."""
    mended = {w for w, _ in search.corrections}
    names = []
    for match in _WORD_IN_TEXT.finditer(question):
        word = match.group(0)
        low = word.lower()
        if len(low) < 4 or not low.isalpha() or low in mended:
            continue
        term = next((t for _, t in term_words(low)), "")
        if not term or term in WHO or low in STOPWORDS or low in QUESTION_FILLER or bm25.knows(term):
            continue
        # A capitalised word inside a sentence is a name even when the synonym file leads it to a
        # topic ("Revlimid" to immunomodulatory drugs): the article still never names it.
        proper = word[0].isupper() and not _SENTENCE_START.search(question[: match.start()])
        if proper or (
            low not in lay and specificity(low) >= NAME_SPECIFICITY and not _english(low) and not slip(low)
        ):
            names.append(low)
    return list(dict.fromkeys(names))


def judge(
    evidence: Evidence, threshold: float, bm25: BM25Index | None = None, lay: frozenset[str] = frozenset()
) -> Verdict:
    """The outcome for one question (see the module's docstring)."""
    shown = evidence.found
    confidence, search = evidence.strength, shown.search
    told = (
        f"sentence similarity {shown.best_sentence:.2f} + {LEXICAL_WEIGHT} × word coverage "
        f"{shown.best_cover:.2f} = {shown.confidence:.2f}"
    )
    answer_at = threshold + TENTATIVE_MARGIN - (STORY_DISCOUNT if evidence.story else 0.0)
    if not evidence.on_subject(answer_at):
        return Verdict(
            "not_covered",
            "",
            f"not covered: {told}; the question's own words reach {evidence.own.confidence:.2f}, "
            f"below the subject threshold {SUBJECT_AT:.2f}",
        )
    if search.expects and not any(gives(search.expects, h.chunk.text) for h in shown.hits):
        # About the right topic, but without the fact asked for: no passage found names a cost.
        lacking = BY_NAME[search.expects].label
        return Verdict(
            "closest",
            lacking,
            f"closest: the question asks for {lacking}, and no passage found gives one",
            True,
        )
    names = unnamed(bm25, evidence.question, evidence.own.search, lay) if bm25 is not None else []
    if names:
        return Verdict("closest", "", f"closest: the corpus never names {', '.join(names)}", True)
    if confidence < answer_at:
        return Verdict("closest", "", f"closest: {told}, below the answer threshold {answer_at:.2f}")
    return Verdict("answer", "", f"answer: {told} ≥ threshold {answer_at:.2f}")


def overall(verdicts: list[Verdict]) -> Verdict:
    """One outcome for a message of several questions: `closest` when one asks for something the
    corpus does not give or name (a dose, a drug it never names), else the best of them (a story's
    second question is often a cry, "why me?", that no passage answers and none needs to), or
    not covered when none is on the subject."""
    on_subject = [v for v in verdicts if v.covered]
    if not on_subject:
        return verdicts[0]
    specific = [v for v in on_subject if v.specific]
    if specific:
        return specific[0]
    return min(on_subject, key=lambda v: OUTCOMES.index(v.outcome))
