"""The "Read the article" page: a whole document with its sections, one passage marked.

Every citation in an answer links here (`/article?source=...&start=...&end=...&h=...#anchor`), so
a reader can check a passage in its context. The page is built from what the index stores (the
document's text, its chunks' section paths and spans), so it shows exactly what was searched.
All corpus text is HTML-escaped: markup inside a document is shown as the characters it is.
The `h` parameter is a hash of the passage text: after a re-index that moved the text, the page
shows the section without a wrong mark and says why.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from html import escape
from urllib.parse import urlencode

from chatbot.errors import ArticleNotFoundError
from chatbot.indexing.chunking import CITATION_SEP, Chunk
from chatbot.indexing.store import StoredIndex

ARTICLE_PATH = "/article"
# Our own page needs no script and no remote resource at all: a stricter policy than the chat's.
ARTICLE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_PARAGRAPH = re.compile(r"\n\s*\n")
# A citation opens this page in a tab of its own, so the conversation is still open in the chat's
# tab (a link to "/" would start a new, empty one: the chat keeps nothing in the browser).
BACK = (
    "Your conversation is still open in the chat's own tab: close this tab to go back to it, "
    'or <a href="/">start a new chat</a>.'
)
_STYLE = """
body { font: 17px/1.6 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem;
       color: #1f2933; }
mark { background: #fff3a3; padding: 0 .1em; }
mark .answer { background: #ffe066; box-shadow: inset 0 -2px 0 #d4a300; }
:target { background: #e8f1fb; scroll-margin-top: 1rem; }
nav ul { padding-left: 1.2rem; } .note { color: #52606d; font-size: .9em; }
.stale { border-left: 4px solid #d97706; padding-left: .8rem; }
"""


@dataclass(frozen=True)
class Mark:
    """The span of the source text to mark, and a hash of the text it had when linked."""

    start: int
    end: int
    digest: str | None = None
    # the sentences that answered, inside the passage (absolute offsets), marked within the mark
    sentence: tuple[int, int] | None = None


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def section_anchor(citation: str) -> str:
    """A stable, unique HTML id for a section, from its citation (Title › Section › Subsection)."""
    last = citation.rsplit(CITATION_SEP, 1)[-1]
    ascii_ = unicodedata.normalize("NFKD", last).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")[:40] or "section"
    return f"s-{slug}-{hashlib.sha1(citation.encode()).hexdigest()[:6]}"


def article_url(
    source: str, citation: str, start: int, end: int, text: str, sentence: tuple[int, int] | None = None
) -> str:
    """Where a citation links: the article, its section in view, the passage marked (and within
    it `sentence`, the answering sentences as offsets into the passage's text, when given)."""
    params: dict[str, object] = {"source": source, "start": start, "end": end, "h": text_digest(text)}
    if sentence is not None and 0 <= sentence[0] < sentence[1] <= len(text):
        params.update(ss=start + sentence[0], se=start + sentence[1])
    return f"{ARTICLE_PATH}?{urlencode(params)}#{section_anchor(citation)}"


def parse_mark(params: Mapping[str, str]) -> Mark | None:
    """The mark asked for by a request's query parameters; None when absent or malformed."""
    try:
        start, end = int(params["start"]), int(params["end"])
    except (KeyError, ValueError):
        return None
    if not 0 <= start < end:
        return None
    try:
        ss, se = int(params["ss"]), int(params["se"])
        sentence = (ss, se) if start <= ss < se <= end else None
    except (KeyError, ValueError):
        sentence = None
    return Mark(start, end, params.get("h"), sentence)


def _paragraphs(text: str, offset: int) -> Iterator[tuple[int, int]]:
    """Absolute spans of the paragraphs of a chunk's text."""
    pos = 0
    for m in [*_PARAGRAPH.finditer(text), None]:
        end = m.start() if m else len(text)
        if text[pos:end].strip():
            yield offset + pos, offset + end
        if m is None:
            break
        pos = m.end()


def _paragraph_html(doc_text: str, start: int, end: int, mark: Mark | None, first: list[bool]) -> str:
    """One paragraph, escaped, with the part inside the mark wrapped in <mark>."""
    if mark is None or mark.end <= start or mark.start >= end:
        return f"<p>{escape(doc_text[start:end])}</p>"
    lo, hi = max(start, mark.start), min(end, mark.end)
    ident = ' id="passage"' if first[0] else ""
    first[0] = False
    inside = escape(doc_text[lo:hi])
    if mark.sentence is not None and mark.sentence[0] < hi and mark.sentence[1] > lo:
        a, b = max(lo, mark.sentence[0]), min(hi, mark.sentence[1])
        inside = (
            f'{escape(doc_text[lo:a])}<span class="answer">{escape(doc_text[a:b])}</span>'
            f"{escape(doc_text[b:hi])}"
        )
    return f"<p>{escape(doc_text[start:lo])}<mark{ident}>{inside}</mark>{escape(doc_text[hi:end])}</p>"


def document_chunks(index: StoredIndex, source: str) -> list[Chunk]:
    return sorted((c for c in index.chunks if c.source == source), key=lambda c: c.start)


def render_article(index: StoredIndex, source: str, mark: Mark | None = None) -> str:
    """The whole document as an HTML page: headings as anchors, a contents list, the passage marked."""
    doc = index.documents.get(source)
    chunks = document_chunks(index, source)
    if doc is None or not chunks:
        raise ArticleNotFoundError(f"No document {source!r} in the index.")
    stale = False
    if mark is not None:
        inside = 0 <= mark.start < mark.end <= len(doc.text)
        if not inside or (mark.digest and text_digest(doc.text[mark.start : mark.end]) != mark.digest):
            mark, stale = None, True
    title = chunks[0].title
    body: list[str] = []
    contents: list[str] = []
    previous: tuple[str, ...] = ()
    first = [True]
    for chunk in chunks:
        path = chunk.section
        common = next((i for i, (a, b) in enumerate(zip(path, previous, strict=False)) if a != b), None)
        level_from = min(len(path), len(previous)) if common is None else common
        if path != previous:
            for level in range(level_from, len(path)):
                citation = CITATION_SEP.join((title, *path[: level + 1]))
                anchor = section_anchor(citation)
                tag = f"h{min(level + 2, 6)}"
                body.append(f'<{tag} id="{anchor}">{escape(path[level])}</{tag}>')
                contents.append(
                    f'<li style="margin-left:{level}rem"><a href="#{anchor}">{escape(path[level])}</a></li>'
                )
        previous = path
        for s, e in _paragraphs(chunk.text, chunk.start):
            body.append(_paragraph_html(doc.text, s, e, mark, first))
    notes = [f'<p class="note">{escape(doc.provenance.line())}</p>']
    if stale:
        notes.append(
            '<p class="note stale">The article has changed since this answer was given, so the '
            "passage is not marked. The section is shown as it is now.</p>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f'<p class="note">{BACK}</p><h1>{escape(title)}</h1>{"".join(notes)}'
        f'<nav aria-label="Sections"><ul>{"".join(contents)}</ul></nav>'
        f'<article id="article">{"".join(body)}</article></body></html>'
    )


def render_contents(index: StoredIndex) -> str:
    """The list of documents, for /article without a source."""
    sources = dict.fromkeys(c.source for c in index.chunks)
    items = "".join(
        f'<li><a href="{ARTICLE_PATH}?{urlencode({"source": s})}">'
        f"{escape(index.documents[s].provenance.title if s in index.documents else s)}</a></li>"
        for s in sources
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Articles</title>'
        f"<style>{_STYLE}</style></head><body><h1>Articles</h1><ul>{items}</ul></body></html>"
    )
