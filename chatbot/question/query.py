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

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chatbot.language import (
    ANAPHORA,
    CONNECTOR_PHRASES,
    CONNECTORS,
    DEMONSTRATIVES,
    GENERIC_NOUNS,
    NEGATED_HEADS,
    NOT_SPELT,
    QUESTION_FILLER,
    STOPWORDS,
    WEAK_ANAPHORA,
    stem,
    words,
)
from chatbot.question.answer_kinds import expected_kind
from chatbot.question.spelling import (
    Speller,
)

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
    if ws[i] not in DEMONSTRATIVES:
        return False
    after = ws[i + 1] if i + 1 < len(ws) else ""
    return after in GENERIC_NOUNS or ws[max(0, i - 2) : i] == ["all", "of"] or ws[i - 1 : i] == ["all"]


def is_followup(question: str) -> bool:
    """A question that cannot stand alone: a pronoun with few content words, or a connector start."""
    ws = words(question)
    if not ws:
        return False
    if ws[0] in CONNECTORS or " ".join(ws[:2]) in CONNECTOR_PHRASES:
        return True
    content = [w for w in ws if w not in STOPWORDS and w not in ANAPHORA and w not in QUESTION_FILLER]
    if any(w in ANAPHORA and not _generic(ws, i) for i, w in enumerate(ws)):
        return len(content) <= 3
    if any(w in WEAK_ANAPHORA for w in ws):
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


def _tokens(text: str) -> list[tuple[int, str]]:
    """(word position, stem) of each token a lay phrase is matched on. A negative contraction is
    its two words ("isn't" is "is", "not"; "doesnt" is "does", "not"), so that one entry, "not
    responding", also finds "isn't responding" and "are not responding"."""
    out: list[tuple[int, str]] = []
    for i, w in enumerate(words(text)):
        m = NOT_SPELT.match(w)
        if m:
            head = m.group(1) or m.group(2)
            out += [(i, stem(NEGATED_HEADS.get(head, head))), (i, "not")]
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
    if not any(w not in STOPWORDS and w not in ANAPHORA for w in subject):
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
