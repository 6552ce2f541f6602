"""Read the corpus folder: the only module that opens the documents being served.

A corpus is a folder of documents: articles (`.txt`, `.md`), web pages (`.html`, `.htm`) and
BEIR-style record files (`.jsonl`, one document a line: `_id`, `title`, `text`, optional
`metadata`). A file may carry a sidecar `<name>.meta.json` with its provenance (title, author,
date, kind), shown with every answer. A file that cannot be used (empty, not UTF-8, binary,
unreadable, over the size limit), or a line of a record file that cannot, is reported as a
`Problem` and left out; the rest of the corpus is still read.

The folder is read as it is, however it was put together: a symbolic link (to a file or a folder)
whose target lies outside the folder is refused, never opened, so that a link to `/etc/passwd` or a
home folder cannot be indexed and quoted. Links that stay inside keep working: a file link is read,
and a linked subfolder's documents are read once, under their own path (the walk does not follow
folder links, so it meets no loops and no document twice).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chatbot.corpus.html import parse_html
from chatbot.corpus.outline import (
    Outline,
    Paragraph,
    find_date,
    parse_markdown,
    parse_plain_text,
    parse_record,
)
from chatbot.errors import CorpusError

# What reading a file found worth telling but did not keep it out (a page's style sheet hiding
# text the reader cannot hide): printed by the CLI's handler on "chatbot", like the build's own.
log = logging.getLogger("chatbot.corpus")
META_SUFFIX = ".meta.json"
SYNONYMS_FILE = "synonyms.toml"
_PARSERS: dict[str, Callable[[str, str], Outline]] = {
    ".txt": parse_plain_text,
    ".md": parse_markdown,
    ".markdown": parse_markdown,
}
HTML_SUFFIXES = (".html", ".htm")
RECORD_SUFFIXES = (".jsonl",)
SUPPORTED_SUFFIXES = (*_PARSERS, *HTML_SUFFIXES, *RECORD_SUFFIXES)
DEFAULT_MAX_FILE_MB = 100  # MedQuAD's 17,182 answers are one 26 MB file
_SNIFF = 8192  # bytes looked at to tell a binary file from text


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


@dataclass(frozen=True)
class Problem:
    """A file, or a line of a record file, left out of the index, and why."""

    where: str  # the file relative to the corpus folder, or "file.jsonl:LINE"
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True)
class CorpusScan:
    """What reading a corpus folder found: the documents, and what had to be left out."""

    documents: tuple[Document, ...]
    problems: tuple[Problem, ...]


class _Unusable(Exception):
    """A file that cannot be indexed; the message is the reason, for a Problem."""


def _outside(path: Path, corpus_dir: Path) -> str | None:
    """Where `path` really leads when that is outside the corpus folder (through a link to a file,
    or a link to a folder above it), else None. Dangling links and loops are judged by where they
    point, so a broken link out of the folder is refused, not reported as merely missing."""
    root = os.path.realpath(corpus_dir)
    target = os.path.realpath(path)
    return None if os.path.commonpath([root, target]) == root else target


def _refused(target: str, what: str = "file") -> str:
    """Why a link out of the folder is left out, and the fix."""
    return (
        f"a link to the {what} {target}, outside the corpus folder: not read. Copy it into the "
        f"folder if it belongs in the corpus"
    )


def _walk(corpus_dir: Path) -> tuple[list[Path], list[Problem]]:
    """The document files of a corpus folder in a stable order, and the links refused on the way.

    Dangling links are kept, so that they are reported rather than silently missed. Folder links
    are not followed: one leading outside is refused by name; one leading inside adds nothing,
    since its target is read under its own path.
    """
    if not corpus_dir.is_dir():
        raise CorpusError(
            f"No corpus folder at {corpus_dir}/. Pass --corpus DIR, or run from the project folder."
        )
    files: list[Path] = []
    refused: list[Problem] = []
    for top, dirs, names in os.walk(corpus_dir, followlinks=False):
        here = Path(top)
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # hidden folders are not the corpus
        for name in dirs:
            if (here / name).is_symlink() and (target := _outside(here / name, corpus_dir)):
                where = (here / name).relative_to(corpus_dir).as_posix()
                refused.append(Problem(where, _refused(target, "folder")))
        for name in names:
            path = here / name
            if name.startswith(".") or path.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            if target := _outside(path, corpus_dir):
                refused.append(Problem(path.relative_to(corpus_dir).as_posix(), _refused(target)))
            else:
                files.append(path)
    refused.sort(key=lambda p: p.where)
    return sorted(files), refused


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The document files of a corpus folder that may be read, in a stable order (dangling links
    inside it included, so that they are reported rather than silently missed)."""
    return _walk(corpus_dir)[0]


def _file_digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        return f"unreadable: {exc.strerror}".encode()
    return digest.digest()


def corpus_hash(corpus_dir: Path) -> str:
    """A hash of everything in the corpus that changes what is indexed (names and bytes)."""
    digest = hashlib.sha256()
    files, refused = _walk(corpus_dir)
    extras = [p for p in (corpus_dir / SYNONYMS_FILE,) if p.is_file()]
    metas = sorted(corpus_dir.rglob("*" + META_SUFFIX))
    for path in files + extras + metas:
        digest.update(path.relative_to(corpus_dir).as_posix().encode() + b"\0")
        target = _outside(path, corpus_dir)
        # A link out of the folder counts by where it points, never by the bytes there.
        digest.update(f"outside: {target}".encode() if target else _file_digest(path))
    for problem in refused:
        digest.update(f"{problem.where}\0{problem.reason}".encode())
    return digest.hexdigest()


def _read_meta(path: Path, corpus_dir: Path) -> dict[str, str]:
    meta_path = path.with_name(path.name.removesuffix(path.suffix) + META_SUFFIX)
    if not meta_path.is_file():
        return {}
    if target := _outside(meta_path, corpus_dir):
        raise CorpusError(f"{meta_path.name} is {_refused(target)}, and re-index.")
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


def _decode(raw: bytes) -> str:
    """The text of a file's bytes, or _Unusable saying why it is not UTF-8 text."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _Unusable("UTF-16 text, not UTF-8; save it as UTF-8")
    if b"\0" in raw[:_SNIFF]:
        raise _Unusable("binary file, not text")
    try:
        # newline="" semantics: keep the bytes' own line endings so spans match the file.
        return raw.decode("utf-8-sig") if raw.startswith(b"\xef\xbb\xbf") else raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Unusable(f"not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8") from None


def _outline_file(path: Path, corpus_dir: Path, text: str) -> Document:
    source = path.relative_to(corpus_dir).as_posix()
    fallback = path.stem.replace("-", " ").replace("_", " ").strip().capitalize()
    if path.suffix.lower() in HTML_SUFFIXES:
        text, outline = parse_html(text, fallback)  # spans point into the extracted text
        for note in outline.notes:
            log.warning("%s: %s", source, note)
    else:
        outline = _PARSERS[path.suffix.lower()](text, fallback)
    meta = _read_meta(path, corpus_dir)
    provenance = Provenance(
        title=meta.get("title") or outline.title,
        author=meta.get("author") or (outline.byline[0] if outline.byline else None),
        date=meta.get("date") or find_date(outline.byline),
        kind=meta.get("kind"),
    )
    return Document(source, text, outline.title, outline.paragraphs, provenance)


def load_document(path: Path, corpus_dir: Path) -> Document:
    """Read and outline one document file (an article or a web page)."""
    source = path.relative_to(corpus_dir).as_posix()
    if target := _outside(path, corpus_dir):
        raise CorpusError(f"{source}: {_refused(target)}, and re-index.")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"Cannot read {source}: {exc.strerror}. Check the file.") from None
    try:
        text = _decode(raw)
    except _Unusable as exc:
        raise CorpusError(f"{source}: {exc}, and re-index.") from None
    return _outline_file(path, corpus_dir, text)


def _record(line: bytes, source: str) -> tuple[str, Document]:
    """One line of a record file: its `_id` and its document, or _Unusable saying why not."""
    try:
        data = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise _Unusable("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _Unusable(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise _Unusable('expected an object {"_id": ..., "title": ..., "text": ...}')
    doc_id, title, text = data.get("_id"), data.get("title") or "", data.get("text")
    meta: Any = data.get("metadata") or {}
    if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool) or not str(doc_id).strip():
        raise _Unusable('"_id" must be a non-empty string')
    if not isinstance(text, str) or not text.strip():
        raise _Unusable('"text" must be a non-empty string')
    if not isinstance(title, str) or not isinstance(meta, dict):
        raise _Unusable('"title" must be a string and "metadata" an object')
    doc_id = str(doc_id).strip()
    shown = {k: str(v) for k, v in meta.items() if k in ("author", "date", "kind") and v}
    doc = document_from_record(f"{source}#{doc_id}", title, text)
    return doc_id, replace(doc, provenance=Provenance(doc.title, **shown)) if shown else doc


def _records(raw: bytes, source: str) -> tuple[list[Document], list[Problem]]:
    """The documents of a record file, one a line; a line that cannot be used is a Problem."""
    docs: list[Document] = []
    problems: list[Problem] = []
    first_line: dict[str, int] = {}
    for n, line in enumerate(raw.removeprefix(b"\xef\xbb\xbf").split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            doc_id, doc = _record(line, source)
            if doc_id in first_line:
                raise _Unusable(f'duplicate _id "{doc_id}" (first on line {first_line[doc_id]})')
        except _Unusable as exc:
            problems.append(Problem(f"{source}:{n}", str(exc)))
            continue
        first_line[doc_id] = n
        docs.append(doc)
    return docs, problems


def read_file(path: Path, corpus_dir: Path, max_bytes: int) -> tuple[list[Document], list[Problem]]:
    """The documents of one corpus file, and the problems that kept any of it out."""
    source = path.relative_to(corpus_dir).as_posix()
    if target := _outside(path, corpus_dir):  # checked again here for callers that skip the walk
        return [], [Problem(source, _refused(target))]
    try:
        size = path.stat().st_size
        if size > max_bytes:
            limit = max_bytes / 1e6
            raise _Unusable(f"{size / 1e6:.3g} MB, over the {limit:g} MB limit (raise it with --max-file-mb)")
        raw = path.read_bytes()
    except OSError as exc:
        return [], [Problem(source, f"cannot be read ({exc.strerror})")]
    except _Unusable as exc:
        return [], [Problem(source, str(exc))]
    try:
        if path.suffix.lower() in RECORD_SUFFIXES:
            if b"\0" in raw[:_SNIFF]:
                raise _Unusable("binary file, not text")
            docs, problems = _records(raw, source)
            if not docs and not problems:
                raise _Unusable("empty file (no records)")
            return docs, problems
        text = _decode(raw)
        if not text.strip():
            raise _Unusable("empty file")
        doc = _outline_file(path, corpus_dir, text)
        if not doc.text.strip():
            raise _Unusable("no text left once the markup is removed")
        return [doc], []
    except (_Unusable, CorpusError) as exc:
        return [], [Problem(source, str(exc))]


def _size(path: Path) -> int:
    """A file's size for the progress bar; 0 once it is gone (files may vanish mid-build)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def scan_corpus(
    corpus_dir: Path, max_bytes: int = DEFAULT_MAX_FILE_MB * 1_000_000, *, progress: bool = False
) -> CorpusScan:
    """Every usable document of the corpus in a stable order, and every problem met on the way."""
    from tqdm import tqdm

    files, refused = _walk(corpus_dir)
    docs: list[Document] = []
    problems: list[Problem] = list(refused)
    total = sum(_size(p) for p in files)
    with tqdm(total=total, unit="B", unit_scale=True, desc="Reading corpus", disable=not progress) as bar:
        for path in files:
            found, trouble = read_file(path, corpus_dir, max_bytes)
            docs.extend(found)
            problems.extend(trouble)
            bar.update(_size(path))
            bar.set_postfix(documents=len(docs), skipped=len(problems), refresh=False)
    return CorpusScan(tuple(docs), tuple(problems))


@dataclass(frozen=True)
class SynonymFile:
    """The staff-editable lay-term table (`synonyms.toml`).

    `table` maps each lay word or phrase to the corpus's terms for it. `names` are the keys of its
    `[names]` table: specific medicines or brands that the corpus covers only as a class
    ("bortezomib" to proteasome inhibitors). They lead the search to the class like any entry,
    but a question that names one still asks about something the corpus never names.
    """

    table: dict[str, list[str]] = field(default_factory=dict)
    names: tuple[str, ...] = ()


def load_synonyms(corpus_dir: Path) -> SynonymFile:
    """The corpus's `synonyms.toml`, empty when it has none."""
    import tomllib

    path = corpus_dir / SYNONYMS_FILE
    if not path.is_file():
        return SynonymFile()
    if target := _outside(path, corpus_dir):
        raise CorpusError(f"{path} is {_refused(target)}, and re-index.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CorpusError(f"{path} cannot be read ({exc}). Fix the TOML and re-index.") from None
    names = data.pop("names", {})
    if not isinstance(names, dict):
        raise CorpusError(f"{path}: [names] must be a table of entries. Fix it and re-index.")
    table: dict[str, list[str]] = {}
    for key, value in (*data.items(), *names.items()):
        targets = [value] if isinstance(value, str) else value
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise CorpusError(f'{path}: "{key}" must map to a list of strings. Fix it and re-index.')
        table[key] = targets
    return SynonymFile(table, tuple(names))


def load_corpus(corpus_dir: Path) -> Iterator[Document]:
    """Every usable document of the corpus, in a stable order (see `scan_corpus` for the rest)."""
    yield from scan_corpus(corpus_dir).documents
