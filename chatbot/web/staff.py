"""What support staff see: why a question got the passages it got, recent votes, content gaps.

For a question (and its earlier questions) `inspect_question` reruns the pipeline exactly as the
chat does and lays out what was searched, each passage (its text, the sentences that answer best
marked), its one relevance score and its meaning (dense) and word (BM25) ranks, the deeper list
of candidates the passages were chosen from, and the engine's own account of why the question was
or was not taken as covered. The tables are plain rows so the staff page, a test or a script can
use them alike; a passage cell is escaped HTML (`passage_cell`).

The content-gap report leaves out questions that got a safety card (urgent, crisis): they were
answered with what to do now, not missed by the article.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chatbot.answering.answer import Answer, Passage
from chatbot.answering.answerer import Answerer
from chatbot.answering.passages import choose
from chatbot.feedback.records import FeedbackRecord, GapCount, bounded
from chatbot.present import escape_markdown, short_section
from chatbot.question.answer_kinds import BY_NAME
from chatbot.question.cleaning import clean_question
from chatbot.safety.match import check_message

# The three outcomes as the review page names them.
OUTCOME_WORDS = {
    "answer": "answer (the passages answer it)",
    "closest": "**closest** (the article may not say exactly: its closest passages)",
    "not_covered": "**not covered** (outside the article's subject)",
}
CANDIDATES = 10
# One number per passage: `relevance`, the fused score on the 0..1 scale the answer's passages
# carry (`Passage.score`, the JSON protocol's "score"). The two searches it fuses are told by
# their ranks ("found by"), not by more scores on other scales.
_SIGNALS = ("#", "passage", "relevance", "found by")
# A passage is shown below one with a higher relevance when it says much the same as a passage
# above it: the overlap (cosine) is what the engine's diversity step held against it.
PASSAGE_COLUMNS = (*_SIGNALS, "overlap with a passage above")
CANDIDATE_COLUMNS = (*_SIGNALS, "shown")
HTML_COLUMN = 1  # the column of PASSAGE_COLUMNS and CANDIDATE_COLUMNS that holds HTML (`passage_cell`)
FEEDBACK_COLUMNS = (
    "time (UTC)",
    "vote",
    "reason",
    "comment",
    "question",
    "earlier questions",
    "passages",
    "build",
)
GAP_COLUMNS = ("times asked", "question (latest wording)", "last asked (UTC)")
# A table cell holds at most this much (the export keeps every character): a page of a hundred
# rows stays quick to send and draw whatever a row holds.
MAX_CELL_CHARS = 1_000
Row = list[Any]


@dataclass(frozen=True)
class Inspection:
    """One question looked at the way staff need to see it."""

    question: str
    history: tuple[str, ...]
    answer: Answer  # exactly what the patient was shown
    build_id: str
    shown: list[Row]  # the passages shown (PASSAGE_COLUMNS): text, relevance, ranks, overlap
    candidates: list[Row]  # the deeper ranked list the passages were chosen from (CANDIDATE_COLUMNS)


def parse_history(text: str) -> list[str]:
    """Earlier questions typed one per line, oldest first."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def marked_text(text: str, highlights: Sequence[tuple[int, int]]) -> str:
    """A passage's text as escaped HTML, whitespace collapsed, its highlights in <mark>."""
    spans: list[tuple[int, int]] = []
    for s, e in sorted((max(0, s), min(e, len(text))) for s, e in highlights):
        if e <= s:
            continue
        if spans and s <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(e, spans[-1][1]))
        else:
            spans.append((s, e))
    out, pos = [], 0
    for s, e in spans:
        out.append(html.escape(text[pos:s]))
        out.append(f"<mark>{html.escape(text[s:e])}</mark>")
        pos = e
    out.append(html.escape(text[pos:]))
    return re.sub(r"\s+", " ", "".join(out)).strip()


def passage_cell(citation: str, text: str, highlights: Sequence[tuple[int, int]], ids: str) -> str:
    """One passage for a staff table: where it is from (short; in full on hover, with the chunk
    ids), then its text with the sentences that answer best marked. Corpus text is escaped."""
    title = html.escape(f"{citation} [{ids}]", quote=True)
    cite = html.escape(short_section(citation))
    return (
        f'<div class="staff-cite" title="{title}">{cite}</div>'
        f'<div class="staff-text">{marked_text(text, highlights)}</div>'
    )


def found_by(dense_rank: int | None, bm25_rank: int | None) -> str:
    """The passage's place in each search fused into its relevance ("–": not among its results)."""

    def place(rank: int | None) -> str:
        return f"#{rank}" if rank is not None else "–"

    return f"meaning {place(dense_rank)} · words {place(bm25_rank)}"


def relevance(score: float) -> float:
    return round(score, 3)


def passage_row(n: int, p: Passage) -> Row:
    return [
        n,
        passage_cell(p.section, p.text, p.highlights, p.id),
        relevance(p.score),
        found_by(p.dense_rank, p.bm25_rank),
        f"{p.overlap:.2f}" if n > 1 else "–",
    ]


def _candidates(engine: Answerer, answer: Answer, k: int) -> list[Row]:
    """The top chunks straight from the retriever when the engine has one (searched with the query
    vector the answer was found with: the question is not embedded again), each laid out as the
    engine lays out a passage: its highlights, and its fused score on the passages' 0..1 scale."""
    retriever = getattr(engine, "retriever", None)
    if retriever is None or answer.search is None or answer.vector is None:
        return []
    hits = retriever.find(answer.vector, answer.search, k)
    scale = retriever.fusion.max_score
    shown_as = {cid: n for n, p in enumerate(answer.passages, start=1) for cid in p.id.split("+")}
    # A passage shown as it is (one chunk) keeps the answer's relevance and ranks here too: one
    # passage, one number on the page, also when the answer fused several searches (a rewording,
    # the earlier questions, two questions in one) and this list is the question's own search.
    as_shown = {p.id: p for p in answer.passages}
    rows = []
    for n, h in enumerate(hits, start=1):
        (found,) = choose(retriever.index, [h], answer.vector, 1, diversity=0.0, scale=scale)
        p = as_shown.get(found.id, found)
        shown = f"passage {shown_as[h.chunk.id]}" if h.chunk.id in shown_as else ""
        rows.append(
            [
                n,
                passage_cell(p.section, p.text, p.highlights, p.id),
                relevance(p.score),
                found_by(p.dense_rank, p.bm25_rank),
                shown,
            ]
        )
    return rows


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


def _when(time: str) -> str:
    """A stored UTC time to the second, as staff read it: "2026-12-03 14:18:58"."""
    return time[:19].replace("T", " ")


def _cell(text: str) -> str:
    return bounded(text, MAX_CELL_CHARS)[0]


def feedback_rows(records: Sequence[FeedbackRecord]) -> list[Row]:
    """Recent votes, most recent first, one row each."""
    return [
        [
            _when(r.time),
            r.vote,
            r.reason or "",
            _cell(r.comment or ""),
            _cell(r.question),
            _cell(" → ".join(r.history)),
            _cell("; ".join(short_section(p.section) for p in r.passages)),
            r.index_build,
        ]
        for r in records
    ]


def gap_alert(g: GapCount) -> str | None:
    """The safety card a content-gap question got: as stored with it, else (a row stored without
    one: before schema 2, or by a caller that does not say) as the safety rules read it, which is
    how the engine decides it (`check_message` on the cleaned question, before any search)."""
    if g.alert:
        return g.alert
    found = check_message(clean_question(g.question))
    return found.kind if found else None


@dataclass(frozen=True)
class GapReport:
    rows: list[Row]  # the content gaps, most asked first
    left_out: Counter[str]  # questions (grouped by wording) left out, by the safety card they got

    def note(self) -> str:
        """What the report leaves out, for the line under it."""
        if not self.left_out:
            return ""
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.left_out.items()))
        total = sum(self.left_out.values())
        return (
            f"Left out: {total} question(s) that got a safety card ({kinds}). They were answered "
            "with what to do now, so they are not missing content. The export keeps every question."
        )


def gap_report(counts: Sequence[GapCount]) -> GapReport:
    """The content-gap report: questions not answered confidently, grouped by wording, most asked
    first, without those that got a safety card."""
    rows: list[Row] = []
    left_out: Counter[str] = Counter()
    for g in counts:
        kind = gap_alert(g)
        if kind:
            left_out[kind] += 1
        else:
            rows.append([g.count, _cell(g.question), _when(g.last_time)])
    return GapReport(rows, left_out)


def gap_rows(counts: Sequence[GapCount]) -> list[Row]:
    """The content-gap report's rows (`gap_report`)."""
    return gap_report(counts).rows
