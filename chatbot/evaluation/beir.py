"""Measure retrieval on a BEIR-format benchmark with the chat's own engine.

A BEIR folder holds `corpus.jsonl`, `queries.jsonl` and `qrels/<split>.tsv`. Its documents are
chunked like any document and a document is ranked where its best chunk is; nDCG@10 and
Recall@100 are reported for BM25 and dense (each over chunks alone) and hybrid (the chat's
method, in which each chunk's score also carries its document's evidence: `answering.documents`).
Embeddings are cached by a hash of what was embedded and by which model, so a second run embeds
nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chatbot.corpus.files import Document, document_from_record
from chatbot.errors import InputError
from chatbot.indexing.chunking import Chunk, ChunkSettings, chunk_corpus
from chatbot.indexing.embedding import Embedder, encode_all
from chatbot.indexing.store import Manifest, StoredIndex
from chatbot.indexing.vectors import build_dense

METHODS = ("bm25", "dense", "hybrid")
CHUNK_DEPTH = 400  # chunks read per retriever: enough distinct documents for Recall@100


@dataclass(frozen=True)
class Benchmark:
    documents: tuple[Document, ...]
    queries: dict[str, str]  # query id -> text, only queries with judgements
    qrels: dict[str, dict[str, int]]  # query id -> document id -> relevance


def _jsonl(path: Path) -> list[dict[str, object]]:
    try:
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"Cannot read {path} ({type(exc).__name__}: {exc}). Is it a BEIR folder?") from None


def load_benchmark(folder: Path, split: str = "test") -> Benchmark:
    """Read a BEIR folder; only judged queries are kept."""
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for path in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        if not path.is_file():
            raise InputError(
                f"{path} is missing: a BEIR folder needs corpus.jsonl, queries.jsonl and qrels/{split}.tsv."
            )
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_path, encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                continue  # the header, or a blank line
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    queries = {
        str(q["_id"]): str(q["text"]) for q in _jsonl(folder / "queries.jsonl") if str(q["_id"]) in qrels
    }
    docs = tuple(
        document_from_record(str(d["_id"]), str(d.get("title") or ""), str(d.get("text") or ""))
        for d in _jsonl(folder / "corpus.jsonl")
    )
    return Benchmark(docs, queries, {q: r for q, r in qrels.items() if q in queries})


def _cache_key(embedder: Embedder, chunks: list[Chunk]) -> str:
    digest = hashlib.sha256(embedder.model_id.encode())
    for c in chunks:
        digest.update(c.dense_text.encode() + b"\0")
        digest.update("\0".join(c.sentence_texts).encode())
    return digest.hexdigest()[:24]


def build_memory_index(
    documents: tuple[Document, ...],
    embedder: Embedder,
    cache_dir: Path,
    settings: ChunkSettings = ChunkSettings(),
    progress: bool = True,
) -> StoredIndex:
    """An in-memory index of the documents, embeddings cached on disk by content hash."""
    from chatbot.indexing.store import StoredDocument

    chunks = chunk_corpus(documents, settings)
    key = _cache_key(embedder, chunks)
    folder = cache_dir / key
    try:
        vectors = np.load(folder / "vectors.npy", allow_pickle=False)
        sentence_vectors = np.load(folder / "sentences.npy", allow_pickle=False)
    except (OSError, ValueError):
        texts = [c.dense_text for c in chunks] + [t for c in chunks for t in c.sentence_texts]
        out = encode_all(embedder, texts, progress)
        vectors, sentence_vectors = out[: len(chunks)], out[len(chunks) :]
        folder.mkdir(parents=True, exist_ok=True)
        for name, array in (("vectors.npy", vectors), ("sentences.npy", sentence_vectors)):
            tmp = folder / f".{name}.tmp"
            with open(tmp, "wb") as fh:
                np.save(fh, array)
            tmp.replace(folder / name)
    dense = build_dense(vectors, threshold=len(vectors))  # exact: benchmark scores are not approximate
    manifest = Manifest(
        "memory", "", embedder.model_id, embedder.dim, settings.as_dict(), key, len(documents), len(chunks)
    )
    offsets = np.cumsum([0] + [len(c.sentences) for c in chunks])
    docs = {d.source: StoredDocument(d.text, d.provenance) for d in documents}
    return StoredIndex(manifest, tuple(chunks), vectors, sentence_vectors, offsets, dense, docs, {})


def ndcg_at_k(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum((2 ** relevant.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum((2**r - 1) / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at_k(ranked: list[str], relevant: dict[str, int], k: int = 100) -> float:
    wanted = {d for d, r in relevant.items() if r > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def rank_documents(search: Callable[[str, str], list[str]], query: str, method: str) -> list[str]:
    """Documents in order of their best chunk (the first time each appears)."""
    return list(dict.fromkeys(search(query, method)))


def evaluate_benchmark(
    bench: Benchmark, search: Callable[[str, str], list[str]], methods: tuple[str, ...] = METHODS
) -> dict[str, object]:
    """nDCG@10 and Recall@100 per method; `search(query, method)` returns chunk sources, best first."""
    result: dict[str, object] = {"n_queries": len(bench.queries)}
    for method in methods:
        ndcg = recall = 0.0
        for qid, text in bench.queries.items():
            ranked = rank_documents(search, text, method)
            ndcg += ndcg_at_k(ranked, bench.qrels[qid])
            recall += recall_at_k(ranked, bench.qrels[qid])
        n = max(1, len(bench.queries))
        result[method] = {"ndcg@10": round(ndcg / n, 4), "recall@100": round(recall / n, 4)}
    return result


def format_result(result: dict[str, object]) -> str:
    lines = [f"queries: {result['n_queries']}", f"{'method':<8} {'nDCG@10':>8} {'Recall@100':>11}"]
    for method in METHODS:
        scores = result.get(method)
        if isinstance(scores, dict):
            lines.append(f"{method:<8} {scores['ndcg@10']:>8.4f} {scores['recall@100']:>11.4f}")
    return "\n".join(lines)
