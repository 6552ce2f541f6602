"""Render an Answer for people: Markdown for the chat, plain text for the terminal.

Passages are corpus text, not markup: they are escaped so that HTML, images or links inside a
document are shown as the characters they are, never rendered or fetched.
"""

from __future__ import annotations

import re
import textwrap

from chatbot.answer import Answer

DISCLAIMER = (
    "Educational content from the article, not medical advice. Ask your care team about your own situation."
)
NOT_FOUND = "I could not find a passage in the article that answers this."
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def escape_markdown(text: str) -> str:
    """Text shown literally by a Markdown renderer: no HTML, no links, no images, no emphasis."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _quote(text: str) -> str:
    # Each source paragraph becomes a quoted paragraph; blank lines keep them apart in Markdown.
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "\n>\n".join("> " + escape_markdown(" ".join(p.split())) for p in paragraphs)


def answer_markdown(answer: Answer) -> str:
    """The answer bubble: each passage with its citation, then provenance and the disclaimer."""
    if not answer.answered:
        return f"{NOT_FOUND}\n\n_{DISCLAIMER}_"
    parts = ["From the article:"]
    for n, p in enumerate(answer.passages, start=1):
        parts.append(f"**{n}. {escape_markdown(p.section)}**\n\n{_quote(p.text)}")
    footer = " · ".join(escape_markdown(line) for line in answer.provenance)
    if footer:
        parts.append(f"Source: {footer}")
    parts.append(f"_{DISCLAIMER}_")
    return "\n\n".join(parts)


def sources_markdown(answer: Answer) -> str:
    """The collapsible Sources block: where each passage sits in which file, and its score."""
    lines = []
    for n, p in enumerate(answer.passages, start=1):
        lines.append(
            f"{n}. {escape_markdown(p.section)}  \n"
            f"`{p.source.replace('`', chr(39))}`, characters {p.start}–{p.end}, "
            f"match {p.score:.2f}, id `{p.id}`"
        )
    return "\n\n".join(lines)


def answer_text(answer: Answer, width: int = 100) -> str:
    """The answer for a terminal."""
    if not answer.answered:
        return f"{NOT_FOUND}\n\n{DISCLAIMER}"
    blocks = []
    for n, p in enumerate(answer.passages, start=1):
        body = "\n".join(
            textwrap.fill(" ".join(par.split()), width, initial_indent="   ", subsequent_indent="   ")
            for par in re.split(r"\n\s*\n", p.text)
            if par.strip()
        )
        blocks.append(f"{n}. [{p.section}] (score {p.score:.2f})\n{body}")
    if answer.provenance:
        blocks.append("Source: " + " · ".join(answer.provenance))
    blocks.append(DISCLAIMER)
    return "\n\n".join(blocks)
