"""The index: passages cut from the corpus, embedded, and kept on disk in atomic builds.

Stage 2. In: `Document`s. Out: a `StoredIndex` (chunks, dense vectors, BM25) that readers open.

- `chunking`: documents cut into passages a patient can read at a glance (`Chunk`).
- `embedding`: text into normalised vectors (`Embedder`, the MiniLM model).
- `vectors`: the `VectorIndex` seam and its FAISS implementation (the only module importing faiss).
- `bm25`: the tokenizer and the BM25 index built on it.
- `store`: the index folder on disk, the only module that writes it (builds, manifest, lock).
- `reuse`: exactly what is embedded per chunk, and the vectors a new build takes from the last.
- `build`: build or refresh the index, and whether the one on disk is current (`stale_reason`).
- `changes`: what a build changes (documents and sections added, changed, removed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot.lazy import lazy_exports

if TYPE_CHECKING:
    from chatbot.indexing.bm25 import BM25Index
    from chatbot.indexing.build import IndexOptions, build_index, open_index, plan_build, stale_reason
    from chatbot.indexing.changes import format_plan
    from chatbot.indexing.chunking import CITATION_SEP, Chunk, ChunkSettings, chunk_corpus
    from chatbot.indexing.embedding import BatchingEmbedder, Embedder, MiniLMEmbedder, encode_all
    from chatbot.indexing.store import Manifest, StoredDocument, StoredIndex, load_build, read_manifest
    from chatbot.indexing.vectors import FaissIndex, VectorIndex, build_dense, load_dense

_EXPORTS = {
    "CITATION_SEP": ".chunking",
    "Chunk": ".chunking",
    "ChunkSettings": ".chunking",
    "chunk_corpus": ".chunking",
    "BatchingEmbedder": ".embedding",
    "Embedder": ".embedding",
    "MiniLMEmbedder": ".embedding",
    "encode_all": ".embedding",
    "FaissIndex": ".vectors",
    "VectorIndex": ".vectors",
    "build_dense": ".vectors",
    "load_dense": ".vectors",
    "BM25Index": ".bm25",
    "Manifest": ".store",
    "StoredDocument": ".store",
    "StoredIndex": ".store",
    "load_build": ".store",
    "read_manifest": ".store",
    "IndexOptions": ".build",
    "build_index": ".build",
    "open_index": ".build",
    "plan_build": ".build",
    "stale_reason": ".build",
    "format_plan": ".changes",
}
__all__ = [
    "BM25Index",
    "BatchingEmbedder",
    "CITATION_SEP",
    "Chunk",
    "ChunkSettings",
    "Embedder",
    "FaissIndex",
    "IndexOptions",
    "Manifest",
    "MiniLMEmbedder",
    "StoredDocument",
    "StoredIndex",
    "VectorIndex",
    "build_dense",
    "build_index",
    "chunk_corpus",
    "encode_all",
    "format_plan",
    "load_build",
    "load_dense",
    "open_index",
    "plan_build",
    "read_manifest",
    "stale_reason",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
