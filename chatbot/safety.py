"""Check each chat message for danger before anything else happens.

Some people who write to the chatbot are in danger now (chest pain, a fever during chemotherapy,
weak legs with back pain, thoughts of suicide). A careful health service routes those first, so
`check_message` runs before retrieval and returns an `Alert` saying what to do now.

The rules are data, not code: `chatbot/rules/safety.toml` holds the phrases, the context cues
and each rule's own must-fire / must-not-fire examples, so clinical staff can review and change
them. This module only knows how to read that file and match it:

- text is normalised (case, apostrophes, contractions, HTML, control characters) and split into
  words and clause/sentence boundaries;
- words are matched with typo tolerance (edit distance scaled to word length, via rapidfuzz);
- a match is dropped when its context says it is not happening to this person now: a negation
  ("no fever"), a condition ("if I get a fever"), a long-past episode ("a seizure years ago"), or
  an information question with nothing tying it to the person ("Can myeloma cause fever?").
  Each filter is narrow on purpose: between a needless card and a missed emergency, show the card.
"""

from __future__ import annotations

import html
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import product
from pathlib import Path
from typing import Any, Literal

from rapidfuzz import process
from rapidfuzz.distance import OSA

from chatbot.errors import ChatbotError

RULES_PATH = Path(__file__).parent / "rules" / "safety.toml"
KINDS = ("emergency", "crisis", "urgent")
# Most severe first. Emergency beats crisis because an emergency card also sends the person to
# the emergency number, which covers someone who has already harmed themselves; the crisis line
# is then added to that card (see `check_message`), so a crisis never loses its crisis line.
SEVERITY = {kind: rank for rank, kind in enumerate(KINDS)}
CONTEXT_FILTERS = ("negation", "hypothetical", "history", "question")
# Chat messages are short; a pasted document is not. Danger is usually said at the start or the
# end, so a long text is checked on its head and tail: this bounds the time per message.
MAX_CHARS, HEAD_CHARS, TAIL_CHARS = 4000, 3000, 1000
MAX_OCCURRENCES = 64  # per phrase, so a pathological repeat cannot blow up the combinations


class SafetyRulesError(ChatbotError):
    """The rules file is missing or malformed; the message names the file and the fix."""


@dataclass(frozen=True)
class Alert:
    kind: str  # "emergency" | "urgent" | "crisis"
    message: str  # what to do now, plain words
    rule: str  # id of the rule that fired


@dataclass(frozen=True)
class Term:
    """One word of a phrase: a word, a prefix ("vomit*") or a number range ("#38-45")."""

    key: str  # "fever", "vomit*" or "#38-45"
    low: float | None = None
    high: float | None = None


Phrase = tuple[Term, ...]


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str  # a KINDS value, or "advice"
    description: str
    patterns: tuple[tuple[frozenset[int], ...], ...]  # pattern -> parts -> alternative phrase ids
    requires: tuple[int, ...]  # phrase ids (see RuleSet.phrase_list)
    exclude: tuple[int, ...]
    window: int
    context: frozenset[str]
    fires: tuple[str, ...]
    does_not_fire: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class RuleSet:
    """Everything read from one rules file, indexed so a message is matched in one pass."""

    path: Path
    rules: tuple[Rule, ...]  # safety rules, most severe kind first
    advice: tuple[Rule, ...]  # personal-decision rules
    messages: Mapping[str, str]
    cues: Mapping[str, tuple[Phrase, ...]]  # the [context] lists, matched without typo tolerance
    windows: Mapping[str, int]
    fillers: frozenset[str]
    lexicon: Lexicon
    phrase_list: tuple[Phrase, ...]  # every rule phrase; rules refer to them by position
    phrases: Mapping[str, tuple[int, ...]]  # phrase ids by their first key ("#": a number)
    cue_phrases: Mapping[str, tuple[tuple[str, Phrase], ...]]  # (list name, cue) by first word


# ---------------------------------------------------------------- text normalisation

_TAG = re.compile(r"<[^<>]{0,200}>")
_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060\ufeff\u00ad]")
_APOSTROPHES = re.compile(r"[\u2018\u2019\u201b\u2032`\u00b4]")
_NT = re.compile(r"\b(can|won|shan|ain)'t\b|n't\b")
_SUFFIX = re.compile(r"(?<=[a-z])'(m|re|ve|ll|d|s)\b")
_SUFFIX_FULL = {"m": " am", "re": " are", "ve": " have", "ll": " will", "d": " would", "s": ""}
_PRONOUN_S = re.compile(r"\b(he|she|it|that|there|what|who|where|here)'s\b")
_TOKEN = re.compile(r"[a-z]+|\d+(?:[.,]\d+)?|[.!?;\n]|[,:\u2013\u2014]")
_NT_FULL = {"can": "can not", "won": "will not", "shan": "shall not", "ain": "is not"}
_CONTRACTIONS = {
    **{w + "nt": w + " not" for w in ["do", "does", "did", "is", "are", "was", "were", "has", "have", "had"]},
    **{w + "nt": w + " not" for w in ["could", "would", "should", "must", "need"]},
    "cant": "can not",
    "cannot": "can not",
    "wont": "will not",
    "aint": "is not",
    "im": "i am",
    "ive": "i have",
    "wanna": "want to",
    "gonna": "going to",
    "gotta": "got to",
    "dunno": "do not know",
    "nite": "night",
    "tonite": "tonight",
    "u": "you",
    "ur": "your",
}
SENTENCE, CLAUSE = ".", ","
BOUNDARIES = frozenset({SENTENCE, CLAUSE})


def normalise(text: str) -> list[str]:
    """Words and boundary marks ("." ends a sentence, "," a clause) of `text`, lowercased."""
    if len(text) > MAX_CHARS:
        text = text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]
    text = _TAG.sub(" ", html.unescape(text))
    text = unicodedata.normalize("NFKD", _INVISIBLE.sub("", text))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = _APOSTROPHES.sub("'", text).replace("\r", "\n")
    text = _NT.sub(lambda m: " " + _NT_FULL[m[1]] if m[1] else " not", text)
    text = _PRONOUN_S.sub(r"\1 is", text)
    text = _SUFFIX.sub(lambda m: _SUFFIX_FULL[m[1]], text).replace("'", "")  # "mum's" -> "mum"
    tokens: list[str] = []
    for tok in _TOKEN.findall(text):
        mark = SENTENCE if tok in ".!?;\n" else CLAUSE if not tok[0].isalnum() else None
        if mark is not None:
            if tokens and tokens[-1] in BOUNDARIES:  # keep the stronger of two marks in a row
                tokens[-1] = SENTENCE if SENTENCE in (mark, tokens[-1]) else CLAUSE
            elif tokens:
                tokens.append(mark)
        else:
            tokens.extend(_CONTRACTIONS.get(tok, tok).split())
    return tokens


def _number(token: str) -> float | None:
    if not token[:1].isdigit():
        return None
    try:
        return float(token.replace(",", "."))
    except ValueError:
        return None


# ---------------------------------------------------------------- typo-tolerant words


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


# ---------------------------------------------------------------- a message, ready to match

Span = tuple[int, int]


class Message:
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
        number = ("#",) if _number(tok) is not None else ()
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
            value = _number(self.toks[i])
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


def _negated(msg: Message, span: Span, combo: Sequence[Span] = ()) -> bool:
    """NegEx-style: a cue shortly before ("no fever") or after ("fever is gone") the phrase.

    A cue inside another part of the same match ("can NOT keep + fluids + down") is part of
    what was matched, not a negation of it.
    """
    toks, window = msg.toks, msg.rs.windows["negation_window"]
    j = span[0] - 1
    while j >= 0 and span[0] - j <= window and toks[j] not in BOUNDARIES:
        cue = msg.cue_at("negation_cues", end=j + 1)
        inside = cue is not None and any(a < cue[1] and cue[0] < b for a, b in combo)
        if cue and not inside and not msg.cue_at("pseudo_negation_next", start=cue[1]):
            return True
        if msg.cue_at("scope_breakers", end=j + 1) or msg.cue_at("subject_words", end=j + 1):
            break
        j -= 1
    j = span[1]
    while j < len(toks) and j - span[1] < msg.rs.windows["post_negation_window"]:
        if toks[j] in BOUNDARIES or msg.cue_at("scope_breakers", start=j):
            break
        cue = msg.cue_at("post_negation_cues", start=j)
        if cue:
            blocked = msg.cue_at("post_negation_blockers", start=cue[1])
            denied = msg.has_cue("negation_cues", max(span[1], cue[0] - 2), cue[0])
            return not blocked and not denied
        j += 1
    return False


def _hypothetical(msg: Message, span: Span) -> bool:
    """A condition shortly before the phrase: "what should I do if I get a fever"."""
    toks, window = msg.toks, msg.rs.windows["hypothetical_window"]
    j = span[0] - 1
    while j >= 0 and span[0] - j <= window and toks[j] not in BOUNDARIES:
        cue = msg.cue_at("hypothetical_cues", end=j + 1)
        if cue:
            return not msg.cue_at("hypothetical_pseudo_before", end=cue[0])
        if msg.cue_at("scope_breakers", end=j + 1):
            break
        j -= 1
    return False


def _sentence_bounds(msg: Message, span: Span) -> Span:
    return msg.sentences[msg.sent[span[0]]]


def _historical(msg: Message, span: Span) -> bool:
    """A long-past episode in the same sentence, unless the sentence says it is back."""
    lo, hi = _sentence_bounds(msg, span)
    if msg.has_cue("recurrence_cues", lo, hi):
        return False
    window = msg.rs.windows["history_window"]
    return msg.has_cue("history_cues", max(lo, span[0] - window), min(hi, span[1] + window))


def _opens_question(msg: Message, start: int, stop: int) -> bool:
    """Whether the words from `start` open a question ("what", "can", "I read that")."""
    i = start
    while i < stop and (skip := msg.cue_at("skip_at_start", start=i)):
        i = skip[1]
    opener = msg.cue_at("question_openers", start=i) or msg.cue_at("reporting_openers", start=i)
    # "can not breathe", with the "I" left out, is a statement, not a question
    return opener is not None and msg.toks[opener[1] : opener[1] + 1] != ("not",)


def _information_question(msg: Message, spans: Sequence[Span]) -> bool:
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


def _personal(msg: Message, spans: Sequence[Span]) -> bool:
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


def _points_back(msg: Message, sentence: int, pseudo: set[int]) -> bool:
    """A neighbouring sentence that is personal and refers back: "I've had it all day"."""
    if sentence not in msg.sentences:
        return False
    lo, hi = msg.sentences[sentence]
    personal = any(lo <= a and b <= hi and a not in pseudo for a, b in msg.cue_occ["personal_cues"])
    return personal and msg.has_cue("anaphora", lo, hi)


def _blocked(rule: Rule, msg: Message, spans: Sequence[Span]) -> bool:
    """Whether the context says this match is not happening to this person now."""
    ctx = rule.context
    if "negation" in ctx and any(_negated(msg, s, spans) for s in spans):
        return True
    if "hypothetical" in ctx and any(_hypothetical(msg, s) for s in spans):
        return True
    if "history" in ctx and any(_historical(msg, s) for s in spans):
        return True
    return "question" in ctx and _information_question(msg, spans)


# ---------------------------------------------------------------- rules


def _part_spans(msg: Message, part: frozenset[int]) -> list[Span]:
    return sorted({s for pid, spans in msg.occ.items() if pid in part for s in spans})


def _combinations(msg: Message, parts: list[list[Span]], window: int) -> Iterable[tuple[Span, ...]]:
    """One span per part, all in one sentence, within `window` tokens and not overlapping."""
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


def rule_fires(rule: Rule, msg: Message) -> bool:
    """Whether `rule` matches `msg` in a context that counts."""
    if rule.requires:
        found = [s for pid in rule.requires for s in msg.occ.get(pid, ())]
        if not any(not ("negation" in rule.context and _negated(msg, s)) for s in found):
            return False
    excluded = [s for pid in rule.exclude for s in msg.occ.get(pid, ())]
    for pattern in rule.patterns:
        parts = []
        for part in pattern:  # stop at the first part that does not occur: most patterns
            if not (spans := _part_spans(msg, part)):
                break
            parts.append(spans)
        if len(parts) < len(pattern):
            continue
        for combo in _combinations(msg, parts, rule.window):
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
    msg = Message(text, rs)
    return tuple(r for r in (rs.rules if group == "safety" else rs.advice) if rule_fires(r, msg))


def check_message(text: str, rules: RuleSet | None = None) -> Alert | None:
    """The alert to show before anything else, or None. Never raises on any str input."""
    rs = rules or default_rules()
    fired = fired_rules(text, "safety", rs)
    if not fired:
        return None
    top = min(fired, key=lambda r: SEVERITY[r.kind])
    message = rs.messages[top.kind]
    if top.kind != "crisis" and any(r.kind == "crisis" for r in fired):
        message = f"{message} {rs.messages['crisis_addendum']}"
    return Alert(kind=top.kind, message=message, rule=top.id)


# ---------------------------------------------------------------- reading the rules file

CUE_LISTS = (
    "negation_cues",
    "pseudo_negation_next",
    "post_negation_cues",
    "post_negation_blockers",
    "scope_breakers",
    "subject_words",
    "hypothetical_cues",
    "hypothetical_pseudo_before",
    "history_cues",
    "recurrence_cues",
    "question_openers",
    "reporting_openers",
    "skip_at_start",
    "personal_cues",
    "pseudo_personal",
    "framing_words",
    "anaphora",
)
WINDOWS = (
    "negation_window",
    "post_negation_window",
    "hypothetical_window",
    "history_window",
    "personal_window",
)
RULE_KEYS = frozenset(
    {
        "id",
        "kind",
        "description",
        "patterns",
        "requires",
        "exclude",
        "window",
        "context",
        "fires",
        "does_not_fire",
    }
)
_RANGE = re.compile(r"#(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)")
_STEM = re.compile(r"[a-z]+\*")


@cache
def default_rules() -> RuleSet:
    """The project's rules file, read once per process."""
    return load_rules(RULES_PATH)


def load_rules(path: Path | str = RULES_PATH) -> RuleSet:
    """Read and check a rules file; any problem raises SafetyRulesError naming the file and fix."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SafetyRulesError(
            f"{path}: rules file not found. Fix: restore it (git checkout -- {path})."
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SafetyRulesError(
            f"{path}: cannot read the rules file ({err}). Fix: save it as UTF-8 text."
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise SafetyRulesError(
            f"{path}: not valid TOML ({err}). Fix: correct the quotes, brackets or commas there, "
            "or restore the file from git."
        ) from None
    return _Reader(path).ruleset(data)


class _Reader:
    """Turns the parsed TOML into a RuleSet, failing with one line that says what to change."""

    def __init__(self, path: Path):
        self.path = path
        self.ids: dict[Phrase, int] = {}  # each distinct rule phrase gets one id

    def phrase_id(self, text: str, where: str) -> int:
        return self.ids.setdefault(self.phrase(text, where), len(self.ids))

    def fail(self, where: str, problem: str, fix: str) -> SafetyRulesError:
        return SafetyRulesError(f"{self.path}: {where}: {problem}. Fix: {fix}.")

    def strings(self, table: Mapping[str, Any], key: str, where: str, required: bool = True) -> list[str]:
        value = table.get(key, [] if not required else None)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(
                where, f"'{key}' must be a list of non-empty strings", f'write {key} = ["...", "..."]'
            )
        if required and not value:
            raise self.fail(where, f"'{key}' is empty", f"give at least one entry in {key}")
        return value

    def integer(self, table: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 30:
            raise self.fail(
                where, f"'{key}' must be a whole number from 1 to 30, not {value!r}", f"set {key} = 8"
            )
        return value

    def text(self, table: Mapping[str, Any], key: str, where: str) -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"'{key}' is missing or empty", f'add {key} = "..."')
        return value.strip()

    def phrase(self, text: str, where: str) -> Phrase:
        terms: list[Term] = []
        for piece in text.split():
            if piece.startswith("#"):
                m = _RANGE.fullmatch(piece)
                if not m or float(m[1]) > float(m[2]):
                    raise self.fail(where, f"bad number range {piece!r}", 'write it like "#38-45" (low-high)')
                terms.append(Term(piece, float(m[1]), float(m[2])))
            elif piece.endswith("*"):
                if not _STEM.fullmatch(piece.lower()):
                    raise self.fail(
                        where, f"bad prefix {piece!r}", 'write letters then one star, like "vomit*"'
                    )
                terms.append(Term(piece.lower()))
            else:
                terms.extend(Term(t) for t in normalise(piece) if t not in BOUNDARIES)
        if not terms:
            raise self.fail(where, f"phrase {text!r} has no words", "remove it or write words in it")
        return tuple(terms)

    def pattern(self, text: str, where: str) -> tuple[frozenset[int], ...]:
        parts = [p for p in text.split("+")]
        if any(not alt.strip() for part in parts for alt in part.split("|")):
            raise self.fail(where, f"pattern {text!r} has an empty part", 'write "word | word + word | word"')
        return tuple(frozenset(self.phrase_id(alt, where) for alt in part.split("|")) for part in parts)

    def rule(self, table: Any, n: int, kinds: Sequence[str], group: str) -> Rule:
        where = f"[[{group}]] number {n}"
        if not isinstance(table, dict):
            raise self.fail(where, "is not a table", f"write it as [[{group}]] followed by key = value lines")
        where = f"[[{group}]] {table.get('id', f'number {n}')!r}"
        unknown = sorted(set(table) - RULE_KEYS)
        if unknown:
            raise self.fail(where, f"unknown key(s) {unknown}", f"use only {sorted(RULE_KEYS)}")
        kind = table.get("kind", "advice") if group == "advice" else table.get("kind")
        if kind not in kinds:
            raise self.fail(
                where, f"kind {kind!r} is not one of {list(kinds)}", f'set kind = "{kinds[0]}" or similar'
            )
        default_context = list(CONTEXT_FILTERS) if group == "rule" else []
        context = (
            self.strings(table, "context", where, required=False) if "context" in table else default_context
        )
        if set(context) - set(CONTEXT_FILTERS):
            raise self.fail(
                where, f"context {context} has unknown filters", f"use only {list(CONTEXT_FILTERS)}"
            )
        if not self.strings(table, "fires", where):
            raise self.fail(
                where, "has no 'fires' examples", "add fires = [...] with messages that must fire"
            )
        return Rule(
            id=self.text(table, "id", where),
            kind=str(kind),
            description=self.text(table, "description", where),
            patterns=tuple(self.pattern(p, where) for p in self.strings(table, "patterns", where)),
            requires=tuple(
                self.phrase_id(p, where) for p in self.strings(table, "requires", where, required=False)
            ),
            exclude=tuple(
                self.phrase_id(p, where) for p in self.strings(table, "exclude", where, required=False)
            ),
            window=self.integer(table, "window", where, default=8),
            context=frozenset(context),
            fires=tuple(self.strings(table, "fires", where)),
            does_not_fire=tuple(self.strings(table, "does_not_fire", where, required=False)),
        )

    def ruleset(self, data: Mapping[str, Any]) -> RuleSet:
        if data.get("version") != 1:
            raise self.fail(
                "version", f"expected version = 1, found {data.get('version')!r}", "set version = 1"
            )
        messages_table, context, matching = (data.get(k, {}) for k in ("messages", "context", "matching"))
        messages = {k: self.text(messages_table, k, "[messages]") for k in (*KINDS, "crisis_addendum")}
        for key in ("crisis", "crisis_addendum"):
            if "crisis line" not in messages[key].lower():
                raise self.fail(
                    "[messages]", f"{key} does not name a crisis line", "say 'your local crisis line'"
                )
        rules = [self.rule(t, n, KINDS, "rule") for n, t in enumerate(data.get("rule", []), 1)]
        advice = [self.rule(t, n, ("advice",), "advice") for n, t in enumerate(data.get("advice", []), 1)]
        if not rules or not advice:
            raise self.fail("rules", "no [[rule]] or no [[advice]] tables", "restore the file from git")
        ids = [r.id for r in rules + advice]
        if len(ids) != len(set(ids)):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise self.fail("rules", f"duplicate id(s) {dupes}", "give every rule its own id")
        cues = {
            name: tuple(self.phrase(c, "[context]") for c in self.strings(context, name, "[context]"))
            for name in CUE_LISTS
        }
        fillers = self.strings(matching, "phrase_fillers", "[matching]")
        not_typos = self.strings(matching, "not_typos", "[matching]", required=False)
        return _build(self.path, rules, advice, messages, cues, context, fillers, not_typos, self)


def _build(
    path: Path,
    rules: list[Rule],
    advice: list[Rule],
    messages: dict[str, str],
    cues: dict[str, tuple[Phrase, ...]],
    context: Mapping[str, Any],
    fillers: list[str],
    not_typos: list[str],
    reader: _Reader,
) -> RuleSet:
    """Index every phrase by its first word, so each message is matched in one pass."""
    phrase_list = tuple(sorted(reader.ids, key=reader.ids.__getitem__))
    phrases: dict[str, list[int]] = {}
    for pid, phrase in enumerate(phrase_list):
        phrases.setdefault("#" if phrase[0].low is not None else phrase[0].key, []).append(pid)
    cue_phrases: dict[str, list[tuple[str, Phrase]]] = {}
    for name, entries in cues.items():
        for phrase in entries:
            cue_phrases.setdefault("#" if phrase[0].low is not None else phrase[0].key, []).append(
                (name, phrase)
            )
    keys = {t.key for p in phrase_list for t in p if t.low is None}
    words = [k for k in keys if not k.endswith("*")]
    stems = [k[:-1] for k in keys if k.endswith("*")]
    return RuleSet(
        path=path,
        rules=tuple(sorted(rules, key=lambda r: SEVERITY[r.kind])),
        advice=tuple(advice),
        messages=messages,
        cues=cues,
        windows={w: reader.integer(context, w, "[context]") for w in WINDOWS},
        fillers=frozenset(t for f in fillers for t in normalise(f)),
        lexicon=Lexicon(words, stems, (t for w in not_typos for t in normalise(w))),
        phrase_list=phrase_list,
        phrases={k: tuple(v) for k, v in phrases.items()},
        cue_phrases={k: tuple(v) for k, v in cue_phrases.items()},
    )
