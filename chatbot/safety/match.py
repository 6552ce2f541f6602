"""Check each chat message for danger before anything else happens.

Some people who write to the chatbot are in danger now (chest pain, a fever during chemotherapy,
weak legs with back pain, thoughts of suicide). A careful health service routes those first, so
`check_message` runs before retrieval and returns an `Alert` saying what to do now.

The rules are data, not code: `chatbot/safety/safety.toml` holds the phrases, the context cues
and each rule's own must-fire / must-not-fire examples, so clinical staff can review and change
them. `chatbot.safety.rules` reads that file; this module matches a message against it:

- text is normalised (case, apostrophes, contractions, HTML, control characters) and split into
  words and clause/sentence boundaries;
- words are matched with typo tolerance (edit distance scaled to word length, via rapidfuzz);
- a match is dropped when its context says it is not happening to this person now: a negation
  ("no fever", "no chest pain or breathlessness"), a condition ("if I get a fever", "how do I
  know if I have an infection"), a long-past episode ("a seizure years ago") or a recent one said
  to be over ("a fever last week, totally fine now"), or an information question with nothing
  tying it to the person ("Can myeloma cause fever?", "Will I be unconscious during it?").
  Each filter is narrow on purpose: between a needless card and a missed emergency, show the card.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Literal

from chatbot.safety.rules import (
    RULES_PATH,
    SEVERITY,
    Pattern,
    Phrase,
    Rule,
    RuleSet,
    SafetyRulesError,
    Term,
    default_rules,
    load_rules,
)
from chatbot.safety.text import BOUNDARIES, SENTENCE, as_number, normalise

__all__ = [
    "RULES_PATH",
    "Alert",
    "RuleSet",
    "SafetyRulesError",
    "check_message",
    "default_rules",
    "fired_rules",
    "load_rules",
    "normalise",
]

MAX_OCCURRENCES = 64  # per phrase, so a pathological repeat cannot blow up the combinations
EXCLUDE_WINDOW = 8  # the narrowest window an exclude pattern ("collapsed + sofa + long day") gets


@dataclass(frozen=True)
class Alert:
    kind: str  # "emergency" | "urgent" | "crisis"
    message: str  # what to do now, plain words
    rule: str  # id of the rule that fired


# ---------------------------------------------------------------- a message, ready to match

Span = tuple[int, int]


class ReadMessage:
    """A normalised message and every phrase and cue found in it, computed once for all rules."""

    def __init__(self, text: str, rs: RuleSet):
        self.rs = rs
        self.toks = tuple(normalise(text))
        self.keys = tuple(rs.lexicon.keys(t) for t in self.toks)
        self.occ: dict[int, list[Span]] = {}  # phrase id -> spans, only phrases that occur
        self.cue_occ: dict[str, list[Span]] = {name: [] for name in rs.cues}
        self._cue_start: dict[tuple[str, int], Span] = {}
        self._cue_end: dict[tuple[str, int], Span] = {}
        sent, clause_start, s, c = [], [], 0, 0
        for i, tok in enumerate(self.toks):
            sent.append(s)
            clause_start.append(c)
            if tok in BOUNDARIES:
                s, c = (s + 1 if tok == SENTENCE else s), i + 1
            self._index(i, tok)
        self.sent, self.clause_start = tuple(sent), tuple(clause_start)
        bounds: dict[int, Span] = {}
        for i, n in enumerate(sent):
            bounds[n] = (bounds.get(n, (i, i))[0], i + 1)
        self.sentences = bounds  # sentence number -> (first token, end)

    def _index(self, i: int, tok: str) -> None:
        if tok in BOUNDARIES:
            return
        number = ("#",) if as_number(tok) is not None else ()
        for key in (*self.keys[i], *number):
            for pid in self.rs.phrases.get(key, ()):
                end = self._match_at(self.rs.phrase_list[pid], i, exact=False)
                if end is not None and len(found := self.occ.setdefault(pid, [])) < MAX_OCCURRENCES:
                    found.append((i, end))
        for key in (tok, *number):
            for name, phrase in self.rs.cue_phrases.get(key, ()):
                end = self._match_at(phrase, i, exact=True)
                if end is not None:
                    self.cue_occ[name].append((i, end))
                    self._cue_start.setdefault((name, i), (i, end))
                    self._cue_end.setdefault((name, end), (i, end))

    def _term_at(self, term: Term, i: int, exact: bool) -> bool:
        if i >= len(self.toks):
            return False
        if term.low is not None and term.high is not None:
            value = as_number(self.toks[i])
            return value is not None and term.low <= value <= term.high
        return self.toks[i] == term.key if exact else term.key in self.keys[i]

    def _match_at(self, phrase: Phrase, i: int, exact: bool) -> int | None:
        """End of `phrase` if it starts at token i; one filler word may sit between two words."""
        j = i
        for n, term in enumerate(phrase):
            ok = self._term_at(term, j, exact)
            if not ok and n > 0 and j < len(self.toks) and self.toks[j] in self.rs.fillers:
                j += 1
                ok = self._term_at(term, j, exact)
            if not ok:
                return None
            j += 1
        return j

    def cue_at(self, name: str, start: int | None = None, end: int | None = None) -> Span | None:
        """The cue of list `name` that starts at `start` or ends at `end`, if any."""
        if start is not None:
            return self._cue_start.get((name, start))
        return self._cue_end.get((name, end)) if end is not None else None

    def has_cue(self, name: str, lo: int, hi: int) -> bool:
        """A cue of list `name` lies wholly within tokens lo..hi-1."""
        return any(lo <= a and b <= hi for a, b in self.cue_occ[name])


# ---------------------------------------------------------------- context filters


def _negated(msg: ReadMessage, span: Span, combo: Sequence[Span] = ()) -> bool:
    """NegEx-style: a cue shortly before ("no fever") or after ("fever is gone") the phrase.

    A cue inside another part of the same match ("can NOT keep + fluids + down") is part of
    what was matched, not a negation of it. A list joined by "or" shares its negation ("not
    having any chest pain OR breathlessness"): the window starts again at the joiner. A cue
    after the phrase that leads straight into another part of the match says what it became,
    not that it went ("my belly has GONE swollen").
    """
    toks, window = msg.toks, msg.rs.windows["negation_window"]
    j, base = span[0] - 1, span[0]
    while j >= 0 and base - j <= window and toks[j] not in BOUNDARIES:
        cue = msg.cue_at("negation_cues", end=j + 1)
        inside = cue is not None and any(a < cue[1] and cue[0] < b for a, b in combo)
        if cue and not inside and not msg.cue_at("pseudo_negation_next", start=cue[1]):
            return True
        if msg.cue_at("scope_breakers", end=j + 1) or msg.cue_at("subject_words", end=j + 1):
            break
        if joiner := msg.cue_at("list_joiners", end=j + 1):
            base = joiner[0]
        j -= 1
    j = span[1]
    while j < len(toks) and j - span[1] < msg.rs.windows["post_negation_window"]:
        if toks[j] in BOUNDARIES or msg.cue_at("scope_breakers", start=j):
            break
        cue = msg.cue_at("post_negation_cues", start=j)
        if cue:
            blocked = msg.cue_at("post_negation_blockers", start=cue[1])
            nxt = cue[1] + (cue[1] < len(toks) and toks[cue[1]] in msg.rs.fillers)
            became = any(a in (cue[1], nxt) for a, _ in combo if a >= cue[1])
            denied = msg.has_cue("negation_cues", max(span[1], cue[0] - 2), cue[0])
            return not blocked and not became and not denied
        j += 1
    return False


def _hypothetical(msg: ReadMessage, span: Span) -> bool:
    """A condition shortly before the phrase: "what should I do if I get a fever".

    "not sure if", "don't know whether" do not count (the person may well have it), but a
    question about how to tell does: "how do I know if I have an infection".
    """
    toks, window = msg.toks, msg.rs.windows["hypothetical_window"]
    j = span[0] - 1
    while j >= 0 and span[0] - j <= window and toks[j] not in BOUNDARIES:
        cue = msg.cue_at("hypothetical_cues", end=j + 1)
        if cue:
            if not msg.cue_at("hypothetical_pseudo_before", end=cue[0]):
                return True
            # "how do I know if I have an infection" asks how to tell; "how do I know if I am
            # having a heart attack my chest is so tight" says more than the one condition
            subjects = sum(cue[1] <= a and b <= span[0] for a, b in msg.cue_occ["subject_words"])
            return subjects <= 1 and msg.cue_at("hypothetical_question_frames", end=cue[0]) is not None
        if msg.cue_at("scope_breakers", end=j + 1):
            break
        j -= 1
    return False


def _sentence_bounds(msg: ReadMessage, span: Span) -> Span:
    return msg.sentences[msg.sent[span[0]]]


def _recoveries(msg: ReadMessage, lo: int, hi: int) -> list[Span]:
    """Cues in tokens lo..hi-1 that say the episode is over ("fine now"), not denied ("not fine now")."""
    return [
        (a, b)
        for a, b in msg.cue_occ["recovery_cues"]
        if lo <= a and b <= hi and not msg.has_cue("negation_cues", max(lo, a - 2), a)
    ]


def _unresolved_recurrence(msg: ReadMessage, lo: int, hi: int, combo: Sequence[Span] = ()) -> bool:
    """A cue in tokens lo..hi-1 that says the episode is back ("again", "now"), not over ("fine now").

    A cue inside the matched words themselves ("BACK pain") says nothing about when.
    """
    over = _recoveries(msg, lo, hi)
    back = [
        (a, b)
        for a, b in msg.cue_occ["recurrence_cues"]
        if lo <= a and b <= hi and not any(a < d and c < b for c, d in combo)
    ]
    return any(not any(c <= a and b <= d for c, d in over) for a, b in back)


def _historical(msg: ReadMessage, span: Span, combo: Sequence[Span] = ()) -> bool:
    """A past episode, not happening now.

    A long-past episode in the same sentence counts unless the sentence says it is back ("a
    seizure years ago"; not "...and now it is back"). A recent one ("last week", "three weeks
    ago") counts only when the message also says it is over, in that sentence or the next
    ("had a fever last week, totally fine now"), and nothing says it is back.
    """
    lo, hi = _sentence_bounds(msg, span)
    if _unresolved_recurrence(msg, lo, hi, combo):
        return False
    window = msg.rs.windows["history_window"]
    near = (max(lo, span[0] - window), min(hi, span[1] + window))
    if msg.has_cue("history_cues", *near):
        return True
    if not msg.has_cue("recent_past_cues", *near):
        return False
    after = msg.sentences.get(msg.sent[span[0]] + 1, (hi, hi))[1]
    return bool(_recoveries(msg, lo, after)) and not _unresolved_recurrence(msg, hi, after)


def _opens_question(msg: ReadMessage, start: int, stop: int) -> bool:
    """Whether the words from `start` open a question ("what", "can", "I read that")."""
    i = start
    while i < stop and (skip := msg.cue_at("skip_at_start", start=i)):
        i = skip[1]
    opener = msg.cue_at("question_openers", start=i) or msg.cue_at("reporting_openers", start=i)
    # "can not breathe", with the "I" left out, is a statement, not a question
    return opener is not None and msg.toks[opener[1] : opener[1] + 1] != ("not",)


def _information_question(msg: ReadMessage, spans: Sequence[Span]) -> bool:
    """The clause asks for information and nothing ties the symptom to the person, now.

    The clause decides ("My husband is on Revlimid, can it cause confusion?"); a clause that
    starts with neither a question word nor a subject inherits the sentence's opening ("What
    are the symptoms of anaemia, fatigue and seizures?").
    """
    first = min(s[0] for s in spans)
    clause, sentence = msg.clause_start[first], _sentence_bounds(msg, spans[0])[0]
    question = _opens_question(msg, clause, first)
    if not question and clause > sentence and not msg.cue_at("subject_words", start=clause):
        question = _opens_question(msg, sentence, first)
    return question and not _personal(msg, spans)


def _personal(msg: ReadMessage, spans: Sequence[Span]) -> bool:
    """A personal word ("I", "my husband", "right now") near the symptom, with no framing word
    ("cause", "side effect") between them: "Can MY chemo CAUSE fever?" stays a question."""
    window = msg.rs.windows["personal_window"]
    pseudo = {
        i
        for name in ("pseudo_personal", "reporting_openers")
        for a, b in msg.cue_occ[name]
        for i in range(a, b)
    }
    for span in spans:
        lo, hi = _sentence_bounds(msg, span)
        for a, b in msg.cue_occ["personal_cues"]:
            if not (lo <= a and b <= hi) or a in pseudo:
                continue
            if a < span[1] and b > span[0]:
                return True  # the phrase itself is personal ("wet myself")
            gap = (b, span[0]) if b <= span[0] else (span[1], a)
            if gap[1] - gap[0] <= window and not msg.has_cue("framing_words", *gap):
                return True
        if any(
            _points_back(msg, sentence, pseudo) for sentence in (msg.sent[span[0]] - 1, msg.sent[span[0]] + 1)
        ):
            return True
    return False


def _points_back(msg: ReadMessage, sentence: int, pseudo: set[int]) -> bool:
    """A neighbouring sentence that is personal and refers back: "I've had it all day"
    (not one that reports what was said: "my nurse mentioned it")."""
    if sentence not in msg.sentences:
        return False
    lo, hi = msg.sentences[sentence]
    personal = any(lo <= a and b <= hi and a not in pseudo for a, b in msg.cue_occ["personal_cues"])
    # "My nurse MENTIONED it once" reports what someone said; it does not say the person has it
    # (unless it also says it is happening now: "the nurse mentioned it and I have it NOW")
    hearsay = msg.has_cue("hearsay_words", lo, hi) and not msg.has_cue("recurrence_cues", lo, hi)
    return personal and msg.has_cue("anaphora", lo, hi) and not hearsay


def _blocked(rule: Rule, msg: ReadMessage, spans: Sequence[Span]) -> bool:
    """Whether the context says this match is not happening to this person now."""
    ctx = rule.context
    if "negation" in ctx and any(_negated(msg, s, spans) for s in spans):
        return True
    if "hypothetical" in ctx and any(_hypothetical(msg, s) for s in spans):
        return True
    if "history" in ctx and any(_historical(msg, s, spans) for s in spans):
        return True
    return "question" in ctx and _information_question(msg, spans)


# ---------------------------------------------------------------- rules


def _combinations(msg: ReadMessage, pattern: Pattern, window: int) -> Iterable[tuple[Span, ...]]:
    """One span per part of `pattern`, all in one sentence, within `window` tokens, not overlapping."""
    parts = []
    for part in pattern:  # stop at the first part that does not occur: most patterns
        if not (spans := sorted({s for pid, found in msg.occ.items() if pid in part for s in found})):
            return
        parts.append(spans)
    for anchor in parts[0]:
        same = msg.sent[anchor[0]]
        near = [
            [s for s in spans if msg.sent[s[0]] == same and abs(s[0] - anchor[0]) <= window]
            for spans in parts[1:]
        ]
        for rest in product(*near):
            combo = (anchor, *rest)
            ordered = sorted(combo)
            if ordered[-1][0] - ordered[0][0] > window:
                continue
            if all(a[1] <= b[0] for a, b in zip(ordered, ordered[1:], strict=False)):
                yield combo


def _occurs(rule: Rule, msg: ReadMessage, patterns: Sequence[Pattern]) -> bool:
    """One of `patterns` occurs in the message, not negated (when the rule filters negation)."""
    negation = "negation" in rule.context
    return any(
        not (negation and any(_negated(msg, s, combo) for s in combo))
        for pattern in patterns
        for combo in _combinations(msg, pattern, rule.window)
    )


def rule_kind(rule: Rule, msg: ReadMessage) -> str:
    """The rule's kind, or "emergency" when one of its `emergency_with` patterns occurs too."""
    return "emergency" if _occurs(rule, msg, rule.emergency_with) else rule.kind


def _excluded(rule: Rule, msg: ReadMessage) -> list[Span]:
    """Spans that cancel a match they overlap. An exclude entry may be a pattern ("collapsed +
    sofa + long day"): then every part of it cancels, matched within the rule's window or
    EXCLUDE_WINDOW words, whichever is wider."""
    window = max(rule.window, EXCLUDE_WINDOW)
    return [s for pattern in rule.exclude for combo in _combinations(msg, pattern, window) for s in combo]


def rule_fires(rule: Rule, msg: ReadMessage) -> bool:
    """Whether `rule` matches `msg` in a context that counts."""
    if rule.requires and not _occurs(rule, msg, rule.requires):
        return False
    excluded: list[Span] | None = None  # found once, when the rule first matches
    for pattern in rule.patterns:
        for combo in _combinations(msg, pattern, rule.window):
            if excluded is None:
                excluded = _excluded(rule, msg)
            if any(a < e[1] and e[0] < b for a, b in combo for e in excluded):
                continue
            if not _blocked(rule, msg, combo):
                return True
    return False


def fired_rules(
    text: str, group: Literal["safety", "advice"] = "safety", rules: RuleSet | None = None
) -> tuple[Rule, ...]:
    """Every rule of `group` that fires on `text` (for tests, evaluation and explanations)."""
    rs = rules or default_rules()
    msg = ReadMessage(text, rs)
    return tuple(r for r in (rs.rules if group == "safety" else rs.advice) if rule_fires(r, msg))


def check_message(text: str, rules: RuleSet | None = None) -> Alert | None:
    """The alert to show before anything else, or None. Never raises on any str input."""
    msg = ReadMessage(text, rs := rules or default_rules())
    fired = [(rule_kind(r, msg), r) for r in rs.rules if rule_fires(r, msg)]
    if not fired:
        return None
    kind, top = min(fired, key=lambda f: SEVERITY[f[0]])  # the first of the most severe
    message = rs.messages[kind]
    if kind != "crisis" and any(r.kind == "crisis" for _, r in fired):
        message = f"{message} {rs.messages['crisis_addendum']}"
    return Alert(kind=kind, message=message, rule=top.id)
