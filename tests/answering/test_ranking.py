"""Candidate lists by partial selection (`top_order`): the same order a full stable sort gives,
ties at the cut included, for any depth."""

from __future__ import annotations

import numpy as np
import pytest

from chatbot.answering.retrieval import _ranks, top_order


def full_sort(scores: np.ndarray, depth: int) -> np.ndarray:
    return np.lexsort((np.arange(len(scores)), -scores))[:depth]


@pytest.mark.parametrize("seed", range(20))
def test_top_order_is_the_full_stable_sort_cut_at_depth(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    # few distinct values: runs of equal scores everywhere, the cut often inside one
    scores = rng.integers(0, 1 + int(rng.integers(1, 40)), n).astype(np.float32) / 7
    if seed % 3 == 0:
        scores[rng.random(n) < 0.5] = 0.0  # BM25: most chunks share no word with the question
    for depth in (1, 2, 10, 100, n - 1, n, n + 5):
        if depth <= 0:
            continue
        assert np.array_equal(top_order(scores, depth), full_sort(scores, depth)), (n, depth)


def test_top_order_on_the_edges() -> None:
    assert top_order(np.zeros(0, dtype=np.float32), 5).tolist() == []
    assert top_order(np.array([0.1, 0.3], dtype=np.float32), 0).tolist() == []
    assert top_order(np.array([1.0, 1.0, 1.0, 2.0]), 2).tolist() == [3, 0]  # ties by position
    assert top_order(np.array([-1.0, 0.5, -1.0, -1.0]), 3).tolist() == [1, 0, 2]


def test_ranks_share_a_rank_within_the_tolerance_and_stop_at_zero() -> None:
    scores = np.array([0.0, 5.0, 4.99, 3.0, 0.0, 5.0], dtype=np.float32)
    assert _ranks(scores, 10, positive_only=True, tolerance=0.01) == {1: 1, 5: 1, 2: 1, 3: 4}
    assert _ranks(scores, 2, positive_only=False) == {1: 1, 5: 1}
