"""What support staff see: why a question got the passages it got, recent votes, content gaps.

For a question (and its earlier questions) `inspect_question` reruns the pipeline exactly as the
chat does and lays out what was searched, each passage's dense and BM25 ranks and scores, the
deeper list of candidates the passages were chosen from, and the engine's own account of why the
question was or was not taken as covered. The tables are plain rows so the staff page, a test
or a script can use them alike.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from chatbot.answering.answer import Answer, Passage
from chatbot.answering.answerer import Answerer
from chatbot.feedback.records import FeedbackRecord, GapCount
from chatbot.feedback.store import FeedbackStore
from chatbot.present import escape_markdown
from chatbot.question.answer_kinds import BY_NAME

# The three outcomes as the review page names them.
OUTCOME_WORDS = {
    "answer": "answer (the passages answer it)",
    "closest": "**closest** (the article may not say exactly: its closest passages)",
    "not_covered": "**not covered** (outside the article's subject)",
}
CANDIDATES = 10
_SIGNALS = ("rank", "citation", "fused score", "dense score", "dense rank", "BM25 score", "BM25 rank")
# A passage is shown below one with a higher fused score when it says much the same as a passage
# above it: the overlap (cosine) is what the engine's diversity step held against it.
PASSAGE_COLUMNS = (*_SIGNALS, "overlap with a passage above")
CANDIDATE_COLUMNS = (*_SIGNALS, "chunk id")
FEEDBACK_COLUMNS = ("time", "vote", "reason", "comment", "question", "earlier questions", "passages", "build")
GAP_COLUMNS = ("times asked", "question (latest wording)", "last asked")
Row = list[Any]


@dataclass(frozen=True)
class Inspection:
    """One question looked at the way staff need to see it."""

    question: str
    history: tuple[str, ...]
    answer: Answer  # exactly what the patient was shown
    build_id: str
    shown: list[Row]  # the passages shown, with every retrieval signal
    candidates: list[Row]  # the deeper ranked list the passages were chosen from


def parse_history(text: str) -> list[str]:
    """Earlier questions typed one per line, oldest first."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _rank(value: int | None) -> int | str:
    return value if value is not None else "–"


def passage_row(n: int, p: Passage) -> Row:
    return [
        n,
        p.section,
        round(p.score, 4),
        round(p.dense_score, 4),
        _rank(p.dense_rank),
        round(p.bm25_score, 4),
        _rank(p.bm25_rank),
        round(p.overlap, 4),
    ]


def _candidates(engine: Answerer, answer: Answer, k: int) -> list[Row]:
    """The top chunks with all three signals, straight from the retriever when the engine has one
    (searched with the query vector the answer was found with: the question is not embedded again)."""
    retriever = getattr(engine, "retriever", None)
    if retriever is None or answer.search is None or answer.vector is None:
        return []
    hits = retriever.find(answer.vector, answer.search, k)
    return [
        [
            n,
            h.chunk.citation,
            round(h.score, 4),
            round(h.dense_score, 4),
            _rank(h.dense_rank),
            round(h.bm25_score, 4),
            _rank(h.bm25_rank),
            h.chunk.id,
        ]
        for n, h in enumerate(hits, start=1)
    ]


def inspect_question(engine: Answerer, question: str, history: Sequence[str] = ()) -> Inspection:
    """Run a question through the engine as the chat does, keeping every signal for review."""
    build_id = engine.build_id
    answer = engine.ask(question, list(history))
    candidates = _candidates(engine, answer, CANDIDATES) if answer.query else []
    shown = [passage_row(n, p) for n, p in enumerate(answer.passages, start=1)]
    return Inspection(answer.question, tuple(history), answer, build_id, shown, candidates)


def inspection_markdown(ins: Inspection) -> str:
    """The summary above the tables: what was searched and why it was (not) covered."""
    a = ins.answer
    lines = [f"**Question:** {escape_markdown(ins.question) or '(empty)'}"]
    if ins.history:
        lines.append("**Earlier questions:** " + " → ".join(escape_markdown(h) for h in ins.history))
    lines.append(f"**Searched for:** {escape_markdown(a.query) or '(nothing)'}")
    search = a.search
    if search is not None:
        if search.followup:
            lines.append(f"**Follow-up resolved to:** {escape_markdown(search.resolved)}")
        if search.corrections:
            fixes = ", ".join(f"{escape_markdown(w)} → {escape_markdown(c)}" for w, c in search.corrections)
            lines.append(f"**Spelling corrected:** {fixes}")
        if search.expansions:
            lines.append("**Synonyms added:** " + "; ".join(escape_markdown(e) for e in search.expansions))
        wanted = [f"a definition of “{escape_markdown(search.defines)}”"] if search.defines else []
        wanted += ["a cause (the question asks why)"] if search.asks_cause else []
        if wanted:
            lines.append("**Passages favoured for giving:** " + " and ".join(wanted))
        if search.expects:
            lines.append(f"**Asks for:** {BY_NAME[search.expects].label} (a passage found must give one)")
    verdict = OUTCOME_WORDS[a.outcome]
    lines.append(f"**Result:** {verdict}, {len(a.passages)} passage(s) shown")
    lines.append(f"**Why:** {escape_markdown(a.reason) or '(no reason given)'}")
    if a.alert:
        lines.append(f"**Alert:** {escape_markdown(a.alert['kind'])}: {escape_markdown(a.alert['message'])}")
    if a.advice:
        lines.append(f"**Advice framing:** {escape_markdown(a.advice)}")
    if a.outcome != "answer" and a.closest_sections:
        lines.append("**Closest sections:** " + "; ".join(escape_markdown(s) for s in a.closest_sections))
    lines.append(f"**Index build:** `{ins.build_id}`")
    return "  \n".join(lines)


def feedback_rows(records: Sequence[FeedbackRecord]) -> list[Row]:
    """Recent votes, most recent first, one row each."""
    return [
        [
            r.time,
            r.vote,
            r.reason or "",
            r.comment or "",
            r.question,
            " → ".join(r.history),
            "; ".join(f"{p.section} [{p.id}]" for p in r.passages),
            r.index_build,
        ]
        for r in records
    ]


def gap_rows(counts: Sequence[GapCount]) -> list[Row]:
    """The content-gap report: "not covered" questions grouped by wording, most asked first."""
    return [[g.count, g.question, g.last_time] for g in counts]


def export_file(
    store: FeedbackStore,
    kind: Literal["feedback", "gaps"],
    fmt: Literal["csv", "jsonl"] = "csv",
    folder: Path | None = None,
) -> Path:
    """Write an export to a fresh private folder and return its path (for a download button)."""
    out = Path(tempfile.mkdtemp(prefix="chatbot-export-", dir=folder)) / f"{kind}.{fmt}"
    with open(out, "w", encoding="utf-8", newline="") as fh:
        store.export(kind, fmt, fh)
    return out
