"""The index folder on disk: the only module that writes it.

Layout: `index/manifest.json` names the current build, `index/builds/<id>/` holds its files
(`chunks.jsonl`, `vectors.npy`, `sentences.npy`, `dense.faiss`, `documents.json`,
`synonyms.json`, and `catalog.json`: each document's content hash and its sections' chunk ids,
which tell the next build what changed without loading this one). A build is written into a
fresh folder first and the manifest is replaced last, by atomic rename, so a reader (or a build
killed at any moment) always sees either the old index or the new one, never half of one. Old
builds are pruned, but the previous one is kept: a running app may still be reading it.

`publish_build` copies a build into a shared folder the same way (whole, then the manifest), for
replicas on several machines to serve; such a folder is marked `PUBLISHED` and never built in.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.corpus.files import Provenance, SynonymFile
from chatbot.errors import IndexBusyError, IndexCorruptError, IndexMissingError, PublishError
from chatbot.indexing.chunking import Chunk
from chatbot.indexing.vectors import VectorIndex, load_dense

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
BUILDS = "builds"
LOCK = ".lock"
_FILES = (
    "chunks.jsonl",
    "vectors.npy",
    "sentences.npy",
    "dense.faiss",
    "documents.json",
    "synonyms.json",
    "catalog.json",
)
CATALOG = "catalog.json"  # builds written before it existed derive it from chunks.jsonl


@dataclass(frozen=True)
class Manifest:
    """How an index was built; readers check it before trusting the files it names."""

    build_id: str
    built_at: str
    model_id: str
    dim: int
    chunking: dict[str, int]
    corpus_hash: str
    documents: int
    chunks: int
    ann: str = "flat"
    files: dict[str, int] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    # Other settings that decide what is indexed (file size limit, dense index choice).
    settings: dict[str, int | str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # files and lines left out, with the reason


@dataclass(frozen=True)
class StoredDocument:
    """A document as the index keeps it: its text (for merged passages) and provenance."""

    text: str
    provenance: Provenance


@dataclass(frozen=True)
class StoredIndex:
    """A loaded build: chunks, their vectors, sentence vectors, the dense index, the documents."""

    manifest: Manifest
    chunks: tuple[Chunk, ...]
    vectors: np.ndarray
    sentence_vectors: np.ndarray  # rows for every chunk's sentences, chunk after chunk
    sentence_offsets: np.ndarray  # chunk i's sentences are rows offsets[i]:offsets[i+1]
    dense: VectorIndex
    documents: dict[str, StoredDocument]
    synonyms: dict[str, list[str]]
    # Keys of `synonyms` that name a specific thing the corpus covers only as a class
    # (`corpus.files.SynonymFile.names`).
    names: frozenset[str] = frozenset()

    @property
    def provenance(self) -> dict[str, Provenance]:
        return {src: d.provenance for src, d in self.documents.items()}


def _fix(index_dir: Path) -> str:
    return f"Rebuild it with: chatbot index --index {index_dir}"


def _corrupt(index_dir: Path, what: str) -> IndexCorruptError:
    return IndexCorruptError(f"The index in {index_dir}/ is damaged ({what}). {_fix(index_dir)}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old content or the new, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def read_manifest(index_dir: Path) -> Manifest | None:
    """The current manifest, None when there is no index, an error when it cannot be trusted."""
    path = index_dir / MANIFEST
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format_version") != FORMAT_VERSION:
            raise _corrupt(
                index_dir, f"format version {raw.get('format_version')!r}, expected {FORMAT_VERSION}"
            )
        return Manifest(**raw)
    except IndexCorruptError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError) as exc:
        raise _corrupt(index_dir, f"unreadable {MANIFEST}: {type(exc).__name__}") from None


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's build lock; a second build at the same time is refused, not queued."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusyError(
                f"Another build is writing {index_dir}/ right now. Wait for it to finish, then retry."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_build(
    index_dir: Path,
    manifest: Manifest,
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    sentence_vectors: np.ndarray,
    dense: VectorIndex,
    documents: dict[str, StoredDocument],
    synonyms: SynonymFile,
    catalog: dict[str, Any] | None = None,
    keys: Sequence[str] | None = None,
) -> Manifest:
    """Write a complete build folder, then switch the manifest to it. Call under build_lock."""
    previous = read_manifest_quietly(index_dir)

    builds = index_dir / BUILDS
    builds.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=builds, prefix=f".{manifest.build_id}."))
    try:
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
            for n, c in enumerate(chunks):
                row = {
                    "id": c.id,
                    "source": c.source,
                    "title": c.title,
                    "section": list(c.section),
                    "text": c.text,
                    "start": c.start,
                    "end": c.end,
                    "sentences": [list(span) for span in c.sentences],
                    "key": keys[n] if keys else "",  # hash of the texts embedded (vector reuse)
                }
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        np.save(tmp / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32))
        np.save(tmp / "sentences.npy", np.ascontiguousarray(sentence_vectors, dtype=np.float32))
        dense.save(tmp / "dense.faiss")
        docs = {src: {"text": d.text, "provenance": asdict(d.provenance)} for src, d in documents.items()}
        (tmp / "documents.json").write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
        lay = {"table": synonyms.table, "names": list(synonyms.names)}
        (tmp / "synonyms.json").write_text(json.dumps(lay, ensure_ascii=False), encoding="utf-8")
        (tmp / CATALOG).write_text(json.dumps(catalog or {}, ensure_ascii=False), encoding="utf-8")
        for name in _FILES:
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
        sizes = {name: (tmp / name).stat().st_size for name in _FILES}
        final = builds / manifest.build_id
        os.replace(tmp, final)
        _fsync_dir(builds)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest = Manifest(**{**asdict(manifest), "files": sizes})
    _write_atomic(index_dir / MANIFEST, json.dumps(asdict(manifest), indent=2).encode())
    prune_builds(index_dir, keep=[manifest.build_id] + ([previous.build_id] if previous else []))
    return manifest


PUBLISHED = "PUBLISHED"  # marks a folder that `chatbot index --publish` writes and replicas serve


def read_manifest_quietly(index_dir: Path) -> Manifest | None:
    """The manifest, or None when there is none or it cannot be read."""
    try:
        return read_manifest(index_dir)
    except IndexCorruptError:
        return None


def is_published(index_dir: Path) -> bool:
    """Whether the folder is a published index: replicas serve it as it is and never build in it
    (its publisher does), so a replica with another corpus cannot overwrite the shared build."""
    return (index_dir / PUBLISHED).is_file()


def publish_build(index_dir: Path, target: Path) -> tuple[Manifest, bool]:
    """Copy the current build of `index_dir` into `target` (a shared folder: NFS, a mounted
    bucket), then switch `target`'s manifest to it: (the manifest published, whether anything
    was copied).

    The build is copied into a hidden folder and each file synced, its sizes checked against the
    manifest, then renamed into place; the manifest is replaced last, atomically, as a build
    does. A replica following `target` (`answering.live`) therefore loads the new build whole
    or keeps the old one: a copy cut short (a full disk, a killed publisher) is never named, and
    the next publish removes it. The build before stays, for replicas still reading it.
    """
    manifest = read_manifest(index_dir)
    if manifest is None:
        raise IndexMissingError(
            f"No index in {index_dir}/ to publish. Build one with: chatbot index --index {index_dir}"
        )
    source = check_build(index_dir, manifest)
    if target.resolve() == index_dir.resolve():
        raise PublishError(f"--publish {target} is the index folder itself; name the shared folder instead.")
    if read_manifest_quietly(target) is not None and not is_published(target):
        raise PublishError(
            f"{target}/ holds an index built there, not a published one; publish to an empty "
            "folder or to one written by --publish."
        )
    with build_lock(target):
        (target / PUBLISHED).write_text(
            "Written by `chatbot index --publish`; replicas serve it with `chatbot serve --index`.\n",
            encoding="utf-8",
        )
        current = read_manifest_quietly(target)
        if current is not None and current.build_id == manifest.build_id:
            try:
                check_build(target, current)
                return current, False
            except IndexCorruptError:
                pass  # the same build, damaged there: copy it again
        builds = target / BUILDS
        builds.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=builds, prefix=f".{manifest.build_id}."))
        try:
            for name in manifest.files:
                with open(source / name, "rb") as src, open(tmp / name, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                    dst.flush()
                    os.fsync(dst.fileno())
                if (tmp / name).stat().st_size != manifest.files[name]:
                    raise _corrupt(target, f"{name} copied short")
            final = builds / manifest.build_id
            if final.exists():
                shutil.rmtree(final)  # a damaged copy of this build, from an earlier publish
            os.replace(tmp, final)
            _fsync_dir(builds)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _write_atomic(target / MANIFEST, json.dumps(asdict(manifest), indent=2).encode())
        prune_builds(target, keep=[manifest.build_id] + ([current.build_id] if current else []))
    return manifest, True


def prune_builds(index_dir: Path, keep: Collection[str]) -> None:
    """Remove every build folder but the ones named in `keep` (the current build and the one
    before it, which a running app may still be reading): older builds, builds a killed process
    finished but never switched to, and half-written ones. Call under build_lock."""
    builds = index_dir / BUILDS
    if not builds.is_dir():
        return
    for path in builds.iterdir():
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def check_build(index_dir: Path, manifest: Manifest) -> Path:
    """The build folder the manifest names, once every file in it has the size the manifest says."""
    folder = index_dir / BUILDS / manifest.build_id
    for name, size in manifest.files.items():
        path = folder / name
        if not path.is_file():
            raise _corrupt(index_dir, f"{name} is missing")
        if path.stat().st_size != size:
            raise _corrupt(index_dir, f"{name} has {path.stat().st_size} bytes, expected {size}")
    return folder


def load_build(index_dir: Path, manifest: Manifest | None = None) -> StoredIndex:
    """Load the build the manifest names, checking every file against it."""
    manifest = manifest or read_manifest(index_dir)
    if manifest is None:
        raise IndexMissingError(
            f"No index in {index_dir}/. Build one with: chatbot index --index {index_dir}"
        )
    folder = check_build(index_dir, manifest)
    try:
        chunks = tuple(_read_chunks(folder / "chunks.jsonl"))
        vectors = np.load(folder / "vectors.npy", allow_pickle=False, mmap_mode="r")
        sentence_vectors = np.load(folder / "sentences.npy", allow_pickle=False, mmap_mode="r")
        dense = load_dense(folder / "dense.faiss")
        docs = json.loads((folder / "documents.json").read_text(encoding="utf-8"))
        documents = {src: StoredDocument(d["text"], Provenance(**d["provenance"])) for src, d in docs.items()}
        synonyms = _synonyms(json.loads((folder / "synonyms.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise _corrupt(index_dir, f"{type(exc).__name__} while reading build {manifest.build_id}") from None
    if not (len(chunks) == manifest.chunks == dense.count == vectors.shape[0]):
        raise _corrupt(index_dir, "chunk, vector and index counts disagree")
    if dense.dim != manifest.dim or vectors.shape[1] != manifest.dim:
        raise _corrupt(index_dir, f"vectors are not {manifest.dim}-dimensional")
    offsets = np.cumsum([0] + [len(c.sentences) for c in chunks])
    if sentence_vectors.shape[0] != offsets[-1]:
        raise _corrupt(index_dir, "sentence vectors do not match the chunks")
    return StoredIndex(
        manifest,
        chunks,
        vectors,
        sentence_vectors,
        offsets,
        dense,
        documents,
        synonyms.table,
        frozenset(synonyms.names),
    )


def _synonyms(data: dict[str, Any]) -> SynonymFile:
    """`synonyms.json` as written (`{"table": ..., "names": [...]}`), or a flat table as builds
    written before `[names]` existed hold it."""
    if set(data) == {"table", "names"} and isinstance(data["table"], dict):
        return SynonymFile(data["table"], tuple(data["names"]))
    return SynonymFile(data)


def load_vectors(
    index_dir: Path, manifest: Manifest
) -> tuple[list[Chunk], list[str], np.ndarray, np.ndarray]:
    """A build's chunks, their embedding keys ("" in builds from before keys), their vectors and
    sentence vectors (memory-mapped), for reuse by the next build: what `load_build` reads,
    without the dense index and the documents."""
    folder = check_build(index_dir, manifest)
    try:
        rows = list(_read_rows(folder / "chunks.jsonl"))
        chunks = [_chunk(row) for row in rows]
        vectors = np.load(folder / "vectors.npy", allow_pickle=False, mmap_mode="r")
        sentence_vectors = np.load(folder / "sentences.npy", allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise _corrupt(index_dir, f"{type(exc).__name__} while reading build {manifest.build_id}") from None
    if len(chunks) != vectors.shape[0] or sum(len(c.sentences) for c in chunks) != len(sentence_vectors):
        raise _corrupt(index_dir, "chunk and vector counts disagree")
    return chunks, [str(row.get("key") or "") for row in rows], vectors, sentence_vectors


def read_catalog(index_dir: Path, manifest: Manifest) -> dict[str, Any] | None:
    """A build's catalog (see `chatbot.indexing.changes`), None for a build written before catalogs."""
    folder = check_build(index_dir, manifest)
    if CATALOG not in manifest.files:
        return None
    try:
        data = json.loads((folder / CATALOG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _corrupt(index_dir, f"{type(exc).__name__} while reading build {manifest.build_id}") from None
    if not isinstance(data, dict):
        raise _corrupt(index_dir, f"{CATALOG} is not a JSON object")
    return data


def _read_rows(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def _chunk(row: dict[str, Any]) -> Chunk:
    return Chunk(
        row["id"],
        row["source"],
        row["title"],
        tuple(row["section"]),
        row["text"],
        row["start"],
        row["end"],
        tuple((s, e) for s, e in row["sentences"]),
    )


def _read_chunks(path: Path) -> Iterator[Chunk]:
    return (_chunk(row) for row in _read_rows(path))
