"""Choose the weights of document-level evidence (`answering.documents`), on tuning data only.

For each candidate pair (lead cosine weight, whole-document BM25 weight) prints hybrid nDCG@10
and Recall@100 on every tuning benchmark named: SciFact's train queries, and MedQuAD's tuning
bucket with NIH's own questions and with consumer-style ones:

    python scripts/make_medquad_beir.py --bucket 1 --out reports/medquad-tune
    python scripts/make_medquad_beir.py --bucket 1 --out reports/medquad-consumer-tune \\
        --questions tests/data/medquad_consumer_tune.jsonl
    python scripts/tune_documents.py ../shared/eval/scifact:train reports/medquad-tune \\
        reports/medquad-consumer-tune

A folder may end in `:SPLIT` (default test). The held-out benchmarks (SciFact test, MedQuAD
bucket 0) are measured once, afterwards, with `chatbot eval-beir`. Query vectors are made once
and shared by every candidate; corpus embeddings come from `index/beir-cache`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chatbot.answering.engine import Engine  # noqa: E402
from chatbot.answering.retrieval import FUSION, Retriever  # noqa: E402
from chatbot.evaluation.beir import CHUNK_DEPTH, build_memory_index, evaluate_benchmark, load_benchmark  # noqa: E402
from chatbot.indexing.embedding import MiniLMEmbedder  # noqa: E402
from chatbot.question.query import SearchQuery  # noqa: E402

WEIGHTS = (
    (0.0, 0.0),
    (0.25, 0.0),
    (0.5, 0.0),
    (1.0, 0.0),
    (0.25, 0.1),
    (0.25, 0.25),
    (0.5, 0.1),
    (0.5, 0.25),
    (1.0, 0.25),
)


def _searcher(
    retriever: Retriever, vectors: dict[str, np.ndarray], searched: dict[str, SearchQuery]
) -> Callable[[str, str], list[str]]:
    def search(text: str, method: str) -> list[str]:
        hits = retriever.find(vectors[text], searched[text], CHUNK_DEPTH, method, depth=CHUNK_DEPTH)
        return [h.chunk.source for h in hits]

    return search


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmarks", nargs="+", help="BEIR folders, each optionally FOLDER:SPLIT")
    args = parser.parse_args(argv)
    embedder = MiniLMEmbedder()
    print(f"{'lead':>5} {'bm25':>5}  " + "  ".join(f"{Path(b).name:>28}" for b in args.benchmarks))
    rows: dict[tuple[float, float], list[str]] = {w: [] for w in WEIGHTS}
    for spec in args.benchmarks:
        folder, _, split = spec.partition(":")
        bench = load_benchmark(Path(folder), split or "test")
        index = build_memory_index(bench.documents, embedder, ROOT / "index" / "beir-cache", progress=False)
        engine = Engine(index, embedder)
        searched = {t: engine.search_query(t) for t in bench.queries.values()}
        vectors = dict(zip(searched, embedder.encode([s.text for s in searched.values()]), strict=True))
        for lead, bm25 in WEIGHTS:
            retriever = Retriever(index, dataclasses.replace(FUSION, lead=lead, document_bm25=bm25))

            scores = evaluate_benchmark(bench, _searcher(retriever, vectors, searched), ("hybrid",))["hybrid"]
            rows[(lead, bm25)].append(f"{scores['ndcg@10']:.4f} / {scores['recall@100']:.4f}".rjust(28))  # type: ignore[index]
    for (lead, bm25), cells in rows.items():
        print(f"{lead:>5g} {bm25:>5g}  " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
