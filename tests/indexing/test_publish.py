"""One build, every replica: `chatbot index --publish DIR` copies the build whole into a shared
folder and switches its manifest last; replicas serving `--index DIR` follow it within seconds,
never see half a copy, and never build in it. With the fake embedder; the CLI runs in-process."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeEmbedder

import chatbot.indexing.store as store
from chatbot.answering.engine import Engine
from chatbot.answering.live import LiveEngine
from chatbot.cli import main
from chatbot.errors import IndexMissingError, PublishError
from chatbot.indexing.build import build_index, open_index
from chatbot.indexing.store import (
    BUILDS,
    PUBLISHED,
    is_published,
    load_build,
    publish_build,
    read_manifest,
)
from chatbot.web.startup import open_for_serving

NEW_DOC = (
    "# Zebrafish notes\n\n## Research\n\nZebrafish models help researchers study hemoglobin disorders.\n"
)


def index(corpus: Path, local: Path, *more: str) -> int:
    return main(["index", "--quiet", "--corpus", str(corpus), "--index", str(local), *more])


def test_publish_copies_the_build_whole_then_switches_the_manifest(
    built_index: Any, index_dir: Path, tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    shared = tmp_path / "shared"
    manifest, copied = publish_build(index_dir, shared)
    assert copied and is_published(shared)
    assert read_manifest(shared) == read_manifest(index_dir) == manifest
    for name, size in manifest.files.items():
        assert (shared / BUILDS / manifest.build_id / name).stat().st_size == size
    # what a replica loads is the same index, chunk for chunk
    assert load_build(shared).chunks == load_build(index_dir).chunks
    # publishing the same build again copies nothing
    assert publish_build(index_dir, shared) == (manifest, False)
    # and a damaged copy of it there is copied again
    (shared / BUILDS / manifest.build_id / "chunks.jsonl").write_text("", encoding="utf-8")
    assert publish_build(index_dir, shared)[1]
    assert load_build(shared).chunks == load_build(index_dir).chunks


def test_a_copy_cut_short_is_never_served_and_is_removed_next_time(
    built_index: Any,
    corpus_dir: Path,
    index_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_model: Any,
) -> None:
    shared = tmp_path / "shared"
    first, _ = publish_build(index_dir, shared)
    (corpus_dir / "zebrafish.md").write_text(NEW_DOC, encoding="utf-8")
    assert index(corpus_dir, index_dir) == 0
    second = read_manifest(index_dir)
    assert second is not None and second.build_id != first.build_id
    calls = {"n": 0}
    real = shutil.copyfileobj

    def disk_full(src: Any, dst: Any, length: int = 0) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # the third file of the build
            raise OSError(28, "No space left on device")
        real(src, dst, length)

    monkeypatch.setattr(store.shutil, "copyfileobj", disk_full)
    with pytest.raises(OSError, match="No space"):
        publish_build(index_dir, shared)
    # the replicas' manifest still names the first build, which loads whole
    assert read_manifest(shared) == first
    assert load_build(shared).manifest.build_id == first.build_id
    assert sorted(p.name for p in (shared / BUILDS).iterdir()) == [first.build_id]  # nothing half-copied
    monkeypatch.setattr(store.shutil, "copyfileobj", real)
    assert publish_build(index_dir, shared)[0] == second
    # the build before stays for replicas still reading it; older ones go
    assert sorted(p.name for p in (shared / BUILDS).iterdir()) == sorted([first.build_id, second.build_id])


def test_replicas_follow_a_new_publish_within_seconds_all_on_one_build(
    built_index: Any,
    corpus_dir: Path,
    index_dir: Path,
    tmp_path: Path,
    fake_embedder: FakeEmbedder,
    fake_model: Any,
) -> None:
    shared = tmp_path / "shared"
    publish_build(index_dir, shared)
    replicas = [
        LiveEngine(
            Engine(open_index(tmp_path / "no-corpus", shared, fake_embedder), fake_embedder),
            shared,
            interval=0.05,
        )
        for _ in range(3)
    ]
    try:
        old = {r.build_id for r in replicas}
        assert len(old) == 1
        errors: list[BaseException] = []
        stop = threading.Event()

        def ask_all() -> None:
            while not stop.is_set():
                for r in replicas:
                    try:
                        r.ask("zebrafish hemoglobin research")
                    except BaseException as exc:  # noqa: BLE001 - any failure fails the test
                        errors.append(exc)

        asker = threading.Thread(target=ask_all, daemon=True)
        asker.start()
        (corpus_dir / "zebrafish.md").write_text(NEW_DOC, encoding="utf-8")
        started = time.monotonic()
        assert index(corpus_dir, index_dir, "--publish", str(shared)) == 0
        new = read_manifest(shared)
        assert new is not None and {new.build_id} != old
        while {r.build_id for r in replicas} != {new.build_id}:
            assert time.monotonic() - started < 30, "a replica did not follow the publish"
            time.sleep(0.02)
        stop.set()
        asker.join(5)
        assert errors == []
        assert all(
            any(p.source == "zebrafish.md" for p in r.ask("zebrafish hemoglobin research").passages)
            for r in replicas
        )
    finally:
        for r in replicas:
            r.close()


def test_a_published_folder_is_served_as_it_is_and_never_built_in(
    built_index: Any,
    corpus_dir: Path,
    index_dir: Path,
    tmp_path: Path,
    fake_embedder: FakeEmbedder,
    capsys: pytest.CaptureFixture[str],
    fake_model: Any,
) -> None:
    shared = tmp_path / "shared"
    published, _ = publish_build(index_dir, shared)
    # a replica whose own corpus differs serves the published build, not a rebuild of its corpus
    (corpus_dir / "zebrafish.md").write_text(NEW_DOC, encoding="utf-8")
    served = open_for_serving(corpus_dir, shared, fake_embedder)
    assert served.manifest.build_id == published.build_id
    assert read_manifest(shared) == published
    # building into it is refused, with the fix
    with pytest.raises(PublishError, match="--publish"):
        build_index(corpus_dir, shared, fake_embedder, progress=False)
    assert index(corpus_dir, shared) == 1
    assert "published index" in capsys.readouterr().err
    # nothing published yet: the error says how to publish
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / PUBLISHED).write_text("", encoding="utf-8")
    with pytest.raises(IndexMissingError, match="--publish"):
        open_index(corpus_dir, empty, fake_embedder)


def test_publish_refuses_the_index_itself_and_a_folder_built_in(
    built_index: Any, corpus_dir: Path, index_dir: Path, tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    with pytest.raises(PublishError, match="the index folder itself"):
        publish_build(index_dir, index_dir)
    other = tmp_path / "other"
    built = build_index(corpus_dir, other, fake_embedder, progress=False).manifest
    with pytest.raises(PublishError, match="not a published one"):
        publish_build(index_dir, other)
    assert read_manifest(other) == built  # left as it was
    assert not is_published(other) and not os.path.exists(other / PUBLISHED)
