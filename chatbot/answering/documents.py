"""Document-level evidence: what a whole document says of a query, beside its best chunk.

Judging a document by its best chunk alone loses what its title and opening say and how much of
it is about the query: "what causes X?" matches a sentence of many pages, but the page about X
opens with X. Where an index holds more than one document, each document also gets

- its lead's cosine: the vector of its first chunk (its opening, with its headings), already in
  the index, so nothing more is embedded;
- BM25 over the whole document, title included, divided by the query's best.

Their weighted sum (`Fusion.lead`, `Fusion.document_bm25`) shifts every chunk of the document,
measured against the best document: the best document's chunks keep their scores, the others'
drop by how much less their document says. Within one document nothing changes, so an index of
one article ranks exactly as before. The chunks of the best documents by this evidence join the
candidates, so a document whose chunks neither retriever listed can still be found.

Measured (`scripts/tune_documents.py`, on tuning splits only: SciFact's train queries, MedQuAD
bucket 1 with NIH's questions and with consumer-style ones): nDCG@10 0.726 → 0.739, 0.838 →
0.840 and 0.890 → 0.897. Lead cosine alone, whole-document embeddings, chunk centroids and
reciprocal-rank fusion each did worse on at least one of the three.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from chatbot.indexing.bm25 import BM25Index
from chatbot.indexing.store import StoredIndex

if TYPE_CHECKING:
    from chatbot.answering.retrieval import Fusion


class DocumentEvidence:
    """Where each document's lead is, and a whole-document BM25 index, for an index of many documents."""

    def __init__(self, index: StoredIndex) -> None:
        self.index = index
        sources = [c.source for c in index.chunks]
        names = list(dict.fromkeys(sources))
        number = {name: n for n, name in enumerate(names)}
        self.document_of = np.asarray([number[s] for s in sources], dtype=np.int64)
        # A document's chunks are stored together and in order: its first row is its lead.
        firsts = np.flatnonzero(np.r_[True, self.document_of[1:] != self.document_of[:-1]])
        self.lead_rows = np.full(len(names), -1, dtype=np.int64)
        for row in firsts[::-1]:
            self.lead_rows[self.document_of[row]] = row
        counts = np.bincount(self.document_of, minlength=len(names))
        self._chunks = np.split(np.argsort(self.document_of, kind="stable"), np.cumsum(counts)[:-1])
        titles = {c.source: c.title for c in index.chunks}
        self.bm25 = BM25Index(
            [f"{titles[n]}: {index.documents[n].text}" if n in index.documents else titles[n] for n in names]
        )

    @staticmethod
    def applies(index: StoredIndex) -> bool:
        """Whether the index holds more than one document (with one, the evidence is a constant)."""
        chunks = index.chunks
        return any(c.source != chunks[0].source for c in chunks[1:])

    def evidence(
        self,
        query_vector: np.ndarray,
        query_terms: Sequence[str],
        candidates: Sequence[int],
        fusion: Fusion,
    ) -> tuple[dict[int, float], set[int]]:
        """How far each document's chunks move (0 for the best document, negative below), for the
        documents of the `candidates` (chunk positions) and the best by whole-document BM25;
        and the chunks of the `fusion.documents_read` documents with the strongest evidence.

        Only those documents' leads are read: scoring every lead would read all of them from
        memory for each question (7 ms at MedQuAD's 17,182 documents, against 0.2 ms for BM25).
        """
        lexical = self.bm25.scores(query_terms)
        top = float(lexical.max()) if len(lexical) else 0.0
        read = min(fusion.documents_read, len(lexical))
        by_words: list[int] = np.argpartition(-lexical, read - 1)[:read].tolist() if top > 0 and read else []
        documents = np.asarray(sorted({*self.document_of[list(candidates)].tolist(), *by_words}))
        if not len(documents):
            return {}, set()
        vector = np.asarray(query_vector, dtype=np.float32)
        strength = fusion.lead * (self.index.dense.vectors(self.lead_rows[documents]) @ vector)
        if top > 0:
            strength = strength + fusion.document_bm25 * (lexical[documents] / top)
        shifts = {int(d): float(s) for d, s in zip(documents, strength - strength.max(), strict=True)}
        best = documents[np.argsort(-strength, kind="stable")[: fusion.documents_read]]
        return shifts, {int(i) for d in best for i in self._chunks[d]}
