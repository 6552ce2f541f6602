"""Make a held-out health retrieval benchmark (BEIR format) from the MedQuAD corpus.

MedQuAD pairs consumer-health questions with NIH answers. Here each sampled answer becomes a
document *without* its question, and the question becomes a query whose one relevant document is
its own answer. Sibling answers about the same condition ("What causes X?" next to "What are the
symptoms of X?") stay in the corpus as hard distractors. Nothing in the engine was tuned on it.

    python scripts/make_medquad_beir.py [--source ../shared/corpora/medquad/corpus.jsonl]
                                        [--out reports/medquad-beir] [--every 6] [--queries 600]

The sample is deterministic (by a hash of each document id). The output stays out of git.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bucket(doc_id: str, every: int) -> bool:
    return int(hashlib.sha256(doc_id.encode()).hexdigest()[:8], 16) % every == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared/corpora/medquad/corpus.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "reports/medquad-beir")
    parser.add_argument("--every", type=int, default=6, help="keep one document in N (default 6)")
    parser.add_argument("--queries", type=int, default=600, help="number of queries (default 600)")
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(
            f"error: {args.source} not found. Pass --source PATH to MedQuAD's corpus.jsonl.", file=sys.stderr
        )
        return 1
    docs = []
    with open(args.source, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if _bucket(row["_id"], args.every) and row.get("text", "").strip():
                docs.append(row)
    # Queries: the questions of every other kept document, in a stable order, up to the limit.
    picked = sorted(docs, key=lambda r: hashlib.sha256(("q" + r["_id"]).encode()).hexdigest())
    picked = picked[: args.queries]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "qrels").mkdir(exist_ok=True)
    with open(args.out / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for row in docs:
            fh.write(
                json.dumps({"_id": row["_id"], "title": "", "text": row["text"]}, ensure_ascii=False) + "\n"
            )
    with open(args.out / "queries.jsonl", "w", encoding="utf-8") as fh:
        for n, row in enumerate(picked):
            question = row["title"].split(" (Also called:")[0].strip()
            fh.write(json.dumps({"_id": f"q{n}", "text": question}, ensure_ascii=False) + "\n")
    with open(args.out / "qrels" / "test.tsv", "w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for n, row in enumerate(picked):
            fh.write(f"q{n}\t{row['_id']}\t1\n")
    print(f"wrote {len(docs)} documents and {len(picked)} queries to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
