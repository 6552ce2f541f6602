"""Choose how hybrid retrieval combines its signals, by measurement on tuning data only.

For each candidate `Fusion` (convex combinations with several weights, and reciprocal rank
fusion), prints nDCG@10 on SciFact's *train* queries and hit@1 / hit@3 / MRR on the article's dev
tune and tune2 sets. Held-out data (SciFact test, article_heldout.jsonl) is never read here: it is
measured once, afterwards, with `chatbot eval-beir` and `chatbot eval`.

    python scripts/tune_fusion.py [--scifact ../shared/eval/scifact] [--json]

The query embeddings are computed once and shared by every candidate, so the grid costs little
more than one BEIR run (the corpus embeddings come from `index/beir-cache`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chatbot.answering.engine import Engine  # noqa: E402
from chatbot.answering.retrieval import Fusion, Retriever  # noqa: E402
from chatbot.evaluation.beir import CHUNK_DEPTH, build_memory_index, evaluate_benchmark, load_benchmark  # noqa: E402
from chatbot.evaluation.eval_sets import evaluate, load_eval_set  # noqa: E402
from chatbot.indexing.build import open_index  # noqa: E402
from chatbot.indexing.embedding import MiniLMEmbedder  # noqa: E402

CANDIDATES = (
    Fusion("rrf", 1.0, 1.0, 1.0, rrf_k=30),
    Fusion("rrf", 1.0, 1.0, 1.0, rrf_k=60),
    *(Fusion("convex", 1.0, s, b) for s in (0.0, 0.5, 0.75, 1.0) for b in (0.1, 0.2, 0.25, 0.3, 0.5)),
)
ARTICLE_SETS = ("article_dev.jsonl", "article_tune.jsonl", "article_tune2.jsonl")


def _label(f: Fusion) -> str:
    if f.method == "rrf":
        return f"rrf k={f.rrf_k}"
    return f"convex dense {f.dense:g} sentence {f.sentence:g} bm25 {f.bm25:g}"


def scifact_scores(folder: Path, embedder: MiniLMEmbedder) -> dict[str, float]:
    bench = load_benchmark(folder, "train")
    index = build_memory_index(bench.documents, embedder, ROOT / "index" / "beir-cache", progress=False)
    engine = Engine(index, embedder)
    # Each question's search text and vector, made once for every candidate.
    searched = {t: engine.search_query(t) for t in bench.queries.values()}
    vectors = dict(zip(searched, embedder.encode([s.text for s in searched.values()]), strict=True))
    out = {}
    for fusion in CANDIDATES:
        retriever = Retriever(index, fusion)

        def search(text: str, method: str, retriever: Retriever = retriever) -> list[str]:
            hits = retriever.find(vectors[text], searched[text], CHUNK_DEPTH, method, depth=CHUNK_DEPTH)
            return [h.chunk.source for h in hits]

        result: dict[str, Any] = evaluate_benchmark(bench, search, ("hybrid",))
        out[_label(fusion)] = result["hybrid"]["ndcg@10"]
    return out


def article_scores(embedder: MiniLMEmbedder) -> dict[str, dict[str, float]]:
    index = open_index(ROOT / "corpus", ROOT / "index", embedder, progress=False)
    cases = [c for name in ARTICLE_SETS for c in load_eval_set(ROOT / "tests" / "data" / name)]
    out = {}
    for fusion in CANDIDATES:
        report = evaluate(Engine(index, embedder, fusion=fusion), cases)
        o = report.overall
        out[_label(fusion)] = {"hit@1": round(o.hit1, 4), "hit@3": round(o.hit3, 4), "mrr": round(o.mrr, 4)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scifact", type=Path, default=ROOT.parent / "shared" / "eval" / "scifact")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    embedder = MiniLMEmbedder()
    article = article_scores(embedder)
    scifact = scifact_scores(args.scifact, embedder) if args.scifact.is_dir() else {}
    if args.json:
        print(json.dumps({"article_dev_tune": article, "scifact_train_ndcg@10": scifact}))
        return 0
    print(f"{'fusion':<40} {'SciFact train':>13} {'hit@1':>6} {'hit@3':>6} {'MRR':>6}")
    for label, a in article.items():
        sf = f"{scifact[label]:.4f}" if label in scifact else "-"
        print(f"{label:<40} {sf:>13} {a['hit@1']:>6.3f} {a['hit@3']:>6.3f} {a['mrr']:>6.3f}")
    if not scifact:
        print(f"(SciFact not found at {args.scifact}: article sets only)")
    if scifact:
        print(f"best SciFact train nDCG@10: {max(scifact.values()):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
