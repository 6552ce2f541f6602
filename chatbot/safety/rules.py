"""The safety rules file and the words it is matched on: read, checked, indexed.

`chatbot/safety/safety.toml` holds the rules as data (see its header); this module turns it into a
`RuleSet`: every phrase parsed into terms, the context cue lists, and a typo-tolerant `Lexicon`.
Messages are normalised by the same `normalise` as the file's phrases, so the two always agree
on what a word is. Matching a message against the rules is `chatbot.safety.match`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from chatbot.errors import SafetyRulesError
from chatbot.safety.text import (
    BOUNDARIES,
    Lexicon,
    normalise,
)

RULES_PATH = Path(__file__).parent / "safety.toml"
KINDS = ("emergency", "crisis", "urgent")
# Most severe first. Emergency beats crisis because an emergency card also sends the person to
# the emergency number, which covers someone who has already harmed themselves; the crisis line
# is then added to that card (see `check_message`), so a crisis never loses its crisis line.
SEVERITY = {kind: rank for rank, kind in enumerate(KINDS)}
CONTEXT_FILTERS = ("negation", "hypothetical", "history", "question")


@dataclass(frozen=True)
class Term:
    """One word of a phrase: a word, a prefix ("vomit*") or a number range ("#38-45")."""

    key: str  # "fever", "vomit*" or "#38-45"
    low: float | None = None
    high: float | None = None


Phrase = tuple[Term, ...]
Pattern = tuple[frozenset[int], ...]  # parts, each a set of alternative phrase ids


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str  # a KINDS value, or "advice"
    description: str
    patterns: tuple[Pattern, ...]  # phrase ids: see RuleSet.phrase_list
    requires: tuple[Pattern, ...]  # one of these must occur too, anywhere
    exclude: tuple[Pattern, ...]  # a match overlapping any part of one of these is cancelled
    emergency_with: tuple[Pattern, ...]  # any of these too makes the rule an emergency
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


# ---------------------------------------------------------------- typo-tolerant words


# ---------------------------------------------------------------- reading the rules file

CUE_LISTS = (
    "negation_cues",
    "pseudo_negation_next",
    "post_negation_cues",
    "post_negation_blockers",
    "scope_breakers",
    "list_joiners",
    "subject_words",
    "hypothetical_cues",
    "hypothetical_pseudo_before",
    "hypothetical_question_frames",
    "history_cues",
    "recurrence_cues",
    "recovery_cues",
    "recent_past_cues",
    "question_openers",
    "reporting_openers",
    "skip_at_start",
    "personal_cues",
    "pseudo_personal",
    "framing_words",
    "anaphora",
    "hearsay_words",
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
        "emergency_with",
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
                self.pattern(p, where) for p in self.strings(table, "requires", where, required=False)
            ),
            exclude=tuple(
                self.pattern(p, where) for p in self.strings(table, "exclude", where, required=False)
            ),
            emergency_with=tuple(
                self.pattern(p, where) for p in self.strings(table, "emergency_with", where, required=False)
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
