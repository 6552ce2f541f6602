"""Find the chunks closest to a query in the loaded index."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chatbot.chunking import Chunk
from chatbot.store import StoredIndex


@dataclass(frozen=True)
class Hit:
    """A chunk found for a query, with its score (cosine similarity) and rank (1 = best)."""

    chunk: Chunk
    score: float
    rank: int


def dense_search(index: StoredIndex, query_vector: np.ndarray, k: int) -> list[Hit]:
    """The k chunks nearest the query by inner product of unit vectors, best first."""
    k = min(k, len(index.chunks))  # FAISS pads with -1 past the corpus size
    if k <= 0:
        return []
    scores, ids = index.faiss_index.search(query_vector.reshape(1, -1).astype(np.float32), k)
    return [
        Hit(index.chunks[i], float(s), rank)
        for rank, (i, s) in enumerate(zip(ids[0], scores[0], strict=True), start=1)
        if i >= 0
    ]
