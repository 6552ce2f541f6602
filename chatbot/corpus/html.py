"""Recover a web page's text and outline from its HTML.

The page's *extracted text* is what gets indexed: the visible text of its content, one block per
paragraph, list item or heading, blocks separated by a blank line. It is the document's source
text (`Document.text`) and every span points into it, so `text[start:end] == chunk.text` holds
for an HTML page as for a plain-text one. The first `<h1>` is the title (else `<title>`), `<h2>`
opens a section and `<h3>` a subsection (deeper headings nest further); scripts, styles,
navigation, headers, footers, asides, forms and hidden elements are dropped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from chatbot.corpus.outline import Outline, Paragraph

# Not content: never shown, never indexed. A page's <header> often holds its <h1>, which is kept
# as the title even though the rest of the header (logo, menu) is dropped.
DROPPED = frozenset(
    ["script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "head", "svg"]
)
# Elements that start a new block of text.
_BLOCK_NAMES = (
    "address article blockquote body dd details div dl dt fieldset figcaption figure h1 h2 h3 h4 h5 h6 "
    "hr html li main ol p pre section summary table tbody td th thead tr ul"
)
BLOCKS = frozenset(_BLOCK_NAMES.split())
HEADINGS = {f"h{n}": n for n in range(1, 7)}
_SPACE = re.compile(r"[ \t\r\f\v\u00a0]+")


class _Extractor(HTMLParser):
    """Collects (heading level or 0, text) blocks from the visible content of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[int, str]] = []
        self.head_title = ""
        self._parts: list[str] = []
        self._level = 0  # heading level of the block being read
        self._dropped: list[str] = []  # open elements whose content is dropped
        self._in_title = False
        self._header_h1: list[str] | None = None  # text of an <h1> inside a dropped <header>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        hidden = any(k == "hidden" or (k == "aria-hidden" and v == "true") for k, v in attrs)
        if tag == "title":
            self._in_title = True
        if tag == "body":
            self._dropped.clear()  # a page that never closed its <head>
        if self._dropped or hidden or tag in DROPPED:
            if tag == "h1" and not hidden and self._dropped and set(self._dropped) == {"header"}:
                self._header_h1 = []
            if tag in DROPPED or hidden or tag in self._dropped:
                self._dropped.append(tag)
            return
        if tag == "br":
            self._parts.append("\n")
        elif tag in BLOCKS:
            self._flush()
            self._level = HEADINGS.get(tag, 0)
            if tag == "li":
                self._parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if self._dropped:
            if tag == "h1" and self._header_h1 is not None:
                self.blocks.append((1, _clean("".join(self._header_h1))))
                self._header_h1 = None
            if tag == self._dropped[-1]:
                self._dropped.pop()
            return
        if tag in BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.head_title += data
        elif self._header_h1 is not None:
            self._header_h1.append(data.replace("\n", " "))
        elif not self._dropped:
            self._parts.append(data.replace("\n", " "))  # source line breaks are spaces; <br> is not

    def _flush(self) -> None:
        text = _clean("".join(self._parts))
        if text and text != "-":
            self.blocks.append((self._level, text))
        self._parts = []
        self._level = 0

    def close(self) -> None:
        super().close()
        self._flush()


def _clean(text: str) -> str:
    """Whitespace as a browser renders it: runs collapsed, line breaks only where <br> put them."""
    lines = (_SPACE.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def parse_html(html: str, fallback_title: str) -> tuple[str, Outline]:
    """The extracted text of a page and its outline (spans are offsets into that text)."""
    parser = _Extractor()
    parser.feed(html)
    parser.close()
    title: str | None = None
    stack: list[tuple[int, str]] = []
    pieces: list[str] = []
    paragraphs: list[Paragraph] = []
    pos = 0
    for level, text in parser.blocks:
        if not text:
            continue
        if pieces:
            pieces.append("\n\n")
            pos += 2
        pieces.append(text)
        start, pos = pos, pos + len(text)
        if level == 1 and title is None:
            title = " ".join(text.split())
        elif level:
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, " ".join(text.split())))
        else:
            paragraphs.append(Paragraph(text, start, pos, tuple(h for _, h in stack)))
    title = title or " ".join(parser.head_title.split()) or fallback_title
    return "".join(pieces), Outline(title, tuple(paragraphs))
