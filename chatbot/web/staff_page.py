"""The staff review page (Gradio), a separate app from the patient chat, served at /staff.

Being a separate Blocks, none of its components or data are ever part of the patient page;
`chatbot.web.server` mounts it behind its own password, with `staff_mount_options` (its own theme
and CSS). All logic lives in `chatbot.web.staff`. The exports are links to
`chatbot.web.staff_exports`, computed per request behind the same password: a file returned to a
Gradio component would be copied into a cache the patient app serves.
"""

from __future__ import annotations

from typing import Any, Literal

import gradio as gr
import pandas as pd

from chatbot.answering.answerer import Answerer
from chatbot.errors import FeedbackStoreError
from chatbot.feedback.protocol import FeedbackStoreLike
from chatbot.present import escape_markdown
from chatbot.web.staff import (
    CANDIDATE_COLUMNS,
    FEEDBACK_COLUMNS,
    GAP_COLUMNS,
    HTML_COLUMN,
    PASSAGE_COLUMNS,
    feedback_rows,
    gap_report,
    inspect_question,
    inspection_markdown,
    parse_history,
)
from chatbot.web.staff_exports import export_link

RECENT = 100

# Colours with text at 4.5:1 or more on their background (WCAG AA), light and dark: Gradio's
# default primary button (white on orange-500, about 2.8:1) and its subdued grey text fall short.
# On white: BLUE 6.7:1, BLUE_DARK 10.4:1, INK 17.7:1, GREY_TEXT 7.6:1; on Gradio's dark
# background (#0b0f19): BLUE_LIGHT 10.6:1. White on BLUE 6.7:1, on BLUE_DARK 10.4:1.
BLUE, BLUE_DARK, BLUE_LIGHT = "#1d4ed8", "#1e3a8a", "#93c5fd"
INK, GREY_TEXT = "#111827", "#4b5563"
# The primary button, the same in light and dark mode.
_PRIMARY_BUTTON = {
    "background_fill": BLUE,
    "background_fill_hover": BLUE_DARK,
    "border_color": BLUE,
    "border_color_hover": BLUE_DARK,
    "text_color": "#ffffff",
    "text_color_hover": "#ffffff",
}
STAFF_THEME = gr.themes.Default(
    primary_hue="blue", font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
).set(
    **{
        f"button_primary_{key}{mode}": value
        for key, value in _PRIMARY_BUTTON.items()
        for mode in ("", "_dark")
    },
    button_secondary_text_color=INK,
    button_secondary_text_color_hover=INK,
    body_text_color_subdued=GREY_TEXT,
    block_label_text_color=INK,
    block_info_text_color=GREY_TEXT,
    color_accent=BLUE,  # the selected tab's text, among others (dark: STAFF_CSS)
)
# The passage tables fit a 1280 px screen: the passage column takes the width and wraps, the
# numbers keep theirs; a word too long for its column (an id) breaks rather than widen it.
PASSAGE_WIDTHS: list[str | int] = ["5%", "63%", "10%", "13%", "9%"]
FEEDBACK_WIDTHS: list[str | int] = ["10%", "7%", "10%", "13%", "18%", "13%", "19%", "10%"]
GAP_WIDTHS: list[str | int] = ["12%", "60%", "28%"]
STAFF_CSS = (
    """
.dark .gradio-container { --color-accent: """
    + BLUE_LIGHT
    + """; }
#staff-shown .wrap, #staff-candidates .wrap, #staff-feedback .wrap, #staff-gaps .wrap {
  word-break: normal; overflow-wrap: break-word; }
#staff-shown .staff-cite, #staff-candidates .staff-cite { font-weight: 600; margin-bottom: .3em; }
.gradio-container mark { background: #fde68a !important; color: #111827 !important; padding: 0 .1em; }
"""
)


def staff_mount_options() -> dict[str, Any]:
    """What the staff page is mounted with beyond the site's options: its theme and CSS, and none
    of the chat's page script."""
    return {"theme": STAFF_THEME, "css": STAFF_CSS, "head": None}


def store_line(problem: str | None) -> str:
    """The line above the tables when the feedback store cannot be used (else nothing)."""
    if not problem:
        return ""
    return f"**The feedback store cannot be used, so these tables are empty.** {escape_markdown(problem)}"


def _export_links(kind: str, what: str) -> None:
    """Links to the exports of `kind` (computed when followed, behind the staff password)."""
    with gr.Row():
        for fmt, label in (("csv", "CSV"), ("jsonl", "JSON lines")):
            gr.Button(
                f"Export {what} ({label})",
                link=export_link(f"{kind}.{fmt}"),
                elem_id=f"staff-{kind}-export" + ("" if fmt == "csv" else "-jsonl"),
                size="sm",
                scale=0,
            )


def _frame(rows: list[list[Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


def _passage_types(columns: tuple[str, ...]) -> list[Literal["str", "html"]]:
    """Each column's cell type: the passage's is escaped HTML (`chatbot.web.staff.passage_cell`)."""
    return ["html" if i == HTML_COLUMN else "str" for i in range(len(columns))]


def _table(
    columns: tuple[str, ...], label: str, elem_id: str, widths: list[str | int], **more: Any
) -> gr.Dataframe:
    """A read-only staff table, its cells wrapped, its columns fitting 1280 px."""
    return gr.Dataframe(
        _frame([], columns),
        label=label,
        show_label=True,
        elem_id=elem_id,
        interactive=False,
        wrap=True,
        column_widths=widths,
        **more,
    )


def _passage_table(columns: tuple[str, ...], label: str, elem_id: str) -> gr.Dataframe:
    """A table of passages (shown, or candidates): the passage cell is HTML."""
    return _table(columns, label, elem_id, PASSAGE_WIDTHS, datatype=_passage_types(columns), max_height=900)


LEGEND = (
    "Each passage: where it is from (in full on hover), then its text with the sentences that "
    "answer best <mark>marked</mark>. **relevance**: the one score the engine ranks by, 0 to 1 "
    "(meaning and words fused). **found by**: the passage's place by meaning (dense search) and "
    "by words (BM25), – when not among their results. The candidates are the question's own "
    "search, ranked by it; one shown to the patient keeps the relevance it was shown with."
)


def build_staff_app(engine: Answerer, store: FeedbackStoreLike) -> gr.Blocks:
    """The staff review page: inspect a question, recent votes, content gaps, exports.

    One function, longer than most: Gradio builds a page inside one `with gr.Blocks()` tree, and
    its event wiring must see the components it connects. Read top to bottom, it is the page's
    three tabs in order; what they show is computed in `chatbot.web.staff`.
    """
    store.check()  # at start: a damaged file is said in the log, in one line with its fix
    with gr.Blocks(title="Staff review: refractory myeloma chat", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(
            "# Staff review\nWhat patients asked, what they were shown and why, and what they thought."
        )
        store_status = gr.Markdown(elem_id="staff-store-status")
        with gr.Tabs() as tabs:
            with gr.Tab("Check a question", id="check"):
                with gr.Row():
                    question = gr.Textbox(label="Question", elem_id="staff-question", scale=3)
                    history = gr.Textbox(
                        label="Earlier questions (one per line, oldest first)",
                        elem_id="staff-history",
                        lines=2,
                        scale=2,
                    )
                check = gr.Button("Check", variant="primary", elem_id="staff-check")
                summary = gr.Markdown(elem_id="staff-summary")
                gr.Markdown(LEGEND, elem_id="staff-legend")
                shown = _passage_table(PASSAGE_COLUMNS, "Passages shown to the patient", "staff-shown")
                candidates = _passage_table(
                    CANDIDATE_COLUMNS, "Top candidates before grouping", "staff-candidates"
                )
            with gr.Tab("Recent feedback", id="feedback"):
                gr.Markdown("Most recent first. Select a row to check its question.")
                feedback = _table(FEEDBACK_COLUMNS, "Recent feedback", "staff-feedback", FEEDBACK_WIDTHS)
                _export_links("feedback", "feedback")
            with gr.Tab("Content gaps", id="gaps"):
                gr.Markdown(
                    "Questions the article did not answer confidently, grouped by wording, most asked "
                    "first. Questions that got a safety card (urgent, crisis) are left out."
                )
                gaps = _table(GAP_COLUMNS, "Content gaps", "staff-gaps", GAP_WIDTHS)
                gaps_note = gr.Markdown(elem_id="staff-gaps-note")
                _export_links("gaps", "content gaps")
        refresh = gr.Button("Refresh tables", elem_id="staff-refresh")

        def on_check(q: str, h: str) -> tuple[Any, ...]:
            ins = inspect_question(engine, q, parse_history(h))
            return (
                inspection_markdown(ins),
                _frame(ins.shown, PASSAGE_COLUMNS),
                _frame(ins.candidates, CANDIDATE_COLUMNS),
            )

        def on_refresh() -> tuple[Any, ...]:
            # Said on the page, not only in the log: staff are who would notice a broken store.
            problem = store.problem()
            try:
                votes = store.recent_feedback(RECENT) if problem is None else []
                report = gap_report(store.gap_counts(RECENT) if problem is None else [])
            except FeedbackStoreError as exc:
                problem, votes, report = str(exc), [], gap_report([])
            return (
                _frame(feedback_rows(votes), FEEDBACK_COLUMNS),
                _frame(report.rows, GAP_COLUMNS),
                report.note(),
                store_line(problem),
            )

        def on_pick(evt: gr.SelectData) -> tuple[Any, ...]:
            row = dict(zip(FEEDBACK_COLUMNS, evt.row_value or [], strict=False))
            q = str(row.get("question", ""))
            h = "\n".join(s for s in str(row.get("earlier questions", "")).split(" → ") if s)
            return (gr.Tabs(selected="check"), q, h, *on_check(q, h))

        def on_pick_gap(evt: gr.SelectData) -> tuple[Any, ...]:
            row = dict(zip(GAP_COLUMNS, evt.row_value or [], strict=False))
            q = str(row.get("question (latest wording)", ""))
            return (gr.Tabs(selected="check"), q, "", *on_check(q, ""))

        private: dict[str, Any] = {"api_visibility": "private"}
        checked = [summary, shown, candidates]
        check.click(on_check, [question, history], checked, **private)
        question.submit(on_check, [question, history], checked, **private)
        tables = [feedback, gaps, gaps_note, store_status]
        refresh.click(on_refresh, None, tables, **private)
        demo.load(on_refresh, None, tables, **private)
        picked = [tabs, question, history, *checked]
        feedback.select(on_pick, None, picked, **private)
        gaps.select(on_pick_gap, None, picked, **private)
    demo.queue(default_concurrency_limit=2, max_size=16)
    return demo
