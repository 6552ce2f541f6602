"""Benchmark re-indexing at scale: the MedQuAD corpus (17,182 documents) against the article alone.

Usage: python scripts/bench_index.py [--source FILE] [--limit N] [--questions N] [--work DIR]

Every measurement of indexing is a whole `chatbot index` command, run in the same session:
1. a full build of a corpus folder holding a copy of MedQuAD's `corpus.jsonl` (time, chunks/s);
2. the same command again on the unchanged corpus (must embed nothing);
3. the article's own index, for comparison;
4. question latency, p50/p95, on both indexes in one process, question by question in turn so
   that both see the same machine load (and the share of it spent in the model itself), then
   recall@10 of the approximate (HNSW) dense index against exact search, for real questions;
5. a process that serves the MedQuAD index as `chatbot serve` does (hot reload included) and
   answers questions: its peak memory; then one document is changed, `chatbot index --dry-run`
   and `chatbot index` run (time, and its ratio to the full build), and the serving process
   must pick the new build up without a restart and find the changed text.
The code under test is a snapshot of `chatbot/` taken at the start, so edits made to the tree
while the benchmark runs do not mix into it. Writes reports/bench_index.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "corpora" / "medquad" / "corpus.jsonl"
EDIT = " Benchmark edit: quokka enzyme levels were added to this answer."
EDIT_QUESTION = "What about quokka enzyme levels?"
_INDEXED = re.compile(r"indexed (\d+) documents, (\d+) chunks .*?(\d+) embedded, (\d+) reused")


# --- the probes: separate processes that load the model and the indexes ------------------------------


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_parts_mb() -> dict[str, float]:
    """Resident memory now, split into anonymous (the heap) and file-backed pages (the model's
    libraries and the memory-mapped vector files, which the kernel can drop and re-read)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = int(line.split()[1]) / 1024
    return out


def _percentiles(values: list[float]) -> dict[str, float]:
    import numpy as np

    return {
        "p50_ms": float(np.percentile(values, 50) * 1000),
        "p95_ms": float(np.percentile(values, 95) * 1000),
    }


def probe_latency(args: argparse.Namespace) -> None:
    """Both indexes in one process; each question on each, in turn; then HNSW recall@10."""
    import numpy as np
    from tqdm import tqdm

    from chatbot.answering.engine import Engine
    from chatbot.indexing.build import open_index
    from chatbot.indexing.embedding import MiniLMEmbedder
    from chatbot.indexing.vectors import build_dense, recall_at_k

    embedder = MiniLMEmbedder()
    model_seconds: list[float] = []
    real_encode = embedder.encode

    def timed_encode(texts: Any) -> Any:
        started = time.perf_counter()
        out = real_encode(texts)
        model_seconds.append(time.perf_counter() - started)
        return out

    embedder.encode = timed_encode  # type: ignore[method-assign]
    engines = {
        "article": Engine(open_index(args.article_corpus, args.article_index, embedder), embedder),
        "medquad": Engine(open_index(args.corpus, args.index, embedder), embedder),
    }
    questions = json.loads(Path(args.questions_file).read_text())
    for engine in engines.values():
        engine.ask(questions[0])  # warm up
    total: dict[str, list[float]] = {name: [] for name in engines}
    outside_model: dict[str, list[float]] = {name: [] for name in engines}
    for n, q in enumerate(tqdm(questions, desc="Questions", unit="question")):
        for name in sorted(engines, reverse=n % 2 == 1):
            model_seconds.clear()
            started = time.perf_counter()
            engines[name].ask(q)
            elapsed = time.perf_counter() - started
            total[name].append(elapsed)
            outside_model[name].append(elapsed - sum(model_seconds))
    out: dict[str, Any] = {
        name: {**_percentiles(total[name]), "outside_model": _percentiles(outside_model[name])}
        for name in engines
    }
    stored = engines["medquad"].index
    vectors = np.asarray(stored.vectors)
    dense = stored.dense if stored.manifest.ann != "flat" else build_dense(vectors, threshold=0)
    ann = dense.faiss  # type: ignore[attr-defined]
    titles = json.loads(Path(args.recall_queries).read_text())
    queries = np.concatenate(
        [real_encode(titles[i : i + 64]) for i in tqdm(range(0, len(titles), 64), desc="Recall queries")]
    )
    recall = {}
    default_ef = ann.hnsw.efSearch
    for ef in sorted({64, default_ef, 256}):
        ann.hnsw.efSearch = ef
        recall[str(ef)] = recall_at_k(dense, vectors, queries, k=10)
    out["recall"] = {
        "index": dense.kind,
        "built_by_the_index": stored.manifest.ann != "flat",
        "queries": len(titles),
        "ef_search": default_ef,
        "recall_at_10": recall[str(default_ef)],
        "by_ef_search": recall,
    }
    print(json.dumps(out), flush=True)


def probe_serve(args: argparse.Namespace) -> None:
    """Serve the index as `chatbot serve` does; answer questions; then follow the next build."""
    from tqdm import tqdm

    from chatbot.web.startup import serving_engine

    started = time.perf_counter()
    live: Any = serving_engine(args.corpus, args.index)
    load_seconds = time.perf_counter() - started
    questions = json.loads(Path(args.questions_file).read_text())
    for q in tqdm(questions, desc="Serving questions", unit="question"):
        live.ask(q)
    old = live.build_id
    print(
        json.dumps(
            {
                "event": "ready",
                "load_s": load_seconds,
                "rss_peak_mb": _peak_rss_mb(),
                "rss_now_mb": _rss_parts_mb(),
                "build": old,
            }
        ),
        flush=True,
    )
    deadline = time.monotonic() + 600
    while live.build_id == old and time.monotonic() < deadline:
        time.sleep(0.1)
    swapped_at = time.time() if live.build_id != old else float("nan")
    answer = live.ask(EDIT_QUESTION)
    top = answer.passages[0] if answer.passages else None
    result = {
        "event": "swapped",
        "swapped_at": swapped_at,
        "build": live.build_id,
        "found": bool(top and top.source == args.expect_source and "quokka" in top.text),
        "rss_peak_mb": _peak_rss_mb(),
        "rss_now_mb": _rss_parts_mb(),
    }
    print(json.dumps(result), flush=True)


# --- the benchmark ----------------------------------------------------------------------------------------


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.src = work / "src"
        shutil.rmtree(self.src, ignore_errors=True)
        shutil.copytree(ROOT / "chatbot", self.src / "chatbot", ignore=shutil.ignore_patterns("__pycache__"))
        self.env = {
            **os.environ,
            "PYTHONPATH": str(self.src),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }

    def python(self, *argv: str, **kwargs: Any) -> Any:
        return subprocess.Popen(
            [sys.executable, *argv], cwd=self.work, env=self.env, stdout=subprocess.PIPE, text=True, **kwargs
        )

    def index(self, corpus: Path, index: Path, *flags: str) -> tuple[float, str]:
        """One whole `chatbot index` command: its wall time and its output."""
        started = time.perf_counter()
        proc = self.python("-m", "chatbot", "index", "--corpus", str(corpus), "--index", str(index), *flags)
        out, _ = proc.communicate()
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"chatbot index {' '.join(flags)} failed ({proc.returncode})")
        print(out, end="", flush=True)
        return seconds, out

    def probe(self, mode: str, *argv: str) -> Any:
        return self.python(str(Path(__file__).resolve()), mode, *argv)


def _indexed(out: str) -> dict[str, int]:
    m = _INDEXED.search(out)
    if not m:
        return {"embedded": 0} if "index is up to date" in out else {}
    docs, chunks, embedded, reused = map(int, m.groups())
    return {"documents": docs, "chunks": chunks, "embedded": embedded, "reused": reused}


def _question_set(source: Path, n: int, seed: int = 6) -> tuple[list[str], list[str]]:
    """Questions for latency (the article's evaluation questions and MedQuAD questions, the same
    list on both indexes) and MedQuAD questions for recall."""
    article = [
        json.loads(line)["question"]
        for name in ("article_dev.jsonl", "article_heldout.jsonl")
        for line in (ROOT / "tests" / "data" / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    titles = [json.loads(line)["title"] for line in source.read_text(encoding="utf-8").splitlines()]
    rng = random.Random(seed)
    rng.shuffle(titles)
    return article[:n] + titles[:n], titles[:1000]


def _middle_source(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return f"{path.name}#{json.loads(lines[len(lines) // 2])['_id']}"


def _edit_one_document(path: Path) -> str:
    """Append a sentence to the record in the middle of the file; returns its source name."""
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[len(lines) // 2])
    record["text"] = record["text"].rstrip() + EDIT
    lines[len(lines) // 2] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"{path.name}#{record['_id']}"


def _read_json_line(proc: Any) -> dict[str, Any]:
    for line in proc.stdout:
        if line.startswith("{"):
            return dict(json.loads(line))
    sys.exit(f"a probe ended without a result (exit {proc.wait()})")


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-index-"))
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(work)
    corpus, index = work / "corpus", work / "index"
    for old in (corpus, index, work / "article", work / "article-index"):
        shutil.rmtree(old, ignore_errors=True)  # a full build starts from nothing
    corpus.mkdir()
    data = corpus / "medquad.jsonl"
    with open(args.source, encoding="utf-8") as src, open(data, "w", encoding="utf-8") as dst:
        for n, line in enumerate(src):
            if args.limit and n >= args.limit:
                break
            dst.write(line)
    article_corpus, article_index = work / "article", work / "article-index"
    shutil.copytree(ROOT / "corpus", article_corpus, dirs_exist_ok=True)
    questions, recall_queries = _question_set(data, args.questions)
    (work / "questions.json").write_text(json.dumps(questions))
    (work / "recall.json").write_text(json.dumps(recall_queries))
    report: dict[str, Any] = {"corpus": str(args.source), "limit": args.limit, "work": str(work)}

    print("== 1. full build", flush=True)
    seconds, out = bench.index(corpus, index, "--force")
    full = _indexed(out)
    manifest = json.loads((index / "manifest.json").read_text())
    report["full_build"] = {**full, "seconds": seconds, "chunks_per_s": full["chunks"] / seconds}
    report["ann"] = manifest["ann"]
    print("== 2. unchanged corpus", flush=True)
    seconds, out = bench.index(corpus, index)
    report["no_change"] = {"seconds": seconds, "up_to_date": "index is up to date" in out, **_indexed(out)}
    print("== 3. the article's index", flush=True)
    seconds, out = bench.index(article_corpus, article_index, "--force")
    report["article_build"] = {"seconds": seconds, **_indexed(out)}

    print("== 4. latency, both indexes in one process; HNSW recall", flush=True)
    proc = bench.probe(
        "--probe-latency",
        *("--corpus", str(corpus), "--index", str(index)),
        *("--article-corpus", str(article_corpus), "--article-index", str(article_index)),
        *("--questions-file", str(work / "questions.json"), "--recall-queries", str(work / "recall.json")),
    )
    latency = _read_json_line(proc)
    proc.wait()
    report["recall"] = latency.pop("recall")
    report["latency"] = {**latency, "questions": len(questions)}
    report["latency"]["p50_ratio"] = latency["medquad"]["p50_ms"] / latency["article"]["p50_ms"]

    print("== 5. serving the MedQuAD index; one document changed; hot reload", flush=True)
    # The document to change, and its new source name, are known before the change is made: the
    # serving process must start on the unchanged corpus (serve rebuilds a stale index itself).
    proc = bench.probe(
        "--probe-serve",
        *("--corpus", str(corpus), "--index", str(index)),
        *("--questions-file", str(work / "questions.json"), "--expect-source", _middle_source(data)),
    )
    ready = _read_json_line(proc)
    _edit_one_document(data)
    seconds, out = bench.index(corpus, index, "--dry-run")
    report["dry_run"] = {"seconds": seconds, "summary": out.splitlines()[0] if out else ""}
    seconds, out = bench.index(corpus, index)
    switched_at = (index / "manifest.json").stat().st_mtime
    one = _indexed(out)
    report["one_document"] = {
        **one,
        "seconds": seconds,
        "ratio_to_full": seconds / report["full_build"]["seconds"],
    }
    swapped = _read_json_line(proc)
    proc.wait()
    report["serving"] = {
        "load_s": ready["load_s"],
        "rss_peak_mb": ready["rss_peak_mb"],
        "rss_peak_with_reload_mb": swapped["rss_peak_mb"],
        "rss_serving_parts_mb": ready["rss_now_mb"],
        "rss_after_reload_parts_mb": swapped["rss_now_mb"],
        "reload_after_switch_s": swapped["swapped_at"] - switched_at,
        "changed_document_found": swapped["found"],
    }
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return report


def markdown(r: dict[str, Any]) -> str:
    lat, full, one, serve, rec = r["latency"], r["full_build"], r["one_document"], r["serving"], r["recall"]
    rows = [
        (
            "Full build (`chatbot index`)",
            f"{full['seconds']:.0f} s, {full['documents']} documents, "
            f"{full['chunks']} chunks, {full['chunks_per_s']:.1f} chunks/s",
        ),
        (
            "Re-index, no change",
            f"{r['no_change']['seconds']:.1f} s, "
            f"{r['no_change'].get('embedded', '?')} embedded (up to date: {r['no_change']['up_to_date']})",
        ),
        (
            "Dry run after changing one document",
            f"{r['dry_run']['seconds']:.1f} s: {r['dry_run']['summary']}",
        ),
        (
            "Re-index after changing one document",
            f"{one['seconds']:.1f} s, {one.get('embedded')} chunks "
            f"embedded, {one['ratio_to_full']:.1%} of the full build",
        ),
        (
            "Question latency, article alone",
            f"p50 {lat['article']['p50_ms']:.1f} ms, "
            f"p95 {lat['article']['p95_ms']:.1f} ms (outside the model: p50 "
            f"{lat['article']['outside_model']['p50_ms']:.1f} ms)",
        ),
        (
            "Question latency, MedQuAD",
            f"p50 {lat['medquad']['p50_ms']:.1f} ms, "
            f"p95 {lat['medquad']['p95_ms']:.1f} ms (outside the model: p50 "
            f"{lat['medquad']['outside_model']['p50_ms']:.1f} ms)",
        ),
        ("p50 ratio, MedQuAD / article", f"{lat['p50_ratio']:.2f}x ({lat['questions']} questions each)"),
        (
            "Peak memory serving MedQuAD",
            f"{serve['rss_peak_mb']:.0f} MB ({serve['rss_peak_with_reload_mb']:.0f} MB across a hot "
            f"reload); after the questions {serve['rss_serving_parts_mb'].get('RssAnon', 0):.0f} MB "
            f"heap + {serve['rss_serving_parts_mb'].get('RssFile', 0):.0f} MB file-backed (model "
            "libraries, memory-mapped vectors)",
        ),
        (
            "Hot reload",
            f"new build served {serve['reload_after_switch_s']:.1f} s after the manifest "
            f"switched; changed document found: {serve['changed_document_found']}",
        ),
        (
            f"Dense index: {r['ann']}",
            f"recall@10 vs exact {rec['recall_at_10']:.4f} "
            f"({rec['index']}, efSearch {rec['ef_search']}, {rec['queries']} MedQuAD questions; "
            f"by efSearch: {', '.join(f'{k}: {v:.4f}' for k, v in rec['by_ef_search'].items())})",
        ),
    ]
    lines = [
        "# Re-indexing benchmark",
        "",
        f"Corpus: `{r['corpus']}`" + (f" (first {r['limit']})" if r["limit"] else ""),
        "",
    ]
    lines += ["| Measure | Result |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help="BEIR corpus.jsonl (default MedQuAD)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N documents (a quick run)")
    parser.add_argument("--questions", type=int, default=100, help="questions of each kind (default 100)")
    parser.add_argument("--work", type=Path, help="working folder (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--out", type=Path, default=ROOT / "reports", help="report folder (default reports/)")
    parser.add_argument("--probe-latency", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--probe-serve", action="store_true", help=argparse.SUPPRESS)
    for name in ("--corpus", "--index", "--article-corpus", "--article-index"):
        parser.add_argument(name, type=Path, help=argparse.SUPPRESS)
    for name in ("--questions-file", "--recall-queries", "--expect-source"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe_latency:
        probe_latency(args)
        return 0
    if args.probe_serve:
        probe_serve(args)
        return 0
    report = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_index.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    text = markdown(report)
    (args.out / "bench_index.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
