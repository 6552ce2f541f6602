"""The cost of a question's candidate lists: ranking by partial selection (`top_order`) against
the full stable sort it replaced, interleaved in one run, at the corpus sizes that matter.

Each retriever's scores cover every chunk; only the best `depth` (100) become candidates. A full
sort is O(n log n) per list and question; partial selection is O(n). Scores are drawn like the
real ones: BM25 mostly zero with ties, cosines continuous.

    python scripts/bench_ranking.py [--sizes 39394 2300000] [--rounds 20] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chatbot.answering.retrieval import DEPTH, top_order  # noqa: E402


def full_sort(scores: np.ndarray, depth: int) -> np.ndarray:
    return np.lexsort((np.arange(len(scores)), -scores))[:depth]


def lists(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    bm25 = np.zeros(n, dtype=np.float32)
    hit = rng.random(n) < 0.05  # a question's words appear in a few percent of chunks
    bm25[hit] = np.round(rng.gamma(2.0, 2.0, int(hit.sum())), 2)
    cosine = rng.normal(0.1, 0.1, n).astype(np.float32)
    return {"bm25": bm25, "cosine": cosine}


def measure(n: int, rounds: int, depth: int, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    times: dict[str, list[float]] = {"full sort": [], "partial": []}
    for _ in range(rounds):
        for scores in lists(n, rng).values():
            for name, rank in (("full sort", full_sort), ("partial", top_order)):
                start = time.perf_counter()
                rank(scores, depth)
                times[name].append(time.perf_counter() - start)
            assert np.array_equal(full_sort(scores, depth), top_order(scores, depth))
    full, partial = (statistics.median(times[k]) * 1000 for k in ("full sort", "partial"))
    return {"chunks": n, "full_sort_ms": full, "partial_ms": partial, "speedup": full / partial}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2865, 39394, 2_300_000])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = [measure(n, args.rounds if n < 1_000_000 else max(3, args.rounds // 4), DEPTH) for n in args.sizes]
    for r in rows:
        print(
            f"{r['chunks']:>9,} chunks: full sort {r['full_sort_ms']:8.2f} ms, "
            f"partial selection {r['partial_ms']:7.2f} ms (x{r['speedup']:.1f}), same order"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
