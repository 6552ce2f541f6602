"""Evaluation: the engine measured on our question sets and on public BEIR benchmarks.

- `eval_sets`: hit@1, hit@3 and MRR on a JSON-lines set, overall and by kind of question.
- `beir`: nDCG@10 and Recall@100 on a BEIR folder (SciFact), BM25, dense and hybrid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot.lazy import lazy_exports

if TYPE_CHECKING:
    from chatbot.evaluation.beir import evaluate_benchmark, format_result, load_benchmark
    from chatbot.evaluation.eval_sets import EvalCase, evaluate, format_report, load_eval_set

_EXPORTS = {
    "EvalCase": ".eval_sets",
    "evaluate": ".eval_sets",
    "format_report": ".eval_sets",
    "load_eval_set": ".eval_sets",
    "evaluate_benchmark": ".beir",
    "format_result": ".beir",
    "load_benchmark": ".beir",
}
__all__ = [
    "EvalCase",
    "evaluate",
    "evaluate_benchmark",
    "format_report",
    "format_result",
    "load_benchmark",
    "load_eval_set",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
