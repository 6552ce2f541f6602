"""The dense vector index: the `VectorIndex` seam, and its FAISS implementation (the only module
that imports faiss). Exact search while it is fast, approximate past a size.

Everything else (the store, the retriever, passage diversity, the in-memory benchmark index) talks
to a `VectorIndex`: search, vectors by id, count, dim, kind, save and load. Swapping FAISS for
another library means one new class here with those members, and `load_dense` choosing it.

Exact search (FAISS `IndexFlatIP`) compares the query with every chunk: its cost grows with the
corpus. Measured on this 2-core machine, one query (k=100, 384-d) took 0.7 ms at 10,000 chunks
and 7.5 ms at 40,000 on one thread, and 5 to 24 ms at MedQuAD's 39,394 chunks with FAISS's
threads (more under load); an HNSW graph answers in about 1 ms at that size. A whole question
takes about 12 ms on the article alone, so exact search is kept until it would cost a good part
of a question: past `ANN_THRESHOLD` chunks the index becomes an HNSW graph (inner product, so
scores are still cosines). Its settings are MedQuAD's: with 16 links per node (M=32) recall@10
against exact search stopped near 0.95 whatever the search depth (MedQuAD holds many near
duplicates), while M=64 reaches 0.990 at efSearch 128 and 0.995 at 384 (1,000 MedQuAD
questions). `scripts/bench_index.py` reports it for each run. The retriever only calls `search`
and `vectors`, so it works the same on either index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

ANN_THRESHOLD = 20_000
HNSW_M = 64  # links per node: more is better recall, more memory (about 0.5 KB per chunk)
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 384  # above the retriever's depth (100), so a search returns full lists
_ADD_BATCH = 2048


def ann_settings(threshold: int = ANN_THRESHOLD) -> dict[str, int]:
    """What decides the dense index, recorded in the manifest (a change means a rebuild)."""
    return {
        "ann_threshold": threshold,
        "hnsw_m": HNSW_M,
        "hnsw_ef_construction": HNSW_EF_CONSTRUCTION,
        "hnsw_ef_search": HNSW_EF_SEARCH,
    }


@runtime_checkable
class VectorIndex(Protocol):
    """Inner-product search over unit vectors: what the retriever and the store need of an index."""

    @property
    def count(self) -> int:
        """How many vectors it holds (ids run from 0 to count - 1, in chunk order)."""
        ...

    @property
    def dim(self) -> int: ...

    @property
    def kind(self) -> str:
        """The manifest's name for it: "flat" (exact) or "hnsw" (approximate)."""
        ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the k best rows for each query row, best first; id -1 pads a short list."""
        ...

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of `ids` (the index holds them in memory already)."""
        ...

    def save(self, path: Path) -> None: ...


class FaissIndex:
    """A FAISS `IndexFlatIP` (exact) or `IndexHNSWFlat` (approximate) behind `VectorIndex`."""

    def __init__(self, faiss_object: Any) -> None:
        self._index = faiss_object

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def kind(self) -> str:
        import faiss

        return "hnsw" if isinstance(self._index, faiss.IndexHNSW) else "flat"

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, ids

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return np.asarray(self._index.reconstruct_batch(np.asarray(ids, dtype=np.int64)), dtype=np.float32)

    @property
    def faiss(self) -> Any:
        """The FAISS object itself, for benchmarks that tune its search depth."""
        return self._index

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))


def load_dense(path: Path) -> VectorIndex:
    """A saved dense index (FAISS's own file format); FAISS raises RuntimeError on a damaged file."""
    import faiss

    return FaissIndex(faiss.read_index(str(path)))


def build_dense(
    vectors: np.ndarray, threshold: int = ANN_THRESHOLD, *, progress: bool = False
) -> VectorIndex:
    """An inner-product index over unit vectors: exact up to `threshold` rows, HNSW past it."""
    import faiss
    from tqdm import tqdm

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    raw: Any
    if n <= threshold:
        raw = faiss.IndexFlatIP(dim)
        raw.add(vectors)
        return FaissIndex(raw)
    raw = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    raw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    raw.hnsw.efSearch = HNSW_EF_SEARCH
    with tqdm(total=n, unit="vector", desc="HNSW graph", disable=not progress) as bar:
        for i in range(0, n, _ADD_BATCH):
            raw.add(vectors[i : i + _ADD_BATCH])
            bar.update(min(_ADD_BATCH, n - i))
    return FaissIndex(raw)


def recall_at_k(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    """Share of the exact top-k (brute force over `vectors`) that `index` returns, over queries."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, len(vectors))
    if k == 0 or len(queries) == 0:
        return 1.0
    _, found = index.search(queries, k)
    matrix = np.asarray(vectors, dtype=np.float32)
    hits = 0
    for lo in range(0, len(queries), 256):
        scores = queries[lo : lo + 256] @ matrix.T
        exact = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        for want, got in zip(exact, found[lo : lo + 256], strict=True):
            hits += len(set(want.tolist()) & set(got.tolist()))
    return hits / (k * len(queries))
