"""Passage selection: which hits are shown, merged how, and which of their sentences are marked.

From the ranked hits of a covered question to the `Passage`s a patient reads: chosen for variety
(maximal marginal relevance, `DIVERSITY`), neighbours of one section merged while readable,
near-duplicates dropped, and the sentences closest to the question highlighted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chatbot.answering.answer import Passage
from chatbot.answering.retrieval import Hit
from chatbot.indexing.store import StoredIndex
from chatbot.language import words

# Passages after the first are chosen by fused score less DIVERSITY x their chunk's highest cosine
# with a chunk already chosen (maximal marginal relevance): three passages that say one thing answer
# less than three that differ. On the tuning sets any value from 0.2 to 0.4 put 2 more answers of
# 304 in the top 3 and took none out; the first passage never changes.
DIVERSITY = 0.3
HIGHLIGHT_MARGIN = 0.06
MAX_HIGHLIGHTS = 2
# Two passages of one section are merged when the result stays readable.
MAX_MERGED_CHARS = 1600


@dataclass
class _Group:
    """Hits of one passage being assembled (one chunk, or neighbours of one section)."""

    hits: list[Hit]
    start: int
    end: int


def choose(
    index: StoredIndex,
    hits: list[Hit],
    query_vector: np.ndarray,
    top_k: int,
    *,
    diversity: float,
    scale: float = 1.0,
) -> tuple[Passage, ...]:
    """At most `top_k` passages from ranked hits; `diversity` 0 keeps the ranking as it is.
    Scores are divided by `scale` (the fusion's highest possible score puts hybrid ones in 0..1)."""
    ordered, overlap = diversified(index, hits, diversity)
    return tuple(
        passage(index, g, query_vector, scale, overlap.get(g.hits[0].position, 0.0))
        for g in grouped(index, ordered, top_k)
    )


def interleaved(rankings: list[list[Hit]]) -> list[Hit]:
    """One ranking from the rankings of a message's several questions: the first of each, then the
    second of each, and so on, each chunk once. The passages shown then answer every part."""
    if len(rankings) == 1:
        return rankings[0]
    seen: set[int] = set()
    out: list[Hit] = []
    for rank in range(max(len(r) for r in rankings)):
        for ranking in rankings:
            if rank < len(ranking) and ranking[rank].position not in seen:
                seen.add(ranking[rank].position)
                out.append(ranking[rank])
    return out


def diversified(index: StoredIndex, hits: list[Hit], diversity: float) -> tuple[list[Hit], dict[int, float]]:
    """Hits in the order passages are chosen (see `DIVERSITY`), and each one's overlap: its
    chunk's highest cosine with a chunk chosen before it."""
    if len(hits) < 3 or not diversity:
        return hits, {}
    at = np.asarray([h.position for h in hits], dtype=np.int64)
    vectors = index.dense.vectors(at)
    cosines = vectors @ vectors.T
    scores = np.asarray([h.score for h in hits])
    order = [0]
    overlap = {hits[0].position: 0.0}
    closest = cosines[0].copy()  # each hit's highest cosine with a hit chosen so far
    left = list(range(1, len(hits)))
    while left:
        # max() keeps the first of equals: ties go to the better-ranked hit, deterministically
        pick = max(left, key=lambda j: scores[j] - diversity * closest[j])
        order.append(pick)
        left.remove(pick)
        overlap[hits[pick].position] = float(closest[pick])
        closest = np.maximum(closest, cosines[pick])
    return [hits[j] for j in order], overlap


def grouped(index: StoredIndex, hits: list[Hit], top_k: int) -> list[_Group]:
    """Passages from ranked hits: one section's neighbours merged, near-duplicates dropped.

    Two hits merge only when nothing of another section lies between them (a section resumes
    after its subsections, and a passage cited to it must not carry theirs) and the result stays
    readable; otherwise the later hit is a passage of its own, not lost.
    """
    groups: list[_Group] = []
    seen_words: list[set[str]] = []
    for hit in hits:
        c = hit.chunk
        same = next((g for g in groups if _mergeable(index, g, hit)), None)
        if same is not None:
            same.hits.append(hit)
            same.start, same.end = min(same.start, c.start), max(same.end, c.end)
            continue
        if len(groups) == top_k:
            continue
        ws = set(words(c.text))
        if any(len(ws & s) / max(1, len(ws | s)) >= 0.8 for s in seen_words):
            continue  # the same text under another heading or file
        groups.append(_Group([hit], c.start, c.end))
        seen_words.append(ws)
    return groups


def _mergeable(index: StoredIndex, group: _Group, hit: Hit) -> bool:
    first = group.hits[0].chunk
    c = hit.chunk
    if (c.source, c.section) != (first.source, first.section):
        return False
    if max(group.end, c.end) - min(group.start, c.start) > MAX_MERGED_CHARS:
        return False
    # Chunks are stored in document order: every chunk between the two must be of this section.
    positions = [h.position for h in group.hits] + [hit.position]
    between = index.chunks[min(positions) : max(positions) + 1]
    return all((b.source, b.section) == (c.source, c.section) for b in between)


def passage(
    index: StoredIndex, group: _Group, query_vector: np.ndarray, scale: float, overlap: float = 0.0
) -> Passage:
    """The passage a group shows: its text, citation, score (divided by `scale`) and highlights."""
    best = max(group.hits, key=lambda h: h.score)  # a merged hit may outscore the one it joined
    first = min(group.hits, key=lambda h: h.chunk.start).chunk
    if len(group.hits) == 1:
        text = best.chunk.text
    else:
        text = index.documents[first.source].text[group.start : group.end]
    score = best.score / scale
    return Passage(
        id=first.id
        if len(group.hits) == 1
        else "+".join(h.chunk.id for h in sorted(group.hits, key=lambda h: h.chunk.start)),
        text=text,
        source=first.source,
        section=first.citation,
        score=score,
        start=group.start,
        end=group.end,
        highlights=_highlights(index, group, query_vector),
        dense_score=best.dense_score,
        dense_rank=best.dense_rank,
        bm25_score=best.bm25_score,
        bm25_rank=best.bm25_rank,
        overlap=overlap,
    )


def _highlights(index: StoredIndex, group: _Group, query_vector: np.ndarray) -> tuple[tuple[int, int], ...]:
    """The sentences of a passage closest to the query (offsets into the passage's text)."""
    spans: list[tuple[int, int]] = []
    rows: list[np.ndarray] = []
    offsets = index.sentence_offsets
    for hit in group.hits:
        shift = hit.chunk.start - group.start
        lo, hi = int(offsets[hit.position]), int(offsets[hit.position + 1])
        spans.extend((s + shift, e + shift) for s, e in hit.chunk.sentences)
        rows.append(np.asarray(index.sentence_vectors[lo:hi]))
    if not spans:
        return ()
    sims = np.concatenate(rows) @ query_vector
    best = float(sims.max())
    order = np.argsort(-sims, kind="stable")[:MAX_HIGHLIGHTS]
    chosen = sorted(spans[i] for i in order if sims[i] >= best - HIGHLIGHT_MARGIN)
    return tuple(dict.fromkeys(chosen))
