"""Per-question latency of the full pipeline against the bare query embedding, in the same run.

The floor for answering a question is embedding it; everything else (safety check, query
rewriting, BM25, FAISS, fusion, highlights) should add little. Both are timed here on the same
questions, interleaved, so machine noise hits both alike; the result is a ratio.

    python scripts/bench_latency.py [--questions tests/data/article_dev.jsonl] [--rounds 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p95_ms": round(percentile(ms, 0.95), 3),
        "p99_ms": round(percentile(ms, 0.99), 3),
        "n": len(ms),
    }


def measure(engine: object, embedder: object, questions: list[tuple[str, list[str]]], rounds: int) -> dict:
    """Interleaved timings: bare embedding of the question, then the whole `engine.ask`."""
    embed_times: list[float] = []
    ask_times: list[float] = []
    for _ in range(rounds):
        clear = getattr(engine, "clear_cache", None)
        if clear:
            clear()  # time the real work, not the answer cache
        for question, history in questions:
            t = time.perf_counter()
            embedder.encode([question])  # type: ignore[attr-defined]
            embed_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            engine.ask(question, history)  # type: ignore[attr-defined]
            ask_times.append(time.perf_counter() - t)
    embed, ask = summary(embed_times), summary(ask_times)
    return {"embed": embed, "pipeline": ask, "p50_ratio": round(ask["p50_ms"] / embed["p50_ms"], 3)}


def load_questions(path: Path) -> list[tuple[str, list[str]]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["question"], list(r.get("history") or [])) for r in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "tests/data/article_dev.jsonl")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)

    from chatbot.answering.engine import Engine
    from chatbot.indexing.build import open_index
    from chatbot.indexing.embedding import MiniLMEmbedder

    embedder = MiniLMEmbedder()
    engine = Engine(open_index(args.corpus, args.index, embedder, progress=False), embedder)
    questions = load_questions(args.questions)
    embedder.warm_up()
    for q, h in questions[:5]:
        engine.ask(q, h)
    result = measure(engine, embedder, questions, args.rounds)
    print(
        f"bare embedding p50 {result['embed']['p50_ms']:.1f} ms, full pipeline p50 "
        f"{result['pipeline']['p50_ms']:.1f} ms (p95 {result['pipeline']['p95_ms']:.1f} ms): "
        f"ratio {result['p50_ratio']:.2f}x over {result['pipeline']['n']} questions"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
