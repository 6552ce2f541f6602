"""The `VectorIndex` seam: the FAISS implementation against numpy brute force, its save/load round
trip, and the members the store and the retriever rely on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chatbot.indexing.vectors import FaissIndex, VectorIndex, build_dense, load_dense, recall_at_k


def unit_rows(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.parametrize("threshold, kind", [(1000, "flat"), (10, "hnsw")])
def test_an_index_finds_what_brute_force_finds(threshold: int, kind: str) -> None:
    vectors, queries = unit_rows(200), unit_rows(5, seed=1)
    index = build_dense(vectors, threshold)
    assert isinstance(index, VectorIndex) and isinstance(index, FaissIndex)
    assert (index.kind, index.count, index.dim) == (kind, 200, 16)
    scores, ids = index.search(queries, 10)
    exact = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :10]
    if kind == "flat":
        assert ids.tolist() == exact.tolist()
        assert np.allclose(scores, np.take_along_axis(queries @ vectors.T, exact, axis=1), atol=1e-5)
    assert recall_at_k(index, vectors, queries, k=10) >= (1.0 if kind == "flat" else 0.9)


def test_vectors_by_id_are_the_rows_it_was_built_from() -> None:
    vectors = unit_rows(50)
    index = build_dense(vectors)
    ids = np.asarray([7, 0, 49, 7])
    assert np.allclose(index.vectors(ids), vectors[ids])


def test_a_saved_index_loads_and_answers_the_same(tmp_path: Path) -> None:
    vectors, queries = unit_rows(80), unit_rows(3, seed=2)
    index = build_dense(vectors)
    index.save(tmp_path / "dense.faiss")
    again = load_dense(tmp_path / "dense.faiss")
    assert (again.kind, again.count, again.dim) == (index.kind, index.count, index.dim)
    assert again.search(queries, 5)[1].tolist() == index.search(queries, 5)[1].tolist()


def test_a_short_index_pads_with_minus_one() -> None:
    _, ids = build_dense(unit_rows(3)).search(unit_rows(1, seed=3), 5)
    assert sorted(ids[0].tolist()[:3]) == [0, 1, 2] and ids[0].tolist()[3:] == [-1, -1]
