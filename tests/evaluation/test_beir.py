"""BEIR evaluation: metrics against worked examples, the folder reader, the cache, the CLI shape."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from chatbot.cli import main
from chatbot.evaluation.beir import build_memory_index, load_benchmark, ndcg_at_k, recall_at_k
from tests.conftest import FakeEmbedder

DOCS = {
    "d1": ("Bone marrow", "A bone marrow biopsy takes a sample of marrow from the hip bone."),
    "d2": ("Blood", "Blood tests measure calcium, creatinine and monoclonal protein."),
    "d3": ("Imaging", "PET and CT scans show where myeloma affects the bones."),
    "d4": ("Weather", "Rain is expected tomorrow in the north."),
}
QUERIES = {
    "q1": "how is a marrow biopsy taken from the hip",
    "q2": "which scans show bone damage",
    "q3": "unjudged query",
}
QRELS = [("q1", "d1", 1), ("q2", "d3", 1)]


@pytest.fixture
def beir_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bench"
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for doc_id, (title, text) in DOCS.items():
            fh.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as fh:
        for qid, text in QUERIES.items():
            fh.write(json.dumps({"_id": qid, "text": text}) + "\n")
    rows = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in QRELS]
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n")
    return folder


def test_ndcg_worked_example() -> None:
    # Relevant documents at ranks 1 and 3 of two: DCG = 1 + 1/log2(4); IDCG = 1 + 1/log2(3).
    expected = (1 + 1 / 2) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "x", "b"], {"a": 1, "b": 1}) == pytest.approx(expected)
    assert ndcg_at_k(["a", "b"], {"a": 1, "b": 1}) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], {"a": 1}) == 0.0


def test_recall_counts_only_the_first_k() -> None:
    assert recall_at_k(["a", "x", "b"], {"a": 1, "b": 1}, k=2) == 0.5
    assert recall_at_k(["a", "x", "b"], {"a": 1, "b": 1}, k=3) == 1.0


def test_reader_keeps_judged_queries_only(beir_dir: Path) -> None:
    bench = load_benchmark(beir_dir)
    assert set(bench.queries) == {"q1", "q2"} and len(bench.documents) == 4
    assert bench.documents[0].title == "Bone marrow" and bench.qrels["q2"] == {"d3": 1}


def test_missing_file_names_what_a_beir_folder_needs(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="corpus.jsonl, queries.jsonl"):
        load_benchmark(tmp_path)


def test_second_run_embeds_nothing(beir_dir: Path, tmp_path: Path) -> None:
    bench = load_benchmark(beir_dir)
    embedder = FakeEmbedder()
    first = build_memory_index(bench.documents, embedder, tmp_path / "cache", progress=False)
    embedded = len(embedder.encoded)
    second = build_memory_index(bench.documents, embedder, tmp_path / "cache", progress=False)
    assert embedded > 0 and len(embedder.encoded) == embedded
    assert (first.vectors == second.vectors).all()


def test_cli_reports_every_method(
    beir_dir: Path, tmp_path: Path, fake_model: object, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["eval-beir", str(beir_dir), "--json", "--cache", str(tmp_path / "cache")])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["n_queries"] == 2
    for method in ("bm25", "dense", "hybrid"):
        assert set(result[method]) == {"ndcg@10", "recall@100"}
        assert result[method]["recall@100"] == 1.0  # four documents: everything is in the top 100
    assert result["bm25"]["ndcg@10"] == 1.0  # both queries share rare words with their document


def test_cli_error_on_a_folder_that_is_not_beir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval-beir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
