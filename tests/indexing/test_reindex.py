"""Re-indexing as a developer does it: add, edit and remove documents, then `chatbot index`.

Incremental builds (only changed chunks are embedded, an unchanged corpus is not rebuilt),
`--dry-run`, bad files with and without `--strict`, the size limit, pruning of old builds, the
lock as the command line reports it, and the switch to an approximate (HNSW) dense index.
All with the fake embedder.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest
from conftest import AWKWARD, FakeEmbedder
from test_formats import PAGE, records
from test_store import edit_article, snapshot

import chatbot.indexing.embedding
from chatbot.answering.engine import Engine
from chatbot.answering.retrieval import Retriever
from chatbot.cli import main
from chatbot.corpus.files import corpus_hash
from chatbot.indexing.build import IndexOptions, build_index, open_index, stale_reason
from chatbot.indexing.chunking import Chunk, ChunkSettings
from chatbot.indexing.store import BUILDS, build_lock, load_build, read_manifest
from chatbot.indexing.vectors import recall_at_k

FAQ = [
    {
        "_id": "q1",
        "title": "What is anemia?",
        "text": "Anemia is a shortage of red blood cells. It tires you.",
    },
    {"_id": "q2", "title": "What is neutropenia?", "text": "Neutropenia is a shortage of neutrophils."},
    {"_id": "q3", "title": "What is a platelet?", "text": "Platelets are cells that stop bleeding."},
]


class CountingEmbedder(FakeEmbedder):
    """A fake whose every instance logs what it embeds in one list the test can read."""

    texts: list[str] = []

    def encode(self, texts: Any) -> np.ndarray:
        CountingEmbedder.texts.extend(texts)
        return super().encode(texts)


@pytest.fixture
def counting_model(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the CLI's `MiniLMEmbedder()` a CountingEmbedder; returns the list of embedded texts."""
    monkeypatch.setattr(chatbot.indexing.embedding, "MiniLMEmbedder", CountingEmbedder)
    monkeypatch.setattr(CountingEmbedder, "texts", [])
    return CountingEmbedder.texts


@pytest.fixture
def mixed_corpus(corpus_dir: Path) -> Path:
    """The article, a Markdown guide, a web page and a record file."""
    shutil.copy(AWKWARD / "guide.md", corpus_dir / "guide.md")
    (corpus_dir / "page.html").write_text(PAGE, encoding="utf-8")
    (corpus_dir / "faq.jsonl").write_bytes(records(*FAQ))
    return corpus_dir


def index(corpus: Path, index_dir: Path, *flags: str) -> int:
    return main(["index", "--quiet", "--corpus", str(corpus), "--index", str(index_dir), *flags])


def sources(index_dir: Path) -> set[str]:
    return {c.source for c in load_build(index_dir).chunks}


# --- incremental ----------------------------------------------------------------------------------


def test_unchanged_corpus_is_up_to_date_and_embeds_nothing(
    mixed_corpus: Path, index_dir: Path, counting_model: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert index(mixed_corpus, index_dir) == 0
    first = read_manifest(index_dir)
    assert first is not None and first.documents == 1 + 1 + 1 + 3
    counting_model.clear()
    capsys.readouterr()
    assert index(mixed_corpus, index_dir) == 0
    out = capsys.readouterr().out
    assert out.startswith("index is up to date") and "0 embedded" in out
    assert counting_model == []
    assert read_manifest(index_dir) == first  # no new build at all


def test_changing_one_document_embeds_only_its_chunks(
    mixed_corpus: Path, index_dir: Path, fake_embedder: FakeEmbedder
) -> None:
    build_index(mixed_corpus, index_dir, fake_embedder, progress=False)
    changed = [dict(FAQ[0]), FAQ[1], FAQ[2]]
    changed[0]["text"] = "Anemia is a shortage of red blood cells. It makes you tired and pale."
    (mixed_corpus / "faq.jsonl").write_bytes(records(*changed))
    fresh = FakeEmbedder()
    report = build_index(mixed_corpus, index_dir, fresh, progress=False)
    (chunk,) = [c for c in load_build(index_dir).chunks if c.source == "faq.jsonl#q1"]
    assert (report.embedded, report.reused) == (1, report.manifest.chunks - 1)
    expected = [chunk.dense_text, *(chunk.text[s:e] for s, e in chunk.sentences)]
    assert sorted(fresh.encoded) == sorted(expected)  # that record's passage and sentences, nothing else


def test_removed_document_is_gone_from_results(
    mixed_corpus: Path, index_dir: Path, fake_embedder: FakeEmbedder
) -> None:
    build_index(mixed_corpus, index_dir, fake_embedder, progress=False)
    question = "What is neutropenia?"
    before = Engine(load_build(index_dir), fake_embedder).ask(question)
    assert before.passages[0].source == "faq.jsonl#q2"
    (mixed_corpus / "faq.jsonl").write_bytes(records(FAQ[0], FAQ[2]))
    (mixed_corpus / "page.html").unlink()
    report = build_index(mixed_corpus, index_dir, fake_embedder, progress=False)
    assert report.embedded == 0 and report.manifest.documents == 4
    assert "faq.jsonl#q2" not in sources(index_dir) and "page.html" not in sources(index_dir)
    after = Engine(load_build(index_dir), fake_embedder).ask(question)
    assert all(p.source not in ("faq.jsonl#q2", "page.html") for p in after.passages)


def test_a_changed_setting_rebuilds_without_embedding(
    mixed_corpus: Path, index_dir: Path, counting_model: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert index(mixed_corpus, index_dir) == 0
    counting_model.clear()
    assert index(mixed_corpus, index_dir, "--max-file-mb", "50") == 0
    assert "0 embedded" in capsys.readouterr().out and counting_model == []
    manifest = read_manifest(index_dir)
    assert manifest is not None and manifest.settings["max_file_bytes"] == 50_000_000


# --- dry run --------------------------------------------------------------------------------------


def test_dry_run_lists_documents_and_sections_and_builds_nothing(
    mixed_corpus: Path, index_dir: Path, counting_model: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert index(mixed_corpus, index_dir) == 0
    before = snapshot(index_dir)
    edit_article(mixed_corpus)  # one paragraph of one subsection
    (mixed_corpus / "guide.md").unlink()
    (mixed_corpus / "notes.md").write_text("# Notes\n\n## Diet\n\nEat well.\n", encoding="utf-8")
    counting_model.clear()
    capsys.readouterr()
    assert index(mixed_corpus, index_dir, "--dry-run") == 0
    out = capsys.readouterr().out.splitlines()
    assert counting_model == [] and snapshot(index_dir) == before
    assert out[0].startswith("would index 6 documents") and "2 to embed" in out[0]
    assert "1 documents added, 1 changed, 1 removed" in out[0]
    assert "  added    notes.md" in out and "      + Diet" in out
    assert "  removed  guide.md" in out
    changed = out.index("  changed  refractory-myeloma.txt")
    assert out[changed + 1] == "      ~ How is Refractory Myeloma Diagnosed? › Bone Marrow Biopsy"


def test_dry_run_without_an_index_adds_everything(
    mixed_corpus: Path, index_dir: Path, counting_model: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert index(mixed_corpus, index_dir, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "6 documents added, 0 changed, 0 removed" in out and "0 reused" in out
    assert "  added    faq.jsonl#q1\n      + (text without a section)" in out
    assert not index_dir.exists() or read_manifest(index_dir) is None


# --- bad files and strict -------------------------------------------------------------------------


def add_bad_files(corpus: Path) -> None:
    (corpus / "latin1.txt").write_bytes("Caf\xe9 au lait.".encode("latin-1"))
    (corpus / "faq.jsonl").write_bytes(records(FAQ[0], "{broken", FAQ[2]))


def test_bad_files_are_warned_about_and_the_rest_is_indexed(
    mixed_corpus: Path,
    index_dir: Path,
    counting_model: list[str],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_bad_files(mixed_corpus)
    caplog.set_level(logging.WARNING, logger="chatbot.index")
    assert index(mixed_corpus, index_dir) == 0
    captured = capsys.readouterr()
    warned = [line for line in captured.err.splitlines() if "skipped" in line]
    assert warned == [
        "chatbot: skipped faq.jsonl:2: not JSON (Expecting property name enclosed in double quotes "
        "at column 2)",
        "chatbot: skipped latin1.txt: not UTF-8 text (bad byte at offset 3); save it as UTF-8",
    ]
    assert "2 skipped" in captured.out
    manifest = read_manifest(index_dir)
    assert manifest is not None and len(manifest.skipped) == 2
    assert {"faq.jsonl#q1", "faq.jsonl#q3", "refractory-myeloma.txt"} <= sources(index_dir)


def test_strict_fails_in_one_line_and_keeps_the_old_index(
    mixed_corpus: Path, index_dir: Path, counting_model: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert index(mixed_corpus, index_dir) == 0
    before = snapshot(index_dir)
    add_bad_files(mixed_corpus)
    capsys.readouterr()
    assert index(mixed_corpus, index_dir, "--strict") == 1
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert "faq.jsonl:2" in line and "(and 1 more)" in line and "--strict" in line
    assert "Traceback" not in err
    assert snapshot(index_dir) == before
    assert load_build(index_dir).manifest.documents == 6


def test_size_limit_leaves_a_large_file_out(
    mixed_corpus: Path, index_dir: Path, counting_model: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert index(mixed_corpus, index_dir, "--max-file-mb", "0.005") == 0
    err = capsys.readouterr().err
    assert "skipped refractory-myeloma.txt: 0.014 MB, over the 0.005 MB limit" in err
    assert "refractory-myeloma.txt" not in sources(index_dir)


@pytest.mark.parametrize("value", ["0", "-1", "lots"])
def test_size_limit_must_be_a_positive_number(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert index(Path("corpus"), Path("index"), "--max-file-mb", value) == 2
    assert "--max-file-mb" in capsys.readouterr().err


# --- builds on disk -------------------------------------------------------------------------------


def test_old_builds_are_pruned_keeping_the_previous_one(
    mixed_corpus: Path, index_dir: Path, fake_embedder: FakeEmbedder
) -> None:
    report = build_index(mixed_corpus, index_dir, fake_embedder, progress=False, force=True)
    ids = [report.manifest.build_id]
    (index_dir / BUILDS / ".abandoned.tmp").mkdir()  # what a killed build leaves
    shutil.copytree(index_dir / BUILDS / ids[0], index_dir / BUILDS / "finished-but-never-switched")
    for _ in range(3):
        ids.append(
            build_index(mixed_corpus, index_dir, fake_embedder, progress=False, force=True).manifest.build_id
        )
        assert {p.name for p in (index_dir / BUILDS).iterdir()} == set(ids[-2:])


def test_second_build_is_refused_with_a_clear_message(
    mixed_corpus: Path, index_dir: Path, counting_model: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with build_lock(index_dir):
        assert index(mixed_corpus, index_dir) == 1
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error:")]
    assert "Another build is writing" in line and "retry" in line


def test_web_pages_and_records_are_cited_by_document_and_section(
    mixed_corpus: Path, index_dir: Path, fake_embedder: FakeEmbedder
) -> None:
    build_index(mixed_corpus, index_dir, fake_embedder, progress=False)
    engine = Engine(load_build(index_dir), fake_embedder)
    page = engine.ask("transplant replaces marrow donor", top_k=1).passages[0]
    assert (page.source, page.section) == ("page.html", "Living with myeloma › Treatment › Stem cells")
    record = engine.ask("neutrophils shortage neutropenia", top_k=1).passages[0]
    assert (record.source, record.section) == ("faq.jsonl#q2", "What is neutropenia?")
    stored = load_build(index_dir)
    for c in stored.chunks:
        assert stored.documents[c.source].text[c.start : c.end] == c.text


# --- approximate search past a size ---------------------------------------------------------------


def test_past_the_threshold_the_dense_index_is_hnsw(
    corpus_dir: Path, index_dir: Path, fake_embedder: FakeEmbedder
) -> None:
    small = build_index(corpus_dir, index_dir, fake_embedder, progress=False)
    assert small.manifest.ann == "flat"
    report = build_index(
        corpus_dir, index_dir, fake_embedder, options=IndexOptions(ann_threshold=10), progress=False
    )
    assert report.embedded == 0  # only the dense index changed
    stored = load_build(index_dir)
    assert report.manifest.ann == "hnsw" == json.loads((index_dir / "manifest.json").read_text())["ann"]
    assert stored.dense.kind == "hnsw" and isinstance(stored.dense.faiss, faiss.IndexHNSWFlat)
    assert report.manifest.settings["ann_threshold"] == 10
    vectors = np.asarray(stored.vectors)
    queries = fake_embedder.encode(["bone marrow biopsy", "stem cell transplant", "proteasome inhibitors"])
    assert recall_at_k(stored.dense, vectors, queries, k=10) == 1.0
    retriever = Retriever(stored)
    for q in queries:  # the retriever's scores are still exact cosines, whatever index found them
        scores = retriever.dense_scores(q)
        listed = scores > -1
        assert np.allclose(scores[listed], (vectors @ q)[listed], atol=1e-5)
    answer = Engine(stored, fake_embedder).ask("What is a bone marrow biopsy?")
    assert answer.passages and "Biopsy" in answer.passages[0].section


def test_a_change_in_what_is_embedded_re_embeds_an_unchanged_corpus(
    mixed_corpus: Path, index_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    first = build_index(mixed_corpus, index_dir, FakeEmbedder(), progress=False)
    # the code now embeds chunks differently: stored vectors by chunk id alone would be stale
    monkeypatch.setattr(Chunk, "dense_text", property(lambda c: f"{c.title}: {c.text}"))
    caplog.set_level(logging.INFO, logger="chatbot.index")
    embedder = FakeEmbedder()
    stored = open_index(mixed_corpus, index_dir, embedder, progress=False)
    assert stored.manifest.build_id != first.manifest.build_id
    assert {c.dense_text for c in stored.chunks} <= set(embedder.encoded)  # every passage again
    assert any("the way passages are embedded changed" in r.getMessage() for r in caplog.records)
    fresh = FakeEmbedder()
    report = build_index(mixed_corpus, index_dir, fresh, progress=False, force=True)
    assert report.embedded == 0  # the new keys were stored by the rebuild above
    assert stored.manifest.chunks == first.manifest.chunks


def test_dry_run_against_a_build_from_before_catalogs(
    mixed_corpus: Path, index_dir: Path, counting_model: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert index(mixed_corpus, index_dir) == 0
    manifest = json.loads((index_dir / "manifest.json").read_text())
    del manifest["files"]["catalog.json"]  # as a build written before catalogs existed
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    edit_article(mixed_corpus)
    capsys.readouterr()
    assert index(mixed_corpus, index_dir, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "0 documents added, 1 changed, 0 removed" in out and "1 to embed" in out
    assert "  changed  refractory-myeloma.txt" in out


def test_one_rule_says_whether_an_index_is_current(
    corpus_dir: Path, index_dir: Path, fake_embedder: FakeEmbedder
) -> None:
    """`chatbot index` (with its options) and a reader (without) ask the same function; only the
    build options, which change no passage or vector, are the builder's alone."""
    manifest = build_index(corpus_dir, index_dir, fake_embedder, progress=False).manifest
    digest, settings = corpus_hash(corpus_dir), ChunkSettings()
    assert stale_reason(manifest, corpus_dir, digest, fake_embedder, settings, IndexOptions()) is None
    assert stale_reason(manifest, corpus_dir, digest, fake_embedder, settings) is None

    def why(digest: str = digest, embedder: Any = fake_embedder, **changed: Any) -> str | None:
        options = changed.pop("options", None)
        return stale_reason(manifest, corpus_dir, digest, embedder, ChunkSettings(**changed), options)

    assert why(options=IndexOptions(max_file_bytes=1_000)) == "the index options changed"
    assert why() is None  # a reader serves it as it is
    assert "chunking" in str(why(max_chars=500))
    assert "documents" in str(why("0" * 64))
    assert "built with" in str(why(embedder=FakeEmbedder(model_id="other")))
    # one embed_recipe in the manifest: the hash of what is embedded; chunking carries its version
    raw = json.loads((index_dir / "manifest.json").read_text())
    assert "embed_recipe" not in raw["chunking"] and "recipe_version" in raw["chunking"]
    assert raw["settings"]["embed_recipe"]
