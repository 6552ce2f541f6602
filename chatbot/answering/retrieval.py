"""Find the chunks that answer a query: dense (the `VectorIndex`) and BM25, fused.

Both retrievers rank the same chunks. Their candidates are scored by a weighted sum of the chunk's
cosine, its best sentence's cosine, its BM25 score divided by the query's best, and the answer type:
for a "what is X?" question whether one of its sentences defines X, for a "why?" question whether it
gives a cause (see `Fusion`). Ties break on chunk order, so results are deterministic. Every hit
keeps both ranks and scores, so staff can see why a passage was chosen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from chatbot.answering.documents import DocumentEvidence
from chatbot.indexing.bm25 import BM25Index
from chatbot.indexing.chunking import Chunk
from chatbot.indexing.store import StoredIndex
from chatbot.language import terms, words
from chatbot.question.query import SearchQuery

# How a defining sentence goes on after its subject ("Refractory myeloma is a type of ...").
_DEFINING = ("is ", "are ", "refers to ", "means ")
# How a sentence gives a cause or an effect: what answers a "why ...?" question.
_EXPLAINING = re.compile(
    r"\b(because|due to|owing to|caus(e|es|ed|ing)|occurs? when|happens? when|as a result|results? in"
    r"|leads? to|the reason|this is why|therefore|which means)\b",
    re.IGNORECASE,
)
DEPTH = 100  # how deep each retriever's list is read before fusion
BM25_TIE = 0.05  # BM25 scores this close (relative) count as a tie (for the ranks staff see)


@dataclass(frozen=True)
class Fusion:
    """How the three signals are combined into one score per chunk.

    `convex` (the default) adds the chunk vector's cosine, its best sentence's cosine and the BM25
    score divided by the query's best BM25 score, weighted. `rrf` is reciprocal rank fusion over
    the three rankings. Measured with `scripts/tune_fusion.py` (tuned on SciFact's train queries
    and the article's dev and tune sets, never on held-out data); see the README's Quality table.
    """

    method: str = "convex"
    dense: float = 1.0
    sentence: float = 0.5
    bm25: float = 0.25
    rrf_k: int = 30  # for `rrf` only
    # Added for a chunk with a sentence that defines what a "what is X?" question asks about
    # ("X is ..."): it settles near ties between a term's definition and a passage that only
    # mentions it (a subsection "It's a type of X that..."). Any value from 0.03 to 0.2 moved the
    # same tuning questions; convex only.
    definition: float = 0.05
    # Added for a chunk that gives a cause ("... because ...", "... occurs when ...") when the
    # question asks why: "why" questions were the kind the tuning sets missed most at rank 1
    # (7 of 27), and neighbouring sections that only describe tie with the one that explains.
    # Any value from 0.05 to 0.15 found the same 4 more of 304 tuning questions at rank 1; convex only.
    cause: float = 0.1
    # Document-level evidence where the index holds several documents (`answering.documents`):
    # the weight of each document's lead cosine and of its whole-document BM25 (divided by the
    # query's best), and how many of the best documents by it have their chunks considered.
    lead: float = 0.5
    document_bm25: float = 0.25
    documents_read: int = 20

    @property
    def max_score(self) -> float:
        """The score of a chunk that every signal rates best (cosines of 1): scores are divided
        by it so that staff see a number between 0 and 1."""
        if self.method == "rrf":
            return (self.dense + self.sentence + self.bm25) / (self.rrf_k + 1)
        return self.dense + self.sentence + self.bm25 + self.definition + self.cause


FUSION = Fusion()


@dataclass(frozen=True)
class Variant:
    """One reading of a question to search, and how much its ranking counts (`Retriever.find_all`)."""

    vector: np.ndarray
    search: SearchQuery
    weight: float = 1.0


@dataclass(frozen=True)
class _Query:
    vector: np.ndarray
    terms: list[str]
    weight: float
    defines: str
    cause: bool


@dataclass(frozen=True)
class Hit:
    """A chunk found for a query. Ranks start at 1; None means the retriever did not list it."""

    chunk: Chunk
    position: int  # index of the chunk in the stored index
    score: float  # the fused score, higher is better
    dense_score: float  # cosine similarity to the query (-1 for a chunk no retriever listed)
    dense_rank: int | None
    bm25_score: float
    bm25_rank: int | None
    sentence_score: float  # cosine similarity of the chunk's closest sentence to the query


def top_order(scores: np.ndarray, depth: int) -> np.ndarray:
    """The positions of the `depth` highest scores, best first, equal scores by position: exactly
    `np.lexsort((np.arange(n), -scores))[:depth]`, but by partial selection, so a question costs
    O(n + depth log depth) rather than O(n log n) (at 2.3M chunks a full sort took 1.4 s).

    The cut can fall inside a run of equal scores: of those, the lowest positions are kept, as
    the full stable sort would keep them."""
    n = len(scores)
    if depth <= 0:
        return np.zeros(0, dtype=np.int64)
    if depth >= n:
        return np.lexsort((np.arange(n), -scores))
    negated = -scores
    cut = np.partition(negated, depth - 1)[depth - 1]  # the depth-th best score, negated
    above = np.flatnonzero(negated < cut)
    tied = np.flatnonzero(negated == cut)[: depth - len(above)]
    chosen = np.concatenate((above, tied))
    return chosen[np.lexsort((chosen, negated[chosen]))]


def _ranks(scores: np.ndarray, depth: int, positive_only: bool, tolerance: float = 0.0) -> dict[int, int]:
    """Ranks of the `depth` best items; scores within `tolerance` (relative) of a rank's first
    item share its rank.

    Shared ranks matter for BM25: when every passage contains "refractory myeloma" about equally,
    the retriever has no real opinion, and its near-arbitrary order must not sway the fusion.
    """
    order = top_order(scores, depth)
    ranks: dict[int, int] = {}
    leader, rank = 0.0, 0
    for position, i in enumerate(order):
        score = float(scores[i])
        if positive_only and score <= 0:
            break
        if position == 0 or leader - score > tolerance * abs(leader):
            leader, rank = score, position + 1
        ranks[int(i)] = rank
    return ranks


class Retriever:
    """Dense and lexical search over one loaded index."""

    def __init__(self, index: StoredIndex, fusion: Fusion = FUSION) -> None:
        self.index = index
        self.fusion = fusion
        self.bm25 = BM25Index([c.lexical_text for c in index.chunks])
        many = fusion.method == "convex" and (fusion.lead or fusion.document_bm25)
        self.documents = DocumentEvidence(index) if many and DocumentEvidence.applies(index) else None

    def dense_scores(self, query_vector: np.ndarray, depth: int = DEPTH) -> np.ndarray:
        """Cosine similarity to the query of the `depth` nearest chunks (-1 for the others)."""
        n = len(self.index.chunks)
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        scores = np.full(n, -1.0, dtype=np.float32)
        k = min(n, max(depth, 1))
        found, ids = self.index.dense.search(query_vector.reshape(1, -1), k)
        keep = ids[0] >= 0
        scores[ids[0][keep]] = found[0][keep]
        return scores

    def sentence_scores(self, query_vector: np.ndarray, positions: list[int]) -> np.ndarray:
        """For each chunk listed, the cosine similarity of its closest sentence to the query.

        A question usually matches one sentence of a passage ("Refractory myeloma is a type of
        multiple myeloma that ..."), while the passage's own vector averages it with the rest.
        """
        offsets = self.index.sentence_offsets
        out = np.full(len(positions), -1.0, dtype=np.float32)
        if not positions:
            return out
        at = np.asarray(positions)
        lo, hi = offsets[at], offsets[at + 1]
        has = hi > lo
        if not has.any():
            return out
        rows = np.concatenate([np.arange(a, b) for a, b in zip(lo[has], hi[has], strict=True)])
        sims = np.asarray(self.index.sentence_vectors[rows]) @ query_vector
        starts = np.concatenate(([0], np.cumsum((hi - lo)[has])[:-1]))
        out[has] = np.maximum.reduceat(sims, starts)
        return out

    def defines(self, position: int, subject: str) -> bool:
        """Whether a sentence of chunk `position` defines `subject` (words): "X is/are/means ..."."""
        chunk = self.index.chunks[position]
        start = f"{subject} "
        if subject.split(" ", 1)[0] not in chunk.text.lower():
            return False  # most candidates never name the subject: no need to read their sentences
        for s, e in chunk.sentences:
            sentence = " ".join(words(chunk.text[s:e]))
            if sentence.startswith(start) and sentence[len(start) :].startswith(_DEFINING):
                return True
        return False

    def explains(self, position: int) -> bool:
        """Whether chunk `position` gives a cause or an effect (see `_EXPLAINING`)."""
        return _EXPLAINING.search(self.index.chunks[position].text) is not None

    def _fuse(
        self,
        query: _Query,
        dense: np.ndarray,
        lexical: np.ndarray,
        dense_ranks: dict[int, int],
        bm25_ranks: dict[int, int],
        depth: int,
        k: int,
        candidates: list[int],
    ) -> tuple[dict[int, float], dict[int, float]]:
        """Hybrid scores of the `candidates` (the chunks any query's retrievers listed), exact for
        any that can be among the `k` best, and their best sentences' cosines. `dense` gains the
        exact cosine of each candidate (one only BM25 listed had none)."""
        f = self.fusion
        query_vector, defines, cause = query.vector, query.defines, query.cause
        sentence = self.sentence_scores(query_vector, candidates)
        by_sentence = dict(zip(candidates, sentence.tolist(), strict=True))
        if f.method == "rrf":
            # Ranks count among the chunks this query's own retrievers listed.
            own = [j for j, c in enumerate(candidates) if c in dense_ranks or c in bm25_ranks]
            sentence_ranks = _ranks(sentence[own], depth, positive_only=False)
            by_chunk = {candidates[own[j]]: r for j, r in sentence_ranks.items()}
            fused: dict[int, float] = {}
            for w, ranks in zip(
                (f.dense, f.bm25, f.sentence), (dense_ranks, bm25_ranks, by_chunk), strict=True
            ):
                for i, r in ranks.items():
                    fused[i] = fused.get(i, 0.0) + w / (f.rrf_k + r)
            return fused, by_sentence
        # A chunk that only BM25 listed (past the approximate index's depth) still gets its exact
        # cosine: a missing score would read as "unrelated". The dense index holds every vector in
        # memory already; reading them from the memory-mapped `vectors.npy` would page in a second
        # copy (60 MB at MedQuAD's size).
        at = np.asarray(candidates, dtype=np.int64)
        cosine = self.index.dense.vectors(at) @ query_vector
        dense[at] = cosine  # what staff see as the chunk's cosine is the one that was fused
        top = float(lexical.max()) if len(lexical) else 0.0
        bm25 = lexical[at] / top if top > 0 else np.zeros(len(at), dtype=np.float32)
        total = f.dense * cosine + f.sentence * sentence + f.bm25 * bm25
        bonuses: list[tuple[float, Callable[[int], bool]]] = []
        if defines and f.definition:
            bonuses.append((f.definition, lambda position: self.defines(position, defines)))
        if cause and f.cause:
            bonuses.append((f.cause, self.explains))
        if bonuses and len(total):
            # Only a chunk within the bonuses of the k-th best can end in the top k: the others are
            # not read (at MedQuAD's size, reading every candidate's sentences cost 5 ms a question).
            m = min(k, len(total))
            kth = float(np.partition(total, -m)[-m])  # the k-th best total, without a full sort
            for j in np.flatnonzero(total >= kth - sum(w for w, _ in bonuses)):
                total[j] += sum(w for w, holds in bonuses if holds(int(at[j])))
        return {int(i): float(t) for i, t in zip(at, total, strict=True)}, by_sentence

    def find(
        self,
        query_vector: np.ndarray,
        search: SearchQuery,
        k: int,
        method: str = "hybrid",
        depth: int = DEPTH,
    ) -> list[Hit]:
        """`search` for what a question became (`question.query.build_query`): its text's terms, the
        subject it asks to have defined, and whether it asks why."""
        return self.find_all([Variant(query_vector, search)], k, method, depth)

    def find_all(
        self, variants: Sequence[Variant], k: int, method: str = "hybrid", depth: int = DEPTH
    ) -> list[Hit]:
        """The k best chunks for several readings of one question, fused by weighted sum
        (CombSUM, as query-variation fusion does): the first reading is the question's own, whose
        ranks and cosines the hits report; the others (the question as typed, in the light of the
        conversation) only shift the ranking by their weight."""
        queries = [
            _Query(v.vector, terms(v.search.text), v.weight, v.search.defines, v.search.asks_cause)
            for v in variants
        ]
        return self.search_all(queries, k, method, depth)

    def search(
        self,
        query_vector: np.ndarray,
        query_terms: list[str],
        k: int,
        method: str = "hybrid",
        depth: int = DEPTH,
        defines: str = "",
        cause: bool = False,
    ) -> list[Hit]:
        """The k best chunks, best first, by `hybrid`, `dense` or `bm25`.

        Each retriever's list is read `depth` deep; evaluation asks for deeper lists than the chat.
        `defines` is the subject of a "what is X?" question (`question.query.definition_subject`), if any;
        `cause` says the question asks why (`question.query.asks_cause`).
        """
        return self.search_all([_Query(query_vector, query_terms, 1.0, defines, cause)], k, method, depth)

    def search_all(self, queries: Sequence[_Query], k: int, method: str, depth: int) -> list[Hit]:
        """`search` for one or more weighted queries (the first one's signals are reported)."""
        n = len(self.index.chunks)
        k = min(k, n)
        if k <= 0 or not queries:
            return []
        depth = max(depth, k)
        listed = [self._listed(q, depth) for q in queries]
        dense, lexical, dense_ranks, bm25_ranks = listed[0]
        sentence: dict[int, float] = {}
        if method == "dense":
            fused = {i: float(dense[i]) for i in dense_ranks}
        elif method == "bm25":
            fused = {i: float(lexical[i]) for i in bm25_ranks}
        else:
            pool = sorted(set().union(*(set(d) | set(b) for _, _, d, b in listed)))
            documents, shifts = self.documents, dict[int, float]()
            if documents is not None:
                shifts, extra = documents.evidence(queries[0].vector, queries[0].terms, pool, self.fusion)
                pool = sorted(set(pool) | extra)
            fused, sentence = self._fuse(queries[0], *listed[0], depth, k, pool)
            if len(queries) > 1:
                total = sum(q.weight for q in queries)
                summed = {i: queries[0].weight * fused.get(i, 0.0) for i in pool}
                for q, seen in zip(queries[1:], listed[1:], strict=True):
                    more, _ = self._fuse(q, *seen, depth, k, pool)
                    for i, s in more.items():
                        summed[i] += q.weight * s
                fused = {i: s / total for i, s in summed.items()}
            if documents is not None and shifts:
                of = documents.document_of
                fused = {i: s + shifts.get(int(of[i]), 0.0) for i, s in fused.items()}
        best = sorted(fused, key=lambda i: (-fused[i], i))[:k]
        # Hybrid scored every candidate's sentences already; the other methods score their hits'.
        unscored = [i for i in best if i not in sentence]
        vector = queries[0].vector
        sentence.update(zip(unscored, self.sentence_scores(vector, unscored).tolist(), strict=True))
        return [
            Hit(
                self.index.chunks[i],
                i,
                fused[i],
                float(dense[i]),
                dense_ranks.get(i),
                float(lexical[i]),
                bm25_ranks.get(i),
                sentence[i],
            )
            for i in best
        ]

    def _listed(
        self, query: _Query, depth: int
    ) -> tuple[np.ndarray, np.ndarray, dict[int, int], dict[int, int]]:
        """What each retriever says of a query: dense and BM25 scores, and their ranks `depth` deep."""
        dense = self.dense_scores(query.vector, depth)
        lexical = self.bm25.scores(query.terms)
        dense_ranks = _ranks(dense, depth, positive_only=False)
        bm25_ranks = _ranks(lexical, depth, positive_only=True, tolerance=BM25_TIE)
        return dense, lexical, dense_ranks, bm25_ranks
