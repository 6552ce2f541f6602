"""The staff review page (Gradio), a separate app from the patient chat, served at /staff.

Being a separate Blocks, none of its components or data are ever part of the patient page;
`chatbot.web.server` mounts it behind its own password. All logic lives in `chatbot.web.staff`.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from chatbot.answering.answerer import Answerer
from chatbot.feedback.store import FeedbackStore
from chatbot.web.downloads import private_folder
from chatbot.web.staff import (
    CANDIDATE_COLUMNS,
    FEEDBACK_COLUMNS,
    GAP_COLUMNS,
    PASSAGE_COLUMNS,
    export_file,
    feedback_rows,
    gap_rows,
    inspect_question,
    inspection_markdown,
    parse_history,
)

RECENT = 100
KEEP_EXPORTS_SECONDS = 600  # long enough for Gradio to copy a file into its cache


def _prune(folder: Path) -> None:
    for old in folder.iterdir():
        if time.time() - old.stat().st_mtime > KEEP_EXPORTS_SECONDS:
            shutil.rmtree(old, ignore_errors=True)


def _frame(rows: list[list[Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


def build_staff_app(engine: Answerer, store: FeedbackStore) -> gr.Blocks:
    """The staff review page: inspect a question, recent votes, content gaps, exports.

    One function, longer than most: Gradio builds a page inside one `with gr.Blocks()` tree, and
    its event wiring must see the components it connects. Read top to bottom, it is the page's
    three tabs in order; what they show is computed in `chatbot.web.staff`.
    """
    exports = private_folder("chatbot-staff-exports-")
    with gr.Blocks(title="Staff review: refractory myeloma chat", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(
            "## Staff review\nWhat patients asked, what they were shown and why, and what they thought."
        )
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
                gr.Markdown("**Passages shown to the patient**")
                shown = gr.Dataframe(_frame([], PASSAGE_COLUMNS), elem_id="staff-shown", interactive=False)
                gr.Markdown("**Top candidates before grouping (every signal)**")
                candidates = gr.Dataframe(
                    _frame([], CANDIDATE_COLUMNS), elem_id="staff-candidates", interactive=False
                )
            with gr.Tab("Recent feedback", id="feedback"):
                gr.Markdown("Most recent first. Select a row to check its question.")
                feedback = gr.Dataframe(
                    _frame([], FEEDBACK_COLUMNS),
                    elem_id="staff-feedback",
                    interactive=False,
                    wrap=True,
                    column_widths=["12%", "6%", "10%", "12%", "18%", "14%", "20%", "8%"],
                )
                feedback_export = gr.DownloadButton("Export feedback (CSV)", elem_id="staff-feedback-export")
            with gr.Tab("Content gaps", id="gaps"):
                gr.Markdown("Questions the article did not cover, grouped by wording, most asked first.")
                gaps = gr.Dataframe(
                    _frame([], GAP_COLUMNS), elem_id="staff-gaps", interactive=False, wrap=True
                )
                gaps_export = gr.DownloadButton("Export content gaps (CSV)", elem_id="staff-gaps-export")
        refresh = gr.Button("Refresh tables", elem_id="staff-refresh")

        def on_check(q: str, h: str) -> tuple[Any, ...]:
            ins = inspect_question(engine, q, parse_history(h))
            return (
                inspection_markdown(ins),
                _frame(ins.shown, PASSAGE_COLUMNS),
                _frame(ins.candidates, CANDIDATE_COLUMNS),
            )

        def on_refresh() -> tuple[Any, ...]:
            _prune(exports)
            return (
                _frame(feedback_rows(store.recent_feedback(RECENT)), FEEDBACK_COLUMNS),
                _frame(gap_rows(store.gap_counts(RECENT)), GAP_COLUMNS),
                str(export_file(store, "feedback", folder=exports)),
                str(export_file(store, "gaps", folder=exports)),
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
        tables = [feedback, gaps, feedback_export, gaps_export]
        refresh.click(on_refresh, None, tables, **private)
        demo.load(on_refresh, None, tables, **private)
        picked = [tabs, question, history, *checked]
        feedback.select(on_pick, None, picked, **private)
        gaps.select(on_pick_gap, None, picked, **private)
    demo.queue(default_concurrency_limit=2, max_size=16)
    return demo
