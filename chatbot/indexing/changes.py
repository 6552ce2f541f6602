"""What a build changes: the documents and sections added, changed or removed since the last one.

Every build stores a catalog: for each document, a hash of its content and, for each of its
sections, the ids of its chunks (an id is a hash of the chunk's source, section and text). Two
catalogs give the difference without loading any vectors, which is what `chatbot index
--dry-run` prints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from chatbot.corpus.files import Document
from chatbot.indexing.chunking import CITATION_SEP, Chunk

NO_SECTION = "(text without a section)"
Catalog = dict[str, Any]  # {source: {"hash": str, "sections": {"Section › Subsection": [chunk ids]}}}


def document_hash(doc: Document) -> str:
    """A hash of what a document shows: its title, text and provenance."""
    content = json.dumps([doc.title, doc.text, asdict(doc.provenance)], ensure_ascii=False)
    return hashlib.sha256(content.encode()).hexdigest()


def make_catalog(chunks: Iterable[Chunk], docs: Iterable[Document] = ()) -> Catalog:
    """The catalog of a build; without `docs` (an old build) documents carry no hash."""
    catalog: Catalog = {d.source: {"hash": document_hash(d), "sections": {}} for d in docs}
    for c in chunks:
        entry = catalog.setdefault(c.source, {"hash": "", "sections": {}})
        entry["sections"].setdefault(CITATION_SEP.join(c.section), []).append(c.id)
    return catalog


@dataclass(frozen=True)
class DocumentChange:
    """One document that a build adds, changes or removes, and its sections that do."""

    source: str
    kind: str  # "added", "changed" or "removed"
    sections: tuple[tuple[str, str], ...]  # (mark, section): "+" added, "~" changed, "-" removed


@dataclass(frozen=True)
class Plan:
    """What a build of the corpus would do, compared with the current build."""

    changes: tuple[DocumentChange, ...]
    documents: int
    chunks: int
    to_embed: int
    reused: int

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind)


def _section_marks(old: Mapping[str, list[str]], new: Mapping[str, list[str]]) -> list[tuple[str, str]]:
    marks = [("+" if s not in old else "~", s) for s in new if old.get(s) != new[s]]
    return marks + [("-", s) for s in old if s not in new]


def plan(old: Catalog | None, new: Catalog, to_embed: int) -> Plan:
    """Compare catalogs; `to_embed` chunks of the new one have no stored vectors to reuse."""
    old = old or {}
    changes: list[DocumentChange] = []
    for source, entry in new.items():
        before = old.get(source)
        if before is None:
            changes.append(DocumentChange(source, "added", tuple(("+", s) for s in entry["sections"])))
            continue
        marks = _section_marks(before["sections"], entry["sections"])
        moved = before["hash"] and entry["hash"] and before["hash"] != entry["hash"]
        if marks or moved:  # a change outside any passage (title, provenance) changes no section
            changes.append(DocumentChange(source, "changed", tuple(marks)))
    for source, entry in old.items():
        if source not in new:
            changes.append(DocumentChange(source, "removed", tuple(("-", s) for s in entry["sections"])))
    chunks = sum(len(ids) for entry in new.values() for ids in entry["sections"].values())
    return Plan(tuple(changes), len(new), chunks, to_embed, chunks - to_embed)


def format_plan(p: Plan, skipped: Sequence[str] = ()) -> str:
    """The dry-run report: a summary line, then each changed document and its sections."""
    lines = [
        f"would index {p.documents} documents, {p.chunks} chunks: {p.to_embed} to embed, "
        f"{p.reused} reused; {p.count('added')} documents added, {p.count('changed')} changed, "
        f"{p.count('removed')} removed"
    ]
    for change in p.changes:
        lines.append(f"  {change.kind:<8} {change.source}")
        lines.extend(f"      {mark} {section or NO_SECTION}" for mark, section in change.sections)
    lines.extend(f"  skipped  {line}" for line in skipped)
    if not p.changes:
        lines.append("  no document changed")
    return "\n".join(lines)
