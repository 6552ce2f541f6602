"""Build the index from the corpus, and keep it in step with the corpus and the model.

Chunks are embedded as `Chunk.search_text` (section path, then passage), and each sentence on its
own for highlights. Vectors of chunks that did not change are taken from the previous build.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from chatbot.chunking import ChunkSettings, chunk_corpus
from chatbot.corpus import corpus_hash, load_corpus, load_synonyms
from chatbot.embedding import Embedder
from chatbot.errors import ChatbotError, CorpusError, IndexCorruptError
from chatbot.store import (
    Manifest,
    StoredDocument,
    StoredIndex,
    build_lock,
    load_build,
    read_manifest,
    write_build,
)

log = logging.getLogger("chatbot.index")
EMBED_BATCH = 256


@dataclass(frozen=True)
class BuildReport:
    """What a build did: the manifest it wrote and how much it had to embed."""

    manifest: Manifest
    embedded: int
    reused: int
    seconds: float


def _previous_vectors(index_dir: Path, model_id: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Chunk and sentence vectors of the current build by chunk id, when made by the same model."""
    try:
        manifest = read_manifest(index_dir)
        if manifest is None or manifest.model_id != model_id:
            return {}
        old = load_build(index_dir, manifest)
    except ChatbotError:
        return {}  # a damaged index is simply rebuilt from scratch
    offsets = old.sentence_offsets
    return {
        c.id: (np.asarray(old.vectors[i]), np.asarray(old.sentence_vectors[offsets[i] : offsets[i + 1]]))
        for i, c in enumerate(old.chunks)
    }


def _embed(embedder: Embedder, texts: list[str], progress: bool) -> np.ndarray:
    from tqdm import tqdm

    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    with tqdm(total=len(texts), unit="chunk", desc="Embedding", disable=not progress or not texts) as bar:
        for i in range(0, len(texts), EMBED_BATCH):
            batch = texts[i : i + EMBED_BATCH]
            out[i : i + len(batch)] = embedder.encode(batch)
            bar.update(len(batch))
    return out


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    settings: ChunkSettings = ChunkSettings(),
    *,
    progress: bool = True,
) -> BuildReport:
    """Chunk and embed the corpus and write a new build, reusing unchanged chunks' vectors."""
    import faiss

    started = time.perf_counter()
    digest = corpus_hash(corpus_dir)  # fails on a missing corpus before anything is created
    with build_lock(index_dir):
        digest = corpus_hash(corpus_dir)
        docs = list(load_corpus(corpus_dir))
        chunks = chunk_corpus(docs, settings)
        if not chunks:
            raise CorpusError(f"No passages found in {corpus_dir}/. Add .txt or .md documents there.")
        previous = _previous_vectors(index_dir, embedder.model_id)
        todo = [i for i, c in enumerate(chunks) if c.id not in previous]
        # One pass over the new chunks and their sentences, so the progress bar counts real work.
        texts = [chunks[i].search_text for i in todo]
        for i in todo:
            texts.extend(chunks[i].text[s:e] for s, e in chunks[i].sentences)
        fresh = _embed(embedder, texts, progress)
        vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
        sentence_parts: list[np.ndarray] = []
        fresh_at = dict(zip(todo, range(len(todo)), strict=True))
        cursor = len(todo)
        for i, c in enumerate(chunks):
            if i in fresh_at:
                vectors[i] = fresh[fresh_at[i]]
                sentence_parts.append(fresh[cursor : cursor + len(c.sentences)])
                cursor += len(c.sentences)
            else:
                vectors[i], sentences = previous[c.id]
                sentence_parts.append(sentences)
        sentence_vectors = (
            np.concatenate(sentence_parts)
            if sentence_parts
            else np.zeros((0, embedder.dim), dtype=np.float32)
        )
        dense = faiss.IndexFlatIP(embedder.dim)
        dense.add(vectors)
        manifest = Manifest(
            build_id=datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6],
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            model_id=embedder.model_id,
            dim=embedder.dim,
            chunking=settings.as_dict(),
            corpus_hash=digest,
            documents=len(docs),
            chunks=len(chunks),
        )
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
        )
    report = BuildReport(manifest, len(todo), len(chunks) - len(todo), time.perf_counter() - started)
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


def stale_reason(
    manifest: Manifest, corpus_dir: Path, embedder: Embedder, settings: ChunkSettings
) -> str | None:
    """Why an index no longer matches the corpus, model or chunking, or None when it does."""
    if manifest.model_id != embedder.model_id:
        return f"it was built with {manifest.model_id}, not {embedder.model_id}"
    if manifest.chunking != settings.as_dict():
        return "the chunking settings changed"
    if manifest.corpus_hash != corpus_hash(corpus_dir):
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
    if manifest is None:
        log.info("no index in %s/: building it from %s/", index_dir, corpus_dir)
        manifest = build_index(corpus_dir, index_dir, embedder, settings, progress=progress).manifest
    else:
        reason = stale_reason(manifest, corpus_dir, embedder, settings)
        if reason:
            log.info("rebuilding the index in %s/: %s", index_dir, reason)
            manifest = build_index(corpus_dir, index_dir, embedder, settings, progress=progress).manifest
    stored = load_build(index_dir, manifest)
    if stored.manifest.dim != embedder.dim:
        raise IndexCorruptError(
            f"The index in {index_dir}/ has {stored.manifest.dim}-d vectors, "
            f"the model makes {embedder.dim}-d ones. Rebuild it with: chatbot index"
        )
    return stored
