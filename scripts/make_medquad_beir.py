"""Make a held-out health retrieval benchmark (BEIR format) from the MedQuAD corpus.

MedQuAD pairs consumer-health questions with NIH answers. Here each sampled answer becomes a
document *without* its question, and the question becomes a query whose one relevant document is
its own answer. Sibling answers about the same condition ("What causes X?" next to "What are the
symptoms of X?") stay in the corpus as hard distractors. Nothing in the engine was tuned on it.

    python scripts/make_medquad_beir.py [--source ../shared/corpora/medquad/corpus.jsonl]
                                        [--out reports/medquad-beir] [--every 6] [--queries 600]
                                        [--bucket 0]

The sample is deterministic (by a hash of each document id). `--bucket 0` (the default) is the
held-out benchmark the README reports; `--bucket 1` draws a disjoint sample of documents and
questions, the split that document-level scoring was tuned on (`--out reports/medquad-tune`).
The output stays out of git.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bucket(doc_id: str, every: int, bucket: int = 0) -> bool:
    return int(hashlib.sha256(doc_id.encode()).hexdigest()[:8], 16) % every == bucket


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared/corpora/medquad/corpus.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "reports/medquad-beir")
    parser.add_argument("--every", type=int, default=6, help="keep one document in N (default 6)")
    parser.add_argument("--queries", type=int, default=600, help="number of queries (default 600)")
    parser.add_argument(
        "--bucket", type=int, default=0, help="which sample: 0 held-out, 1 tuning (default 0)"
    )
    parser.add_argument(
        "--questions",
        type=Path,
        help="JSON lines {_id, doc, text}: consumer-style questions to ask instead of MedQuAD's own",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.bucket < args.every:
        print(f"error: --bucket must be from 0 to {args.every - 1}.", file=sys.stderr)
        return 1
    if not args.source.is_file():
        print(
            f"error: {args.source} not found. Pass --source PATH to MedQuAD's corpus.jsonl.", file=sys.stderr
        )
        return 1
    docs = []
    with open(args.source, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if _bucket(row["_id"], args.every, args.bucket) and row.get("text", "").strip():
                docs.append(row)
    # Queries: the questions of every other kept document, in a stable order, up to the limit;
    # or questions written the way the public asks, each for one kept document.
    picked = sorted(docs, key=lambda r: hashlib.sha256(("q" + r["_id"]).encode()).hexdigest())
    queries = [
        (f"q{n}", row["title"].split(" (Also called:")[0].strip(), row["_id"]) for n, row in enumerate(picked)
    ]
    queries = queries[: args.queries]
    if args.questions:
        kept = {row["_id"] for row in docs}
        try:
            rows = [
                json.loads(line)
                for line in args.questions.read_text(encoding="utf-8").splitlines()
                if line.strip()
            ]
            queries = [(str(r["_id"]), str(r["text"]), str(r["doc"])) for r in rows]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(
                f"error: cannot read {args.questions} ({exc}). Fix: JSON lines with _id, doc, text.",
                file=sys.stderr,
            )
            return 1
        outside = sorted({doc for _, _, doc in queries} - kept)
        if outside:
            print(
                f"error: {len(outside)} questions are for documents outside bucket {args.bucket} "
                f"(e.g. {outside[0]}). Fix: pass the --bucket they were written for.",
                file=sys.stderr,
            )
            return 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "qrels").mkdir(exist_ok=True)
    with open(args.out / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for row in docs:
            fh.write(
                json.dumps({"_id": row["_id"], "title": "", "text": row["text"]}, ensure_ascii=False) + "\n"
            )
    with open(args.out / "queries.jsonl", "w", encoding="utf-8") as fh:
        for qid, question, _ in queries:
            fh.write(json.dumps({"_id": qid, "text": question}, ensure_ascii=False) + "\n")
    with open(args.out / "qrels" / "test.tsv", "w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid, _, doc in queries:
            fh.write(f"{qid}\t{doc}\t1\n")
    print(f"wrote {len(docs)} documents and {len(queries)} queries to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
