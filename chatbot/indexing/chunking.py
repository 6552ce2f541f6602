"""Cut documents into passages a patient can read at a glance.

A chunk never crosses a section, starts and ends on sentence boundaries, and is short (a paragraph
or two). Its text is an exact slice of the source document, so every passage shown can be checked
against the article, character for character.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from chatbot.corpus.files import Document
from chatbot.corpus.outline import Paragraph

CITATION_SEP = " › "
# Part of every chunk id and of the recorded settings: bump it when the text given to the model
# for a chunk or its sentences changes (`dense_text`, `sentence_texts`), or how `corpus.outline` reads
# sections, so that no vector or citation made the old way is reused.
EMBED_RECIPE = 5
# Recorded with the settings but not part of chunk ids: bump it when the same files are read or cut
# differently in a way that leaves ordinary passages as they were (1: links out of the corpus
# folder refused, hidden web-page text dropped, a sentence longer than a passage cut between
# words). An index built before is then rebuilt, re-embedding only the passages that changed.
READ_VERSION = 1


@dataclass(frozen=True)
class ChunkSettings:
    """How documents are cut; recorded in the manifest so a change triggers a rebuild."""

    max_chars: int = 800
    # Paragraphs are joined while the passage stays under this size: one short paragraph alone
    # reads as a fragment, but two long ones are more than a glance.
    join_below: int = 450

    def as_dict(self) -> dict[str, int]:
        # The recipe's version rides along so that an index chunked the old way counts as stale.
        # (Named apart from the manifest's `settings.embed_recipe`, the hash of what is embedded.)
        return {**asdict(self), "recipe_version": EMBED_RECIPE, "read_version": READ_VERSION}


@dataclass(frozen=True)
class Chunk:
    """A passage of a document, with where it comes from."""

    id: str
    source: str
    title: str
    section: tuple[str, ...]
    text: str
    start: int
    end: int
    # Sentence spans relative to `text`: highlights pick among them, embedded once at index time.
    sentences: tuple[tuple[int, int], ...] = ()

    @property
    def citation(self) -> str:
        """The citation as users see it: Title › Section › Subsection."""
        return CITATION_SEP.join((self.title, *self.section))

    @property
    def dense_text(self) -> str:
        """What the embedding model sees for the chunk: its whole section path, then the passage.

        The headings often hold the words a question uses ("Stem Cell Transplantation") while the
        paragraph does not repeat them.
        """
        return f"{CITATION_SEP.join(self.section)}: {self.text}" if self.section else self.text

    @property
    def lexical_text(self) -> str:
        """What BM25 indexes: only the nearest heading, then the passage.

        A section heading shared by every passage under it ("What is Refractory Myeloma?") adds
        the same words to all of them and only blurs which one answers. Measured on the dev set
        (hit@1 / MRR without the not-covered cut): whole path for both 0.863 / 0.906; whole path
        for dense and nearest heading for BM25 0.890 / 0.922; nearest heading for both 0.836 / 0.890.
        """
        return f"{self.section[-1]}: {self.text}" if self.section else self.text

    @property
    def sentence_texts(self) -> list[str]:
        """What the model sees for each sentence: the sentence alone.

        (Prefixing the heading, as for the whole chunk, was measured and lost: dev-set hit@1 fell
        from 0.86 to 0.80, since every sentence of a section then looks alike.)
        """
        return [self.text[s:e] for s, e in self.sentences]


# A sentence ends at . ! or ? (optionally followed by a closing quote or bracket) before whitespace
# and an uppercase letter (any script) or digit, possibly after an opening quote; common
# abbreviations do not end sentences.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s+[\"“‘(\[]?(\w))")
_ABBREVIATIONS = frozenset(
    [
        "dr",
        "mr",
        "mrs",
        "ms",
        "prof",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "approx",
        "no",
        "fig",
        "inc",
        "ltd",
        "jr",
        "sr",
        "mg",
        "ml",
    ]
)


# Longer than every abbreviation: a last word that fills the window is none of them either way.
_ABBREVIATION_WINDOW = 2 * max(len(a) for a in _ABBREVIATIONS) + 8


def sentence_spans(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Spans of the sentences in `text` (shifted by `offset`), whitespace excluded."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        following = m.group(1)
        if not (following.isupper() or following.isdigit()):
            continue
        # Only the last few characters can hold an abbreviation: a window keeps a text of many
        # "Dr. Smith" without sentence ends linear, where the whole sentence so far was searched.
        word = re.search(r"(\S+)$", text[max(start, m.start() - _ABBREVIATION_WINDOW) : m.start()])
        if word and word.group(1).lower().rstrip(".") in _ABBREVIATIONS:
            continue
        spans.append((start, m.end()))
        start = m.end()
        while start < len(text) and text[start].isspace():
            start += 1
    if text[start:].strip():
        end = len(text.rstrip())
        spans.append((start, end))
    return [(s + offset, e + offset) for s, e in spans if e > s]


def _word_pieces(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Spans of at most max_chars covering text[start:end], cut at the last space that fits.

    For a "sentence" longer than a passage (a paragraph with no full stops, a pasted list): cut
    between words so that no passage outgrows the bound, and a word longer than the bound (a URL,
    a run without spaces) is cut where the bound falls.
    """
    while end - start > max_chars:
        limit = start + max_chars
        cut = next((i for i in range(limit, start, -1) if text[i].isspace()), limit)
        piece_end = cut
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        yield start, piece_end if piece_end > start else limit
        start = cut if piece_end > start else limit
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        yield start, end


def _split_long(par: Paragraph, max_chars: int) -> Iterator[tuple[int, int]]:
    """Spans of a paragraph, cut at sentence ends into pieces of at most max_chars (a sentence
    longer than that is cut between words, see `_word_pieces`)."""
    units = [
        (par.start + s, par.start + e)
        for sentence in sentence_spans(par.text)
        for s, e in _word_pieces(par.text, *sentence, max_chars)
    ]
    piece_start, piece_end = units[0]
    for s, e in units[1:]:
        if e - piece_start > max_chars:
            yield piece_start, piece_end
            piece_start = s
        piece_end = e
    yield piece_start, piece_end


def _chunk_id(source: str, section: tuple[str, ...], text: str, seen: dict[str, int]) -> str:
    digest = hashlib.sha256("\0".join((str(EMBED_RECIPE), source, *section, text)).encode()).hexdigest()[:16]
    n = seen.get(digest, 0)
    seen[digest] = n + 1
    return digest if n == 0 else f"{digest}-{n}"


def chunk_document(doc: Document, settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    """The passages of one document, in reading order."""
    spans: list[tuple[tuple[str, ...], int, int]] = []
    for par in doc.paragraphs:
        for s, e in _split_long(par, settings.max_chars):
            prev = spans[-1] if spans else None
            joinable = (
                prev is not None
                and prev[0] == par.path
                and not doc.text[prev[2] : s].strip()  # nothing the loader dropped lies between
                and prev[2] - prev[1] < settings.join_below
                and e - prev[1] <= settings.max_chars
            )
            if prev is not None and joinable:
                spans[-1] = (prev[0], prev[1], e)
            else:
                spans.append((par.path, s, e))
    seen: dict[str, int] = {}
    chunks = []
    for path, s, e in spans:
        text = doc.text[s:e]
        sentences = tuple(sentence_spans(text))
        chunk_id = _chunk_id(doc.source, path, text, seen)
        chunks.append(Chunk(chunk_id, doc.source, doc.title, path, text, s, e, sentences))
    return chunks


def chunk_corpus(docs: Iterable[Document], settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    """The passages of every document, documents in corpus order."""
    return [chunk for doc in docs for chunk in chunk_document(doc, settings)]
