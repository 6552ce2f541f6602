"""Build the index from the corpus, and keep it in step with the corpus and the model.

Chunks are embedded as `Chunk.dense_text` (section path, then passage), and each sentence on its
own for highlights. Builds are incremental: a chunk whose embedded texts did not change (same
`embed_key`, a hash of exactly what the model reads) takes its vectors from the previous build,
and a corpus that did not change at all is not rebuilt. Files that cannot be read are reported
and left out, or, with `strict`, fail the build before anything is written.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from chatbot.corpus.files import (
    DEFAULT_MAX_FILE_MB,
    CorpusScan,
    Document,
    corpus_hash,
    load_synonyms,
    scan_corpus,
)
from chatbot.errors import ChatbotError, CorpusError, IndexCorruptError, IndexMissingError, PublishError
from chatbot.indexing.changes import Catalog, Plan, make_catalog, plan
from chatbot.indexing.chunking import Chunk, ChunkSettings, chunk_document
from chatbot.indexing.embedding import Embedder
from chatbot.indexing.reuse import (
    embed_key,
    embed_missing,
    embed_recipe,
)
from chatbot.indexing.store import (
    Manifest,
    StoredDocument,
    StoredIndex,
    build_lock,
    check_build,
    is_published,
    load_build,
    load_vectors,
    read_catalog,
    read_manifest,
    write_build,
)
from chatbot.indexing.vectors import ANN_THRESHOLD, ann_settings, build_dense

log = logging.getLogger("chatbot.index")


@dataclass(frozen=True)
class IndexOptions:
    """How a build treats the corpus, besides chunking."""

    max_file_bytes: int = DEFAULT_MAX_FILE_MB * 1_000_000  # larger files are left out
    ann_threshold: int = ANN_THRESHOLD  # past this many chunks the dense index is approximate
    strict: bool = False  # a file or line that cannot be used fails the build

    def settings(self) -> dict[str, int | str]:
        """What the manifest records: a change in any of these means a new build."""
        return {
            "max_file_bytes": self.max_file_bytes,
            **ann_settings(self.ann_threshold),
            "embed_recipe": embed_recipe(),
        }


@dataclass(frozen=True)
class BuildReport:
    """What a build did: the manifest it wrote and how much it had to embed."""

    manifest: Manifest
    embedded: int
    reused: int
    seconds: float
    skipped: tuple[str, ...] = ()  # files and lines left out, "where: reason"
    up_to_date: bool = False  # nothing had changed, so nothing was built
    phases: dict[str, float] = field(default_factory=dict, compare=False)  # seconds per step


def _scan(corpus_dir: Path, options: IndexOptions, progress: bool) -> CorpusScan:
    """Read the corpus; report each problem, or fail on the first ones when strict."""
    scan = scan_corpus(corpus_dir, options.max_file_bytes, progress=progress)
    _report_skipped([str(p) for p in scan.problems], options)
    return scan


def _report_skipped(skipped: Sequence[str], options: IndexOptions) -> None:
    if skipped and options.strict:
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        raise CorpusError(
            f"cannot index {skipped[0]}{more}. Fix the file, or index without --strict to leave it out."
        )
    for line in skipped:
        log.warning("skipped %s", line)


def _chunk(docs: Sequence[Document], settings: ChunkSettings, progress: bool) -> list[Chunk]:
    from tqdm import tqdm

    chunks: list[Chunk] = []
    with tqdm(total=len(docs), unit="doc", desc="Chunking", disable=not progress) as bar:
        for doc in docs:
            chunks.extend(chunk_document(doc, settings))
            bar.update()
    return chunks


def _up_to_date(
    index_dir: Path,
    corpus_dir: Path,
    digest: str,
    embedder: Embedder,
    settings: ChunkSettings,
    options: IndexOptions,
) -> Manifest | None:
    """The current manifest when it was built from this very corpus, model and settings."""
    try:
        manifest = read_manifest(index_dir)
        if manifest is None:
            return None
        check_build(index_dir, manifest)
    except ChatbotError:
        return None
    return None if stale_reason(manifest, corpus_dir, digest, embedder, settings, options) else manifest


def _new_manifest(
    embedder: Embedder,
    settings: ChunkSettings,
    options: IndexOptions,
    digest: str,
    scan: CorpusScan,
    chunks: int,
    ann: str,
) -> Manifest:
    """The manifest of a new build (its files' sizes are added when they are written)."""
    return Manifest(
        build_id=datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6],
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        model_id=embedder.model_id,
        dim=embedder.dim,
        chunking=settings.as_dict(),
        corpus_hash=digest,
        documents=len(scan.documents),
        chunks=chunks,
        ann=ann,
        settings=options.settings(),
        skipped=[str(p) for p in scan.problems],
    )


def _built(
    manifest: Manifest, embedded: int, chunks: int, started: float, phases: dict[str, float]
) -> BuildReport:
    """The report of a build just written, logged."""
    report = BuildReport(
        manifest,
        embedded,
        chunks - embedded,
        time.perf_counter() - started,
        tuple(manifest.skipped),
        phases=phases,
    )
    log.info(
        "built index %s: %d documents, %d chunks (%d embedded, %d reused) in %.1fs",
        manifest.build_id,
        manifest.documents,
        manifest.chunks,
        report.embedded,
        report.reused,
        report.seconds,
    )
    return report


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    settings: ChunkSettings = ChunkSettings(),
    *,
    options: IndexOptions = IndexOptions(),
    progress: bool = True,
    force: bool = False,
) -> BuildReport:
    """Chunk and embed the corpus and write a new build, reusing unchanged chunks' vectors.

    When the index was built from this very corpus, model and settings nothing is done (the
    report says `up_to_date`), unless `force`.
    """
    if is_published(index_dir):
        raise PublishError(
            f"{index_dir}/ is a published index, which replicas serve: build into a local folder and "
            f"publish it with: chatbot index --index LOCAL --publish {index_dir}"
        )
    started = time.perf_counter()
    digest = corpus_hash(corpus_dir)  # fails on a missing corpus before anything is created
    current = None if force else _up_to_date(index_dir, corpus_dir, digest, embedder, settings, options)
    if current is not None:
        _report_skipped(current.skipped, options)
        return BuildReport(
            current, 0, current.chunks, time.perf_counter() - started, tuple(current.skipped), True
        )
    phases: dict[str, float] = {}
    with build_lock(index_dir):
        digest = corpus_hash(corpus_dir)
        mark = time.perf_counter()
        scan = _scan(corpus_dir, options, progress)
        docs = scan.documents
        chunks = _chunk(docs, settings, progress)
        if not chunks:
            raise CorpusError(
                f"No passages found in {corpus_dir}/. Add .txt or .md articles, .html pages "
                "or .jsonl records there."
            )
        phases["read"], mark = time.perf_counter() - mark, time.perf_counter()
        keys, vectors, sentence_vectors, embedded = embed_missing(chunks, index_dir, embedder, progress)
        phases["embed"], mark = time.perf_counter() - mark, time.perf_counter()
        dense = build_dense(vectors, options.ann_threshold, progress=progress)
        phases["dense"], mark = time.perf_counter() - mark, time.perf_counter()
        manifest = _new_manifest(embedder, settings, options, digest, scan, len(chunks), dense.kind)
        documents = {d.source: StoredDocument(d.text, d.provenance) for d in docs}
        manifest = write_build(
            index_dir,
            manifest,
            chunks,
            vectors,
            sentence_vectors,
            dense,
            documents,
            load_synonyms(corpus_dir),
            make_catalog(chunks, docs),
            keys,
        )
        phases["write"] = time.perf_counter() - mark
    return _built(manifest, embedded, len(chunks), started, phases)


def plan_build(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    settings: ChunkSettings = ChunkSettings(),
    *,
    options: IndexOptions = IndexOptions(),
    progress: bool = True,
) -> tuple[Plan, tuple[str, ...]]:
    """What `build_index` would add, change and remove, and what it would skip; embeds nothing."""
    scan = _scan(corpus_dir, options, progress)
    chunks = _chunk(scan.documents, settings, progress)
    new = make_catalog(chunks, scan.documents)
    old: Catalog | None = None
    reusable: set[str] = set()
    try:
        manifest = read_manifest(index_dir)
        if manifest is not None:
            old_chunks, old_keys, _, _ = load_vectors(index_dir, manifest)
            old = read_catalog(index_dir, manifest) or make_catalog(old_chunks)
            if (manifest.model_id, manifest.dim) == (embedder.model_id, embedder.dim):
                reusable = set(old_keys)
    except ChatbotError as exc:
        log.warning("the current index cannot be read (%s): everything would be built anew", exc)
        old = None
    to_embed = sum(1 for c in chunks if embed_key(c) not in reusable)
    return plan(old, new, to_embed), tuple(str(p) for p in scan.problems)


def stale_reason(
    manifest: Manifest,
    corpus_dir: Path,
    digest: str,
    embedder: Embedder,
    settings: ChunkSettings,
    options: IndexOptions | None = None,
) -> str | None:
    """Why an index no longer matches the corpus (`digest`, its `corpus_hash`), the model or the
    chunking, or None when it is current: the one rule for "is the index current?".

    `chatbot index` passes its `options` (file size limit, dense index choice, vector size): a
    change in any of them is a new build. A reader (`open_index`) passes none: it serves an index
    built with other options as it is, and rebuilds only when passages or vectors would differ.
    """
    if manifest.model_id != embedder.model_id:
        return f"it was built with {manifest.model_id}, not {embedder.model_id}"
    if options is not None and manifest.dim != embedder.dim:
        return f"its vectors are {manifest.dim}-d, the model makes {embedder.dim}-d ones"
    if manifest.chunking != settings.as_dict():
        return "the chunking settings changed"
    if manifest.settings.get("embed_recipe") != embed_recipe():
        return "the way passages are embedded changed"
    if options is not None and manifest.settings != options.settings():
        return "the index options changed"
    if manifest.corpus_hash != digest:
        return f"the documents in {corpus_dir}/ changed"
    return None


def open_index(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    settings: ChunkSettings = ChunkSettings(),
    *,
    progress: bool = True,
) -> StoredIndex:
    """Load the index, building it first when it is missing or was built from something else.

    A damaged index is reported (IndexCorruptError), not silently replaced, so that a person
    learns their index broke.
    """
    manifest = read_manifest(index_dir)
    if is_published(index_dir):
        # Served as published, whatever this machine's corpus holds: its publisher builds it.
        if manifest is None:
            raise IndexMissingError(
                f"Nothing is published in {index_dir}/ yet. Publish a build with: "
                f"chatbot index --index LOCAL --publish {index_dir}"
            )
        if manifest.model_id != embedder.model_id:
            raise IndexCorruptError(
                f"The index published in {index_dir}/ was built with {manifest.model_id}, this "
                f"replica embeds questions with {embedder.model_id}: serve it with the same model."
            )
        stored = load_build(index_dir, manifest)
        _check_model(stored, embedder, index_dir)
        return stored
    if manifest is None:
        log.info("no index in %s/: building it from %s/", index_dir, corpus_dir)
        manifest = build_index(corpus_dir, index_dir, embedder, settings, progress=progress).manifest
    else:
        reason = stale_reason(manifest, corpus_dir, corpus_hash(corpus_dir), embedder, settings)
        if reason:
            log.info("rebuilding the index in %s/: %s", index_dir, reason)
            manifest = build_index(corpus_dir, index_dir, embedder, settings, progress=progress).manifest
    stored = load_build(index_dir, manifest)
    _check_model(stored, embedder, index_dir)
    return stored


def _check_model(stored: StoredIndex, embedder: Embedder, index_dir: Path) -> None:
    if stored.manifest.dim != embedder.dim:
        raise IndexCorruptError(
            f"The index in {index_dir}/ has {stored.manifest.dim}-d vectors, "
            f"the model makes {embedder.dim}-d ones. Rebuild it with: chatbot index"
        )
