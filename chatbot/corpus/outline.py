"""Recover a document's structure (title, sections, paragraphs) from its text.

Plain-text articles copied from the web carry their headings only as layout: a short line with no
final period, standing alone, followed by a paragraph. The rules here are general ones about that
layout, not a list of one article's headings, so a new article of the same kind loads the same way.
Every paragraph keeps its character span in the source text, so a chunk can always be traced back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Blog boilerplate: lines that are never content. The footer markers end the content outright,
# because what follows them (related posts, the comment form) is page furniture.
_FOOTER_MARKERS = re.compile(
    r"^(related posts?\s*:?|leave a (reply|comment)|comments?\s*\(\d+\)|share this( post)?\s*:?)\s*$",
    re.IGNORECASE,
)
_BOILERPLATE = re.compile(
    r"^(originally (posted|published)\b.*|posted (on|in)\b.*|your email address will not be published.*"
    r"|required fields are marked.*|tags?\s*:.*|categor(y|ies)\s*:.*)$",
    re.IGNORECASE,
)
# A byline line: a bullet followed by a name or a date, as web pages render their metadata.
_BYLINE = re.compile(r"^\s*[•·▪‣◦*-]\s+\S.{0,60}$")
_DATE = re.compile(
    r"\b(\d{4}-\d{2}-\d{2}|(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2},? \d{4})\b",
    re.IGNORECASE,
)

MAX_HEADING_CHARS = 90
MAX_HEADING_WORDS = 12
# A line ending in a colon is a label heading only when it is short ("Primary refractory myeloma:");
# a longer one is a sentence that introduces what follows ("... into two categories:").
MAX_COLON_HEADING_WORDS = 5
# A paragraph that opens by summing up ("In conclusion, ...") sums up the whole section, not the
# subsection it happens to follow: it returns to the section's level, and is cited there.
_SUMMING_UP = re.compile(
    r"^((in conclusion|in summary|in sum|to conclude|to sum (it |this |things )?up|to summari[sz]e"
    r"|all in all)\b|overall,)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of content, its place in the document's outline and its span in the source."""

    text: str
    start: int
    end: int
    path: tuple[str, ...]


@dataclass(frozen=True)
class Outline:
    """What the structure rules found in one document."""

    title: str
    paragraphs: tuple[Paragraph, ...]
    byline: tuple[str, ...] = ()
    # What the reader should warn about in a document it still reads (a web page's style sheet
    # hiding text that cannot be hidden without a CSS engine).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Block:
    text: str
    start: int
    end: int
    gap_before: int  # blank lines before this block


def _blocks(text: str) -> list[_Block]:
    """Split text into blank-line separated blocks, keeping exact spans (CRLF-safe)."""
    blocks: list[_Block] = []
    blank_run = 0
    cur_start: int | None = None
    cur_end = 0
    gap_at_start = 0
    pos = 0
    for line in text.splitlines(keepends=True):
        content = line.rstrip("\r\n")
        if content.strip():
            if cur_start is None:
                cur_start = pos + (len(content) - len(content.lstrip()))
                gap_at_start = blank_run
            cur_end = pos + len(content.rstrip())
            blank_run = 0
        else:
            if cur_start is not None:
                blocks.append(_Block(text[cur_start:cur_end], cur_start, cur_end, gap_at_start))
                cur_start = None
            blank_run += 1
        pos += len(line)
    if cur_start is not None:
        blocks.append(_Block(text[cur_start:cur_end], cur_start, cur_end, gap_at_start))
    return blocks


def _heading_style(line: str) -> str | None:
    """The style of a heading line ("question", "label", "plain"), or None for a sentence."""
    if "\n" in line or len(line) > MAX_HEADING_CHARS:
        return None
    words = line.split()
    if not words or len(words) > MAX_HEADING_WORDS:
        return None
    if line.endswith("?"):
        return "question"
    if line.endswith(":"):
        return "label" if len(words) <= MAX_COLON_HEADING_WORDS else None
    if line[-1] in ".!,;" or not line[0].isupper():
        return None
    return "plain"


def _looks_like_title(line: str) -> bool:
    """A first line that names the document rather than starting its text."""
    return len(line) <= 150 and line[-1] not in ".!,;" and (line[0].isupper() or line[0].isdigit())


def _clean_heading(line: str) -> str:
    return line.rstrip(":").strip()


def _is_heading(blocks: list[_Block], j: int, style: str) -> bool:
    """Whether a heading-styled line really heads something.

    It does when body text follows, or a heading of another style (a section opening straight
    into a subsection), or a heading of its own style (an empty section). Three or more short
    lines of one style in a row are a list, which is content.
    """
    if j + 1 >= len(blocks):
        return False
    nxt = _heading_style(blocks[j + 1].text.strip())
    if nxt is None or nxt != style:
        return True
    run = 1
    for k in (j - 1, j + 1, j + 2):
        if 0 <= k < len(blocks) and k != j and _heading_style(blocks[k].text.strip()) == style:
            run += 1
    return run < 3


def _peel_byline(text: str, blocks: list[_Block], i: int, title: str) -> tuple[int, list[str]]:
    """The byline (bullet lines right after the title) and a repeat of the title may share a block
    with each other or with the first paragraph: peel them off line by line, keeping spans exact.
    Returns the first block of content (`blocks` is trimmed in place) and the byline's lines."""
    byline: list[str] = []
    while i < len(blocks):
        block = blocks[i]
        lines = block.text.split("\n")
        k = 0
        while k < len(lines) and (_BYLINE.match(lines[k]) or lines[k].strip() == title):
            if lines[k].strip() != title:
                byline.append(lines[k].strip().lstrip("•·▪‣◦*- ").strip())
            k += 1
        if k == 0:
            break
        if k < len(lines):
            cut = block.start + sum(len(ln) + 1 for ln in lines[:k])
            cut += len(block.text[cut - block.start :]) - len(block.text[cut - block.start :].lstrip())
            blocks[i] = _Block(text[cut : block.end], cut, block.end, block.gap_before)
            break
        i += 1
    return i, byline


def parse_plain_text(text: str, fallback_title: str) -> Outline:
    """Outline a plain-text web article.

    Rules: the first line is the title; bullet lines right after it are the byline; a line equal to
    the title is dropped; a short standalone line without a final period that is followed by a
    paragraph is a heading. The first heading style met (question, label or plain) is the section
    level and the other styles are subsections. Two or more blank lines close a subsection (writers
    leave a wider gap before returning to the section's own text), and so does a paragraph that
    opens by summing up ("In conclusion, ..."). Footer markers end the content.
    """
    blocks = _blocks(text)
    if not blocks:
        return Outline(fallback_title, ())
    first = blocks[0]
    first_line = first.text.split("\n", 1)[0].strip()
    title = fallback_title
    i = 0
    if "\n" not in first.text and _looks_like_title(first_line) and len(blocks) > 1:
        title = first_line.rstrip(":").strip()
        i = 1
    i, byline = _peel_byline(text, blocks, i, title)

    section_style: str | None = None
    section: str | None = None
    subsection: str | None = None
    paragraphs: list[Paragraph] = []
    for j in range(i, len(blocks)):
        block = blocks[j]
        line = block.text.strip()
        if _FOOTER_MARKERS.match(line):
            break
        if line == title or _BOILERPLATE.match(line):
            continue
        if block.gap_before >= 2 or _SUMMING_UP.match(line):
            subsection = None
        style = _heading_style(line)
        if style is not None and _is_heading(blocks, j, style):
            if section_style is None:
                section_style = style
            if style == section_style:
                section, subsection = _clean_heading(line), None
            else:
                subsection = _clean_heading(line)
            continue
        path = tuple(p for p in (section, subsection) if p)
        paragraphs.append(Paragraph(block.text, block.start, block.end, path))
    return Outline(title, tuple(paragraphs), tuple(byline))


def parse_record(text: str, title: str) -> Outline:
    """Outline a record that carries its title separately (a JSONL or BEIR line): paragraphs only."""
    return Outline(title, tuple(Paragraph(b.text, b.start, b.end, ()) for b in _blocks(text)))


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def parse_markdown(text: str, fallback_title: str) -> Outline:
    """Outline a Markdown document: `#` is the title, deeper headings nest as sections."""
    title: str | None = None
    stack: list[tuple[int, str]] = []
    paragraphs: list[Paragraph] = []
    for block in _blocks(text):
        lines = block.text.split("\n")
        offset = block.start
        body_start: int | None = None
        for line in lines:
            m = _MD_HEADING.match(line.strip())
            if m:
                if body_start is not None:
                    _add_md_paragraph(text, body_start, offset - 1, stack, paragraphs)
                    body_start = None
                level, heading = len(m.group(1)), m.group(2).strip()
                if level == 1 and title is None and not paragraphs and not stack:
                    title = heading
                else:
                    while stack and stack[-1][0] >= level:
                        stack.pop()
                    stack.append((level, heading))
            elif body_start is None and line.strip():
                body_start = offset + (len(line) - len(line.lstrip()))
            offset += len(line) + 1
        if body_start is not None:
            _add_md_paragraph(text, body_start, block.end, stack, paragraphs)
    return Outline(title or fallback_title, tuple(paragraphs))


def _add_md_paragraph(
    text: str, start: int, end: int, stack: list[tuple[int, str]], out: list[Paragraph]
) -> None:
    body = text[start:end].rstrip()
    if body:
        out.append(Paragraph(body, start, start + len(body), tuple(h for _, h in stack)))


def find_date(lines: tuple[str, ...]) -> str | None:
    """The first date written in a byline, as it is written there."""
    for line in lines:
        m = _DATE.search(line)
        if m:
            return m.group(0)
    return None
