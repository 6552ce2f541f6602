"""Score the engine on an evaluation set: hit@1, hit@3 and MRR, overall and by kind of question,
and the outcome matrix.

A case is a hit at rank r when the r-th passage contains one of the case's expected sentences
(whitespace-normalised): the passage really holds the answer, whatever chunk it sits in.
Cases without an expected sentence are counted apart, by the outcome the engine gave. The outcome
matrix puts each group of questions (answerable, near-topic the article does not answer, off-topic,
urgent) against the three outcomes (answer, closest, not_covered). An urgent case names the card
it must get (`alert`); every other case must get none.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from chatbot.answering.answer import Answer
from chatbot.answering.coverage import OUTCOMES
from chatbot.errors import InputError


class Asker(Protocol):
    def ask(self, question: str, history: Any = (), top_k: int = 3) -> Answer: ...


@dataclass(frozen=True)
class EvalCase:
    id: str
    question: str
    history: tuple[str, ...]
    kind: str
    expected: tuple[str, ...]
    parts: tuple[tuple[str, ...], ...] = ()  # a two-part question: what answers each part
    alert: str = ""  # an urgent case: the card it must get ("emergency", "urgent", "crisis")

    @property
    def group(self) -> str:
        """Which row of the outcome matrix the case counts in."""
        if self.alert or self.kind == "urgent":
            return "urgent"
        if self.expected:
            return "answerable"
        return "near-topic" if self.kind == "near_topic" else "off-topic"


GROUPS = ("answerable", "near-topic", "off-topic", "urgent")


@dataclass(frozen=True)
class KindScore:
    n: int
    hit1: float
    hit3: float
    mrr: float


@dataclass(frozen=True)
class EvalReport:
    overall: KindScore
    by_kind: dict[str, KindScore]
    offtopic_n: int
    offtopic_declined: float
    answerable_answered: float
    misses: tuple[str, ...]
    # (threshold, share of answerable questions answered, share of off-topic ones declined)
    tradeoff: tuple[tuple[float, float, float], ...] = ()
    # Of the answered questions, how many were flagged tentative: (answerable, off-topic) counts of
    # (tentative, answered). Tentative answers should hold most off-topic answers and few others.
    tentative: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))
    # group -> outcome -> count (see GROUPS, OUTCOMES)
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    # Two-part questions: how many, and how many had a passage for every part in the top 3.
    both_parts: tuple[int, int] = (0, 0)
    # Urgent cases given the right card, of how many; alerts on cases that are not urgent.
    alerts_right: tuple[int, int] = (0, 0)
    false_alerts: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        def score(s: KindScore) -> dict[str, float]:
            return {"n": s.n, "hit@1": round(s.hit1, 4), "hit@3": round(s.hit3, 4), "mrr": round(s.mrr, 4)}

        return {
            **score(self.overall),
            "by_kind": {k: score(v) for k, v in sorted(self.by_kind.items())},
            "offtopic": {"n": self.offtopic_n, "declined": round(self.offtopic_declined, 4)},
            "answerable_answered": round(self.answerable_answered, 4),
            "misses": list(self.misses),
            "tradeoff": [
                {"threshold": t, "answered": round(a, 4), "declined": round(d, 4)}
                for t, a, d in self.tradeoff
            ],
            "tentative": {
                kind: {"tentative": t, "answered": n}
                for kind, (t, n) in zip(("answerable", "offtopic"), self.tentative, strict=True)
            },
            "outcomes": self.outcomes,
            "both_parts": {"n": self.both_parts[1], "answered": self.both_parts[0]},
            "alerts": {
                "n": self.alerts_right[1],
                "right": self.alerts_right[0],
                "false": list(self.false_alerts),
            },
        }


def _norm(text: str) -> str:
    return " ".join(text.split())


def load_eval_set(path: Path) -> list[EvalCase]:
    """Read a JSON-lines evaluation file; a bad line is an error naming the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot read evaluation file {path} ({exc}). Check the path.") from None
    cases = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            cases.append(
                EvalCase(
                    id=str(row.get("id", n)),
                    question=str(row["question"]),
                    history=tuple(row.get("history") or ()),
                    kind=str(row.get("kind", "plain")),
                    expected=tuple(row.get("expected") or ()),
                    parts=tuple(tuple(p) for p in row.get("parts") or ()),
                    alert=str(row.get("alert") or ""),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(
                f"{path}:{n} is not an evaluation case ({type(exc).__name__}: {exc}). "
                'Each line needs {"question": str, "expected": [str, ...]}.'
            ) from None
    if not cases:
        raise InputError(f"{path} holds no evaluation cases.")
    return cases


def first_hit_rank(answer: Answer, expected: tuple[str, ...]) -> int | None:
    wanted = [_norm(e) for e in expected]
    for rank, passage in enumerate(answer.passages, start=1):
        text = _norm(passage.text)
        if any(w in text for w in wanted):
            return rank
    return None


def _score(ranks: list[int | None]) -> KindScore:
    n = len(ranks)
    if n == 0:
        return KindScore(0, 0.0, 0.0, 0.0)
    return KindScore(
        n,
        sum(r == 1 for r in ranks) / n,
        sum(r is not None and r <= 3 for r in ranks) / n,
        sum(1 / r for r in ranks if r) / n,
    )


def evaluate(engine: Asker, cases: list[EvalCase], top_k: int = 3) -> EvalReport:
    ranks: dict[str, list[int | None]] = defaultdict(list)
    all_ranks: list[int | None] = []
    declined = answered = 0
    offtopic = 0
    misses = []
    confidences: dict[bool, list[float]] = {True: [], False: []}
    flagged: dict[bool, list[bool]] = {True: [], False: []}  # `tentative` of each answered question
    outcomes = {g: dict.fromkeys(OUTCOMES, 0) for g in GROUPS}
    both = parts_n = right = urgent = 0
    false_alerts = []
    for case in cases:
        answer = engine.ask(case.question, case.history, top_k)
        outcomes[case.group][answer.outcome] += 1
        kind = (answer.alert or {}).get("kind", "")
        if case.group == "urgent":
            urgent += 1
            right += kind == case.alert
            continue
        if kind:
            false_alerts.append(case.id)
        confidences[bool(case.expected)].append(answer.confidence)
        if answer.answered:
            flagged[bool(case.expected)].append(answer.tentative)
        if not case.expected:
            offtopic += 1
            declined += not answer.answered
            continue
        answered += answer.answered
        rank = first_hit_rank(answer, case.expected)
        if rank is None or rank > 3:
            misses.append(case.id)
        if case.parts:
            parts_n += 1
            both += all((r := first_hit_rank(answer, p)) is not None and r <= 3 for p in case.parts)
        ranks[case.kind].append(rank)
        all_ranks.append(rank)
    n_answerable = len(all_ranks)
    return EvalReport(
        overall=_score(all_ranks),
        by_kind={k: _score(v) for k, v in ranks.items()},
        offtopic_n=offtopic,
        offtopic_declined=declined / offtopic if offtopic else 0.0,
        answerable_answered=answered / n_answerable if n_answerable else 0.0,
        misses=tuple(misses),
        tradeoff=_tradeoff(confidences[True], confidences[False]),
        tentative=((sum(flagged[True]), len(flagged[True])), (sum(flagged[False]), len(flagged[False]))),
        outcomes={g: row for g, row in outcomes.items() if sum(row.values())},
        both_parts=(both, parts_n),
        alerts_right=(right, urgent),
        false_alerts=tuple(false_alerts),
    )


def _tradeoff(answerable: list[float], offtopic: list[float]) -> tuple[tuple[float, float, float], ...]:
    """What each 'not covered' threshold would do on this set (the engine's confidence scores)."""
    rows = []
    for step in range(50, 122, 2):  # around the threshold: 0.50 to 1.20
        t = step / 100
        answered = sum(c >= t for c in answerable) / len(answerable) if answerable else 0.0
        declined = sum(c < t for c in offtopic) / len(offtopic) if offtopic else 0.0
        rows.append((t, answered, declined))
    return tuple(rows)


def format_report(report: EvalReport) -> str:
    o = report.overall
    lines = [
        f"{'kind':<10} {'n':>4} {'hit@1':>7} {'hit@3':>7} {'MRR':>7}",
        f"{'all':<10} {o.n:>4} {o.hit1:>7.3f} {o.hit3:>7.3f} {o.mrr:>7.3f}",
    ]
    for kind, s in sorted(report.by_kind.items()):
        lines.append(f"{kind:<10} {s.n:>4} {s.hit1:>7.3f} {s.hit3:>7.3f} {s.mrr:>7.3f}")
    lines.append(f"answerable questions answered: {report.answerable_answered:.3f}")
    if report.offtopic_n:
        lines.append(
            f"off-topic declined ('not covered'): {report.offtopic_declined:.3f} of {report.offtopic_n}"
        )
    (at, an), (ot, on) = report.tentative
    off_topic = f", {ot} of {on} off-topic" if on else ""
    lines.append(f"answered tentatively: {at} of {an} answerable{off_topic}")
    if report.outcomes:
        lines.append(f"outcomes: {'':<11}" + "".join(f"{o:>12}" for o in OUTCOMES))
        for group, row in report.outcomes.items():
            lines.append(f"  {group:<19}" + "".join(f"{row[o]:>12}" for o in OUTCOMES))
    if report.both_parts[1]:
        lines.append(
            "two-part questions with every part in the top 3: "
            f"{report.both_parts[0]} of {report.both_parts[1]}"
        )
    if report.alerts_right[1]:
        lines.append(
            f"urgent messages given the right card: {report.alerts_right[0]} of {report.alerts_right[1]}"
        )
    lines.append(
        f"alerts on messages that are not urgent: {len(report.false_alerts)}"
        + (f" ({', '.join(report.false_alerts)})" if report.false_alerts else "")
    )
    if report.misses:
        lines.append("missed in top 3: " + ", ".join(report.misses))
    if report.tradeoff and report.offtopic_n:
        lines.append("'not covered' threshold trade-off (answerable answered / off-topic declined):")
        lines.extend(f"  {t:.2f}: {a:.3f} / {d:.3f}" for t, a, d in report.tradeoff)
    return "\n".join(lines)
