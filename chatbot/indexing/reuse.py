"""Vectors for a new build: exactly what is embedded for each chunk, and what the current build lends.

A chunk whose embedded texts are unchanged (same `embed_key`, same model) keeps its vectors, so
adding one document to 17,000 embeds one document. The key hashes the texts themselves, not the
corpus, so a change in how chunks become texts re-embeds them (`embed_recipe`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from chatbot.errors import ChatbotError
from chatbot.indexing.chunking import Chunk
from chatbot.indexing.embedding import Embedder, encode_all
from chatbot.indexing.store import (
    load_vectors,
    read_manifest,
)

EMBED_BATCH = 256


def embedded_texts(chunk: Chunk) -> list[str]:
    """Exactly what the model embeds for a chunk: its dense text, then each sentence."""
    return [chunk.dense_text, *chunk.sentence_texts]


def embed_key(chunk: Chunk) -> str:
    """A hash of the texts embedded for a chunk: stored vectors are reused only on a match, so a
    change in what is embedded (not only in the corpus) is never served with old vectors."""
    return hashlib.sha256("\x1e".join(embedded_texts(chunk)).encode()).hexdigest()[:24]


def embed_recipe() -> str:
    """A fingerprint of how chunks become texts to embed, recorded in the manifest: when the code
    changes it, an unchanged corpus is re-indexed (and its passages re-embedded) all the same."""
    probe = Chunk(
        "probe", "probe.txt", "Title", ("Section", "Subsection"), "One. Two.", 0, 9, ((0, 4), (5, 9))
    )
    return embed_key(probe)[:12]


def previous_vectors(index_dir: Path, embedder: Embedder) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Chunk and sentence vectors of the current build by `embed_key`, when made by the same model
    (a build from before the keys were stored has none: everything is embedded again)."""
    try:
        manifest = read_manifest(index_dir)
        if manifest is None or (manifest.model_id, manifest.dim) != (embedder.model_id, embedder.dim):
            return {}
        chunks, keys, vectors, sentence_vectors = load_vectors(index_dir, manifest)
    except ChatbotError:
        return {}  # a damaged index is simply rebuilt from scratch
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    row = 0
    for i, (c, key) in enumerate(zip(chunks, keys, strict=True)):
        if key:
            out[key] = (vectors[i], sentence_vectors[row : row + len(c.sentences)])
        row += len(c.sentences)
    return out


def embed_missing(
    chunks: Sequence[Chunk], index_dir: Path, embedder: Embedder, progress: bool
) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    """Each chunk's `embed_key`, chunk vectors and sentence vectors (chunk after chunk), and how
    many chunks had to be embedded: the others take their vectors from the current build."""
    previous = previous_vectors(index_dir, embedder)
    keys = [embed_key(c) for c in chunks]
    todo = [i for i, key in enumerate(keys) if key not in previous]
    # One pass over the new chunks and their sentences, so the progress bar counts real work.
    texts = [chunks[i].dense_text for i in todo]
    for i in todo:
        texts.extend(chunks[i].sentence_texts)
    fresh = encode_all(embedder, texts, progress, batch=EMBED_BATCH)
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
            vectors[i], sentences = previous[keys[i]]
            sentence_parts.append(sentences)
    sentence_vectors = (
        np.concatenate(sentence_parts) if sentence_parts else np.zeros((0, embedder.dim), dtype=np.float32)
    )
    return keys, vectors, sentence_vectors, len(todo)
