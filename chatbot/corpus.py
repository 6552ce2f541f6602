"""Read the corpus folder: the only module that opens the documents being served.

A corpus is a folder of documents (`.txt`, `.md`); a document may carry a sidecar
`<name>.meta.json` with its provenance (title, author, date, kind), shown with every answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chatbot.errors import CorpusError
from chatbot.structure import (
    Outline,
    Paragraph,
    find_date,
    parse_markdown,
    parse_plain_text,
    parse_record,
)

META_SUFFIX = ".meta.json"
SYNONYMS_FILE = "synonyms.toml"
_PARSERS: dict[str, Callable[[str, str], Outline]] = {
    ".txt": parse_plain_text,
    ".md": parse_markdown,
    ".markdown": parse_markdown,
}
SUPPORTED_SUFFIXES = tuple(_PARSERS)


@dataclass(frozen=True)
class Provenance:
    """Where a document comes from, as shown under every answer."""

    title: str
    author: str | None = None
    date: str | None = None
    kind: str | None = None

    def line(self) -> str:
        parts = [f"“{self.title}”"]
        if self.author:
            parts.append(f"by {self.author}")
        if self.date:
            parts.append(self.date)
        if self.kind:
            parts.append(self.kind)
        return ", ".join(parts)


@dataclass(frozen=True)
class Document:
    """One corpus document: its source text and the outline recovered from it."""

    source: str  # path relative to the corpus folder, with forward slashes
    text: str
    title: str
    paragraphs: tuple[Paragraph, ...]
    provenance: Provenance = field(compare=False)


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The document files of a corpus folder, in a stable order."""
    if not corpus_dir.is_dir():
        raise CorpusError(
            f"No corpus folder at {corpus_dir}/. Pass --corpus DIR, or run from the project folder."
        )
    files = sorted(
        p
        for p in corpus_dir.rglob("*")
        if p.is_file()
        and p.suffix.lower() in _PARSERS
        and not any(part.startswith(".") for part in p.relative_to(corpus_dir).parts)
    )
    return files


def corpus_hash(corpus_dir: Path) -> str:
    """A hash of everything in the corpus that changes what is indexed (names and bytes)."""
    digest = hashlib.sha256()
    extras = [p for p in (corpus_dir / SYNONYMS_FILE,) if p.is_file()]
    metas = sorted(corpus_dir.rglob("*" + META_SUFFIX))
    for path in corpus_files(corpus_dir) + extras + metas:
        digest.update(path.relative_to(corpus_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _read_meta(path: Path) -> dict[str, str]:
    meta_path = path.with_name(path.name.removesuffix(path.suffix) + META_SUFFIX)
    if not meta_path.is_file():
        return {}
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{meta_path} is not valid JSON ({exc}). Fix or delete it.") from None
    if not isinstance(data, dict):
        raise CorpusError(f"{meta_path} must hold a JSON object. Fix or delete it.")
    return {k: str(v) for k, v in data.items() if isinstance(v, (str, int, float))}


def document_from_record(
    source: str, title: str, text: str, provenance: Provenance | None = None
) -> Document:
    """A document from a record with a title and plain text (a line of a JSONL corpus, BEIR).

    Its spans are offsets into `text`; its passages cite "Title" (no sections).
    """
    outline = parse_record(text, title.strip() or source)
    return Document(source, text, outline.title, outline.paragraphs, provenance or Provenance(outline.title))


def load_document(path: Path, corpus_dir: Path) -> Document:
    """Read and outline one document file."""
    source = path.relative_to(corpus_dir).as_posix()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"Cannot read {source}: {exc.strerror}. Check the file.") from None
    try:
        # newline="" semantics: keep the bytes' own line endings so spans match the file.
        text = raw.decode("utf-8-sig") if raw.startswith(b"\xef\xbb\xbf") else raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CorpusError(f"{source} is not UTF-8 text. Save it as UTF-8 and re-index.") from None
    fallback = path.stem.replace("-", " ").replace("_", " ").strip().capitalize()
    outline = _PARSERS[path.suffix.lower()](text, fallback)
    meta = _read_meta(path)
    provenance = Provenance(
        title=meta.get("title") or outline.title,
        author=meta.get("author") or (outline.byline[0] if outline.byline else None),
        date=meta.get("date") or find_date(outline.byline),
        kind=meta.get("kind"),
    )
    return Document(source, text, outline.title, outline.paragraphs, provenance)


def load_synonyms(corpus_dir: Path) -> dict[str, list[str]]:
    """The staff-editable lay-term table (`synonyms.toml`), empty when the corpus has none."""
    import tomllib

    path = corpus_dir / SYNONYMS_FILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CorpusError(f"{path} cannot be read ({exc}). Fix the TOML and re-index.") from None
    table: dict[str, list[str]] = {}
    for key, value in data.items():
        targets = [value] if isinstance(value, str) else value
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise CorpusError(f'{path}: "{key}" must map to a list of strings. Fix it and re-index.')
        table[key] = targets
    return table


def load_corpus(corpus_dir: Path) -> Iterator[Document]:
    """Every document of the corpus, in a stable order."""
    for path in corpus_files(corpus_dir):
        yield load_document(path, corpus_dir)
