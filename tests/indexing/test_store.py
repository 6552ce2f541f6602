"""The index on disk: round trip, FAISS against numpy, manifest, staleness, damage, failed builds,
the build lock and vector reuse. All with the fake embedder, so nothing here loads a model."""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest
from conftest import AWKWARD, FakeEmbedder, content_words

import chatbot.indexing.build
from chatbot.corpus.files import corpus_hash, load_corpus, load_synonyms
from chatbot.errors import CorpusError, IndexBusyError, IndexCorruptError
from chatbot.indexing.build import build_index, open_index
from chatbot.indexing.chunking import ChunkSettings, chunk_corpus
from chatbot.indexing.store import FORMAT_VERSION, MANIFEST, build_lock, load_build, read_manifest

QUERIES = [
    "bone marrow biopsy hip microscope",
    "proteasome inhibitors enzymes",
    "stem cell transplantation immune system",
    "what is refractory myeloma",
]
EDIT = ("from the hip bone of the patient", "from the pelvic bone of the patient")


def article(corpus_dir: Path) -> Path:
    return corpus_dir / "refractory-myeloma.txt"


def edit_article(corpus_dir: Path, old: str = EDIT[0], new: str = EDIT[1]) -> None:
    path = article(corpus_dir)
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def snapshot(index_dir: Path) -> dict[str, bytes]:
    """Every file of the index folder (lock file aside) with its bytes."""
    return {
        p.relative_to(index_dir).as_posix(): p.read_bytes()
        for p in sorted(index_dir.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def top_ids(stored: Any, query_vector: np.ndarray, k: int) -> list[int]:
    _, ids = stored.dense.search(query_vector.reshape(1, -1), k)
    return [int(i) for i in ids[0]]


# --- round trip and reference comparison --------------------------------------------------------


def test_build_load_round_trip(
    corpus_dir: Path, index_dir: Path, fake_embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: dict[str, Any] = {}
    real_write = chatbot.indexing.build.write_build

    def recording_write(*args: Any, **kwargs: Any) -> Any:
        written.update(inspect.signature(real_write).bind(*args, **kwargs).arguments)
        return real_write(*args, **kwargs)

    monkeypatch.setattr(chatbot.indexing.build, "write_build", recording_write)
    report = build_index(corpus_dir, index_dir, fake_embedder, progress=False)
    stored = load_build(index_dir)

    expected_chunks = chunk_corpus(load_corpus(corpus_dir))
    assert list(stored.chunks) == list(written["chunks"]) == expected_chunks
    assert np.array_equal(np.asarray(stored.vectors), written["vectors"])
    assert stored.manifest == report.manifest
    # the same hits as an index built in memory from the vectors that were written
    fresh = faiss.IndexFlatIP(fake_embedder.dim)
    fresh.add(np.ascontiguousarray(written["vectors"], dtype=np.float32))
    for q in fake_embedder.encode(QUERIES):
        _, ids = fresh.search(q.reshape(1, -1), 5)
        assert top_ids(stored, q, 5) == [int(i) for i in ids[0]]
    # provenance survives the trip
    assert stored.provenance["refractory-myeloma.txt"].author == "Billy Cobb"


def test_faiss_matches_numpy_brute_force(
    built_index: Any, index_dir: Path, fake_embedder: FakeEmbedder
) -> None:
    stored = load_build(index_dir)
    vectors = np.asarray(stored.vectors, dtype=np.float64)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)  # inner product = cosine
    n = len(stored.chunks)
    for q in fake_embedder.encode(QUERIES):
        scores, ids = stored.dense.search(q.reshape(1, -1), n)
        brute = vectors @ q.astype(np.float64)
        assert sorted(int(i) for i in ids[0]) == list(range(n))
        assert np.allclose(scores[0], brute[ids[0]], atol=1e-5)
        assert np.allclose(scores[0], np.sort(brute)[::-1], atol=1e-5)


@pytest.mark.parametrize("query", ["hip microscope biopsy", "proteasomes enzymes blocking multiplying"])
def test_the_chunk_with_the_query_words_wins(
    built_index: Any, index_dir: Path, fake_embedder: FakeEmbedder, query: str
) -> None:
    stored = load_build(index_dir)
    # each query word occurs in exactly one chunk, the same one: that chunk must rank first
    holders = {i for i, c in enumerate(stored.chunks) for w in query.split() if w in content_words(c.text)}
    assert len(holders) == 1
    assert top_ids(stored, fake_embedder.encode([query])[0], 1) == [holders.pop()]


# --- the manifest --------------------------------------------------------------------------------


def test_manifest_records_how_the_index_was_built(
    built_index: Any, corpus_dir: Path, index_dir: Path, fake_embedder: FakeEmbedder
) -> None:
    raw = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    for key in (
        "format_version",
        "model_id",
        "dim",
        "chunking",
        "corpus_hash",
        "documents",
        "chunks",
        "built_at",
    ):
        assert key in raw, key
    assert raw["format_version"] == FORMAT_VERSION
    assert raw["model_id"] == fake_embedder.model_id
    assert raw["dim"] == fake_embedder.dim
    assert raw["chunking"] == ChunkSettings().as_dict()
    assert raw["corpus_hash"] == corpus_hash(corpus_dir)
    assert raw["documents"] == 1
    assert raw["chunks"] == len(chunk_corpus(load_corpus(corpus_dir))) == built_index.manifest.chunks
    built = datetime.fromisoformat(raw["built_at"])
    assert built.tzinfo is not None


# --- staleness -----------------------------------------------------------------------------------


def rebuild_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "chatbot.index" and "rebuild" in r.getMessage()
    ]


def test_missing_index_is_built_on_open(
    corpus_dir: Path, index_dir: Path, fake_embedder: FakeEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatbot.index")
    stored = open_index(corpus_dir, index_dir, fake_embedder, progress=False)
    assert stored.manifest.chunks == len(stored.chunks) > 0
    assert any("no index" in r.getMessage() for r in caplog.records if r.name == "chatbot.index")


def test_unchanged_index_is_loaded_not_rebuilt(
    built_index: Any, corpus_dir: Path, index_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatbot.index")
    fresh = FakeEmbedder()
    stored = open_index(corpus_dir, index_dir, fresh, progress=False)
    assert stored.manifest.build_id == built_index.manifest.build_id
    assert rebuild_messages(caplog) == []
    assert fresh.encoded == []


def test_changed_corpus_rebuilds_and_says_why(
    built_index: Any, corpus_dir: Path, index_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatbot.index")
    edit_article(corpus_dir)
    stored = open_index(corpus_dir, index_dir, FakeEmbedder(), progress=False)
    assert stored.manifest.build_id != built_index.manifest.build_id
    assert stored.manifest.corpus_hash == corpus_hash(corpus_dir) != built_index.manifest.corpus_hash
    assert any("pelvic" in c.text for c in stored.chunks)
    (message,) = rebuild_messages(caplog)
    assert "changed" in message and "documents" in message


def test_new_document_is_a_corpus_change(
    built_index: Any, corpus_dir: Path, index_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatbot.index")
    shutil.copy(AWKWARD / "guide.md", corpus_dir / "guide.md")
    stored = open_index(corpus_dir, index_dir, FakeEmbedder(), progress=False)
    assert stored.manifest.documents == 2
    assert "guide.md" in {c.source for c in stored.chunks}
    assert len(rebuild_messages(caplog)) == 1


def test_changed_model_rebuilds_and_says_why(
    built_index: Any, corpus_dir: Path, index_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatbot.index")
    other = FakeEmbedder(model_id="another-fake-model")
    stored = open_index(corpus_dir, index_dir, other, progress=False)
    assert stored.manifest.model_id == "another-fake-model"
    (message,) = rebuild_messages(caplog)
    assert "another-fake-model" in message and built_index.manifest.model_id in message
    # vectors of another model are never reused
    assert len(other.encoded) >= stored.manifest.chunks


def test_changed_chunking_rebuilds_and_says_why(
    built_index: Any, corpus_dir: Path, index_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatbot.index")
    settings = ChunkSettings(max_chars=400, join_below=200)
    stored = open_index(corpus_dir, index_dir, FakeEmbedder(), settings, progress=False)
    assert stored.manifest.chunking == settings.as_dict()
    assert stored.manifest.chunks > built_index.manifest.chunks
    (message,) = rebuild_messages(caplog)
    assert "chunking" in message


# --- damage ---------------------------------------------------------------------------------------


def _build_file(index_dir: Path, name: str) -> Path:
    manifest = read_manifest(index_dir)
    assert manifest is not None
    return index_dir / "builds" / manifest.build_id / name


def garbage_manifest(index_dir: Path) -> None:
    (index_dir / MANIFEST).write_text("{this is not json", encoding="utf-8")


def manifest_not_an_object(index_dir: Path) -> None:
    (index_dir / MANIFEST).write_text("[1, 2, 3]", encoding="utf-8")


def wrong_format_version(index_dir: Path) -> None:
    raw = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    raw["format_version"] = FORMAT_VERSION + 1
    (index_dir / MANIFEST).write_text(json.dumps(raw), encoding="utf-8")


def truncated_faiss(index_dir: Path) -> None:
    path = _build_file(index_dir, "dense.faiss")
    path.write_bytes(path.read_bytes()[:100])


def scrambled_faiss(index_dir: Path) -> None:  # right size, wrong bytes
    path = _build_file(index_dir, "dense.faiss")
    path.write_bytes(b"\x00" * path.stat().st_size)


def missing_chunks(index_dir: Path) -> None:
    _build_file(index_dir, "chunks.jsonl").unlink()


def missing_build_folder(index_dir: Path) -> None:
    shutil.rmtree(_build_file(index_dir, "x").parent)


@pytest.mark.parametrize(
    "damage",
    [
        garbage_manifest,
        manifest_not_an_object,
        wrong_format_version,
        truncated_faiss,
        scrambled_faiss,
        missing_chunks,
        missing_build_folder,
    ],
)
def test_damaged_index_is_reported_with_the_fix(
    built_index: Any, corpus_dir: Path, index_dir: Path, damage: Any
) -> None:
    damage(index_dir)
    before = snapshot(index_dir)
    with pytest.raises(IndexCorruptError) as info:
        open_index(corpus_dir, index_dir, FakeEmbedder(), progress=False)
    message = str(info.value)
    assert "chatbot index" in message
    assert "\n" not in message
    assert str(index_dir) in message
    assert snapshot(index_dir) == before  # reported, not silently replaced


def test_damaged_index_is_replaced_by_an_explicit_build(
    built_index: Any, corpus_dir: Path, index_dir: Path
) -> None:
    truncated_faiss(index_dir)
    report = build_index(corpus_dir, index_dir, FakeEmbedder(), progress=False)
    assert report.embedded == report.manifest.chunks  # nothing reused from a damaged build
    assert len(load_build(index_dir).chunks) == report.manifest.chunks


# --- failed builds and the lock ---------------------------------------------------------------------


class ExplodingEmbedder(FakeEmbedder):
    def encode(self, texts: Any) -> np.ndarray:
        raise RuntimeError("the model fell over")


def _fail_write_index(*args: Any, **kwargs: Any) -> None:
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("failure", ["write_index", "embedder"])
def test_failed_build_leaves_the_previous_index_intact(
    built_index: Any,
    corpus_dir: Path,
    index_dir: Path,
    fake_embedder: FakeEmbedder,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    before = snapshot(index_dir)
    old = load_build(index_dir)
    edit_article(corpus_dir)  # so the new build has something to embed and write
    embedder: FakeEmbedder = fake_embedder
    if failure == "write_index":
        monkeypatch.setattr(faiss, "write_index", _fail_write_index)
    else:
        embedder = ExplodingEmbedder()
    with pytest.raises((OSError, RuntimeError)):
        build_index(corpus_dir, index_dir, embedder, progress=False)
    assert snapshot(index_dir) == before  # no half-written build left behind either
    again = load_build(index_dir)
    assert again.manifest == old.manifest and again.chunks == old.chunks


def test_a_second_build_while_the_lock_is_held_is_refused(
    built_index: Any, corpus_dir: Path, index_dir: Path
) -> None:
    before = snapshot(index_dir)
    with build_lock(index_dir), pytest.raises(IndexBusyError) as info:
        build_index(corpus_dir, index_dir, FakeEmbedder(), progress=False, force=True)
    assert "\n" not in str(info.value) and str(index_dir) in str(info.value)
    assert snapshot(index_dir) == before
    # the lock is released afterwards
    build_index(corpus_dir, index_dir, FakeEmbedder(), progress=False)


# --- reuse -----------------------------------------------------------------------------------------


def test_rebuilding_an_unchanged_corpus_embeds_nothing(
    built_index: Any, corpus_dir: Path, index_dir: Path
) -> None:
    assert built_index.embedded == built_index.manifest.chunks > 0
    old = np.array(load_build(index_dir).vectors)
    fresh = FakeEmbedder()
    # forced: without it an unchanged corpus is not rebuilt at all (test_index_incremental.py)
    report = build_index(corpus_dir, index_dir, fresh, progress=False, force=True)
    assert report.embedded == 0
    assert report.reused == report.manifest.chunks
    assert fresh.encoded == []
    new = load_build(index_dir)
    assert new.manifest.build_id == report.manifest.build_id != built_index.manifest.build_id
    assert np.array_equal(old, np.asarray(new.vectors))


def test_editing_one_paragraph_embeds_one_chunk(built_index: Any, corpus_dir: Path, index_dir: Path) -> None:
    edit_article(corpus_dir)
    fresh = FakeEmbedder()
    report = build_index(corpus_dir, index_dir, fresh, progress=False)
    assert (report.embedded, report.reused) == (1, report.manifest.chunks - 1)
    stored = load_build(index_dir)
    # the reused vectors are the ones a full build would compute
    full_dir = index_dir.parent / "full"
    build_index(corpus_dir, full_dir, FakeEmbedder(), progress=False)
    assert np.allclose(np.asarray(stored.vectors), np.asarray(load_build(full_dir).vectors), atol=1e-6)


# --- other corpora ------------------------------------------------------------------------------------


def test_awkward_corpus_builds(tmp_path: Path) -> None:
    corpus = Path(shutil.copytree(AWKWARD, tmp_path / "awkward"))
    report = build_index(corpus, tmp_path / "index", FakeEmbedder(), progress=False)
    stored = load_build(tmp_path / "index")
    assert report.manifest.documents == len(list(load_corpus(corpus)))
    assert list(stored.chunks) == chunk_corpus(load_corpus(corpus))


def test_corpus_without_passages_is_an_error_that_names_the_fix(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(CorpusError) as info:
        build_index(corpus, tmp_path / "index", FakeEmbedder(), progress=False)
    assert ".txt or .md" in str(info.value)
    assert read_manifest(tmp_path / "index") is None


def test_the_synonym_files_names_survive_the_build(
    corpus_dir: Path, index_dir: Path, fake_embedder: FakeEmbedder
) -> None:
    (corpus_dir / "synonyms.toml").write_text(
        '"chemo" = ["chemotherapy"]\n[names]\n"velcade" = ["proteasome inhibitors"]\n', encoding="utf-8"
    )
    build_index(corpus_dir, index_dir, fake_embedder, progress=False)
    stored = load_build(index_dir)
    assert stored.synonyms == {"chemo": ["chemotherapy"], "velcade": ["proteasome inhibitors"]}
    assert stored.names == frozenset({"velcade"})
    # A build written before `[names]` existed holds the flat table: it still loads, naming nothing.
    manifest = read_manifest(index_dir)
    assert manifest is not None
    path = index_dir / "builds" / manifest.build_id / "synonyms.json"
    path.write_text('{"chemo": ["chemotherapy"]}', encoding="utf-8")
    files = {**manifest.files, "synonyms.json": path.stat().st_size}
    old = load_build(index_dir, dataclasses.replace(manifest, files=files))
    assert old.synonyms == {"chemo": ["chemotherapy"]} and old.names == frozenset()


def test_a_names_entry_that_is_not_a_table_names_the_fix(corpus_dir: Path) -> None:
    (corpus_dir / "synonyms.toml").write_text('names = "velcade"\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"\[names\] must be a table"):
        load_synonyms(corpus_dir)
