"""Document-level evidence (`answering.documents`): a whole document's lead and words count
beside its best chunk where an index holds several documents, and change nothing with one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from chatbot.answering.retrieval import FUSION, Retriever
from chatbot.corpus.files import document_from_record
from chatbot.evaluation.beir import build_memory_index
from chatbot.indexing.chunking import ChunkSettings
from chatbot.indexing.store import StoredIndex
from chatbot.language import terms
from tests.conftest import FakeEmbedder

NO_DOCUMENTS = dataclasses.replace(FUSION, lead=0.0, document_bm25=0.0)
# Each page opens with what it is about; the last one mentions gout once, in passing, in a
# sentence that shares every word of the question.
PAGES = {
    "gout": (
        "Gout",
        "Gout is a painful swelling of the joints.\n\nDoctors treat gout with rest and medicines.",
    ),
    "diet": (
        "Eating well",
        "Fruit and vegetables matter.\n\nSome readers ask how doctors treat gout swelling; see elsewhere.",
    ),
    "sleep": ("Sleep", "Sleep helps recovery.\n\nA regular bedtime helps."),
}


def _index(tmp_path: Path, pages: dict[str, tuple[str, str]]) -> tuple[StoredIndex, FakeEmbedder]:
    embedder = FakeEmbedder()
    docs = tuple(document_from_record(key, title, text) for key, (title, text) in pages.items())
    # One paragraph a chunk, so that each page has a lead and a body.
    settings = ChunkSettings(max_chars=120, join_below=0)
    return build_memory_index(docs, embedder, tmp_path / "cache", settings, progress=False), embedder


def _sources(
    retriever: Retriever, embedder: FakeEmbedder, question: str, k: int = 6, depth: int = 100
) -> list[str]:
    vector = embedder.encode([question])[0]
    return [h.chunk.source for h in retriever.search(vector, terms(question), k, depth=depth)]


def test_one_document_ranks_exactly_as_without_document_evidence(tmp_path: Path) -> None:
    index, embedder = _index(tmp_path, {"gout": PAGES["gout"]})
    with_evidence, without = Retriever(index), Retriever(index, NO_DOCUMENTS)
    assert with_evidence.documents is None
    vector = embedder.encode(["how do doctors treat gout"])[0]
    a = with_evidence.search(vector, terms("how do doctors treat gout"), 5)
    b = without.search(vector, terms("how do doctors treat gout"), 5)
    assert [(h.position, h.score) for h in a] == [(h.position, h.score) for h in b]


def test_the_document_about_the_question_outranks_a_passing_mention(tmp_path: Path) -> None:
    index, embedder = _index(tmp_path, PAGES)
    question = "how do doctors treat gout swelling"
    assert _sources(Retriever(index, NO_DOCUMENTS), embedder, question)[0] == "diet"  # its best chunk wins
    assert _sources(Retriever(index), embedder, question)[0] == "gout"


def test_shifts_leave_the_best_document_alone_and_move_each_document_as_one(tmp_path: Path) -> None:
    index, embedder = _index(tmp_path, PAGES)
    documents = Retriever(index).documents
    assert documents is not None
    question = "how do doctors treat gout swelling"
    vector = embedder.encode([question])[0]
    shifts, _ = documents.evidence(vector, terms(question), range(len(index.chunks)), FUSION)
    assert max(shifts.values()) == 0.0 and min(shifts.values()) < 0 and len(shifts) == len(PAGES)
    plain = Retriever(index, NO_DOCUMENTS).search(vector, terms(question), 6)
    shifted = {h.position: h.score for h in Retriever(index).search(vector, terms(question), 6)}
    for hit in plain:  # every chunk of a document moves by its document's shift, exactly
        document = int(documents.document_of[hit.position])
        assert np.isclose(shifted[hit.position], hit.score + shifts[document], atol=1e-6)


def test_the_best_documents_chunks_are_all_candidates(tmp_path: Path) -> None:
    index, embedder = _index(tmp_path, PAGES)
    documents = Retriever(index).documents
    assert documents is not None
    question = "how do doctors treat gout swelling"
    vector = embedder.encode([question])[0]
    gout = {i for i, c in enumerate(index.chunks) if c.source == "gout"}
    sleep = [i for i, c in enumerate(index.chunks) if c.source == "sleep"]
    # One document read: the best one's chunks, though only a chunk of another was a candidate.
    _, extra = documents.evidence(
        vector, terms(question), sleep[:1], dataclasses.replace(FUSION, documents_read=1)
    )
    assert len(gout) == 2 and extra == gout
    shifts, extra = documents.evidence(vector, terms(question), sleep[:1], FUSION)
    assert extra == set(range(len(index.chunks))) and set(shifts) == {0, 1, 2}
