"""`scripts/bench.py`'s bookkeeping: the bars it judges and the report it writes (no timing here;
`make bench` does that)."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
bench = pytest.importorskip("bench")


def level(users: int, p50: float, p95: float, errors: int = 0, seconds: float = 30) -> dict[str, Any]:
    return {
        "users": users,
        "seconds": seconds,
        "requests": 100 + errors,
        "answered": 100,
        "errors": errors,
        "error_examples": ["HTTP 500 on submit"] if errors else [],
        "throughput_per_s": 10.0,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p95,
    }


def result(ratio: float, p95_at_8: float, errors_at_32: int, cold: float) -> dict[str, Any]:
    timing = {"p50_ms": 20.0, "p95_ms": 25.0, "p99_ms": 30.0, "n": 10}
    return {
        "date": "2026-01-01T00:00:00+00:00",
        "machine": {**bench.machine(), "load_average_at_end": [1.0, 1.0, 1.0]},
        "latency": {
            "embed": timing,
            "pipeline": timing,
            "cached": timing,
            "p50_ratio": ratio,
            "questions": 10,
            "rounds": 1,
        },
        "load": {
            "server_answer_cache": False,
            "first_answer_s": 10.0,
            "levels": [level(1, 50, 60), level(8, 200, p95_at_8), level(32, 800, 900, errors_at_32)],
            "peak_rss_mb": 700.0,
            "rss_after_mb": 690.0,
            "queue": {"default_concurrency_limit": 4, "max_size": 128},
        },
        "cold_start": {
            "runs": 1,
            "import_floor_s": [10.0],
            "first_answer_s": [10.0 * cold],
            "import_floor_median_s": 10.0,
            "first_answer_median_s": 10.0 * cold,
            "ratio": cold,
            "peak_rss_after_first_answer_mb": 600.0,
        },
    }


DURATIONS = {1: 10.0, 8: 15.0, 32: 30.0}


def test_every_bar_passes_within_its_limit() -> None:
    bars = bench.bars(result(1.2, 450, 0, 1.1), DURATIONS)
    assert [b["pass"] for b in bars] == [True, True, True, True]


def test_each_bar_fails_past_its_limit() -> None:
    bars = bench.bars(result(1.6, 550, 3, 1.4), DURATIONS)
    assert [b["pass"] for b in bars] == [False, False, False, False]


def test_a_short_32_user_run_does_not_claim_the_bar() -> None:
    bars = bench.bars(result(1.2, 450, 0, 1.1), {**DURATIONS, 32: 5.0})
    assert [b["pass"] for b in bars if b["bar"].startswith("32 users")] == [None]


def test_the_report_names_the_machine_and_every_section() -> None:
    data = result(1.2, 450, 2, 1.1)
    data["bars"] = bench.bars(data, DURATIONS)
    text = bench.markdown(data)
    for part in ("Machine:", "torch", "## Bars", "## 1.", "## 2.", "## 3.", "## 4.", "HTTP 500 on submit"):
        assert part in text
    assert "**FAIL**" in text  # the 32-user errors
