"""Recover a web page's text and outline from its HTML.

The page's *extracted text* is what gets indexed: the visible text of its content, one block per
paragraph, list item or heading, blocks separated by a blank line. It is the document's source
text (`Document.text`) and every span points into it, so `text[start:end] == chunk.text` holds
for an HTML page as for a plain-text one. The first `<h1>` is the title (else `<title>`), `<h2>`
opens a section and `<h3>` a subsection (deeper headings nest further); scripts, styles,
navigation, headers, footers, asides, forms and hidden elements are dropped.

Hidden means hidden from every reader of the page, sighted or using a screen reader: the `hidden`
attribute, `aria-hidden="true"` (text a page keeps from screen readers is decoration or a visual
duplicate, and an answer is read as a screen reader would read it), an inline style with
`display: none` or `visibility: hidden` (or `collapse`), and a `<dialog>` that is not open. Such an
element is dropped with everything inside it: a descendant can make itself visible again under
`visibility: hidden`, but keeping hidden text out matters more than that rare case. Text merely
moved off screen for screen readers (`.sr-only`) is meant to be read and is kept. Rules in a
`<style>` sheet cannot be applied without a CSS engine: a rule that hides something is named in
`Outline.notes`, for the reader to warn about.
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
# Elements with no content and no end tag.
_VOID_NAMES = "area base br col embed hr img input link meta param source track wbr"
VOID = frozenset(_VOID_NAMES.split())
HEADINGS = {f"h{n}": n for n in range(1, 7)}
_SPACE = re.compile(r"[ \t\r\f\v\u00a0]+")
# CSS as a browser reads it before matching: comments gone, escapes ("d\69splay", "\6e one") decoded.
_CSS_COMMENT = re.compile(r"/\*.*?(\*/|$)", re.DOTALL)
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?|\\(.)", re.DOTALL)
_IMPORTANT = re.compile(r"!\s*important")
_HIDING = frozenset([("display", "none"), ("visibility", "hidden"), ("visibility", "collapse")])
MAX_NAMED_RULES = 5  # selectors named in a note; the rest are counted


def _css(text: str) -> str:
    def unescape(m: re.Match[str]) -> str:
        if m.group(1):
            code = int(m.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF else "\ufffd"
        return m.group(2)

    return _CSS_ESCAPE.sub(unescape, _CSS_COMMENT.sub(" ", text))


def _hides(declarations: str) -> bool:
    for declaration in declarations.split(";"):
        name, _, value = declaration.partition(":")
        value = _IMPORTANT.sub("", value.lower()).strip()
        if (name.strip().lower(), value) in _HIDING:
            return True
    return False


def hides(declarations: str) -> bool:
    """Whether CSS declarations ("color: red; display: none !important") hide their element."""
    return _hides(_css(declarations))


def hiding_rules(sheet: str) -> list[str]:
    """The selectors of a style sheet's rules that hide what they match (inside @media too).

    Read brace by brace, in one pass: a pattern over the whole sheet would backtrack on a long
    run of text between braces."""
    parts = re.split(r"([{}])", _css(sheet))  # text, brace, text, brace, ...
    return [
        " ".join(parts[i].split())
        for i in range(0, len(parts) - 3, 2)
        if parts[i + 1] == "{" and parts[i + 3] == "}" and parts[i].strip() and _hides(parts[i + 2])
    ]


def _hidden(tag: str, attrs: list[tuple[str, str | None]]) -> bool:
    """Whether an element is hidden from every reader of the page (see the module's docstring)."""
    for name, value in attrs:
        if name == "hidden":
            return True
        if name == "aria-hidden" and (value or "").strip().lower() == "true":
            return True
        if name == "style" and value and hides(value):
            return True
    return tag == "dialog" and not any(name == "open" for name, _ in attrs)


class _Extractor(HTMLParser):
    """Collects (heading level or 0, text) blocks from the visible content of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[int, str]] = []
        self.head_title = ""
        self.style_sheets: list[str] = []  # the text of every <style>, to name the rules that hide
        self._parts: list[str] = []
        self._level = 0  # heading level of the block being read
        # Open elements whose content is dropped: (tag, whether it is hidden rather than furniture).
        self._dropped: list[tuple[str, bool]] = []
        self._in_title = False
        self._seen_body = False
        self._header_h1: list[str] | None = None  # text of an <h1> inside a dropped <header>

    def _hidden_here(self) -> bool:
        return any(hidden or tag == "svg" for tag, hidden in self._dropped)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        hidden = _hidden(tag, attrs)
        if tag in VOID:
            if tag == "br" and not hidden and not self._dropped:
                self._parts.append("\n")
            return  # no content, and no end tag: never pushed, or all that follows would be dropped
        if tag == "title":
            # The <title> of an <svg> icon, or one inside hidden markup, is no name for the page.
            self._in_title = not self._hidden_here()
        if tag == "body" and not self._seen_body:
            self._seen_body = True
            heads = [i for i, (name, _) in enumerate(self._dropped) if name == "head"]
            del self._dropped[heads[0] if heads else len(self._dropped) :]  # a <head> never closed
        if tag in BLOCKS:
            # A block closes an open <p> (HTML's own rule), also one that was hidden: without it, an
            # unclosed hidden paragraph would take the rest of the page with it.
            while self._dropped and self._dropped[-1][0] == "p":
                self._dropped.pop()
        if self._dropped or hidden or tag in DROPPED:
            only_header = self._dropped and all(e == ("header", False) for e in self._dropped)
            if tag == "h1" and not hidden and only_header:
                self._header_h1 = []
            if tag in DROPPED or hidden or any(name == tag for name, _ in self._dropped):
                self._dropped.append((tag, hidden))
            return
        if tag in BLOCKS:
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
            if tag == self._dropped[-1][0]:
                self._dropped.pop()
            return
        if tag in BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.head_title += data
        elif self._dropped and self._dropped[-1][0] == "style":
            self.style_sheets.append(data)
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

    def notes(self) -> tuple[str, ...]:
        """What a reader should be told: the style sheet rules that hide text this page keeps."""
        selectors = list(dict.fromkeys(sel for sheet in self.style_sheets for sel in hiding_rules(sheet)))
        if not selectors:
            return ()
        named = ", ".join(f"`{sel}`" for sel in selectors[:MAX_NAMED_RULES])
        more = f" and {len(selectors) - MAX_NAMED_RULES} more" if len(selectors) > MAX_NAMED_RULES else ""
        return (
            f"its <style> hides {named}{more}, which the reader cannot apply: text they hide is "
            f"indexed as visible. Mark hidden text with the hidden attribute or an inline "
            f'style="display:none", or remove it, and re-index',
        )


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
    return "".join(pieces), Outline(title, tuple(paragraphs), notes=parser.notes())
