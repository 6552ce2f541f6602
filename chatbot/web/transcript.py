"""The conversation as a Markdown file a patient can keep or bring to their care team.

Each question is followed by what was shown: any alert, the passages quoted in full, and every
passage's citation (Title › Section › Subsection), so each can be found in the article. Nothing
internal (files, character offsets, passage ids, scores, index builds): the staff exports keep
those. Questions and corpus text are escaped: a Markdown viewer shows them as written and never
renders HTML or fetches an image from them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from chatbot.answering.answer import Passage
from chatbot.present import ADVICE, ALERT_TITLES, DISCLAIMER, Layout, answer_blocks
from chatbot.web.conversation import Turn

FILENAME = "conversation.md"
_SPECIAL = re.compile(r"([\\`*_\[\]#|])")
_PARAGRAPH = re.compile(r"\n\s*\n")


def escape_text(text: str) -> str:
    """Plain text that a Markdown viewer shows as written: no HTML, links, images or emphasis."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _quote(text: str) -> str:
    paragraphs = [escape_text(p) for p in _PARAGRAPH.split(text) if p.strip()]
    return "\n>\n".join(f"> {p}" for p in paragraphs)


def _passage(n: int, p: Passage) -> str:
    citation = escape_text(p.section)
    return f"### Passage {n}: {citation}\n\n{_quote(p.text)}\n\nCitation: {citation}"


# The chat's layout, written for a Markdown file: every passage quoted in full with its citation.
_LAYOUT = Layout(
    alert=lambda a: f"**{ALERT_TITLES.get(a['kind'], 'Get help now')}:** {escape_text(a['message'])}",
    searched=lambda q: f"Searched for: {escape_text(q)}",
    closest=lambda sections: "Closest sections:\n\n" + "\n".join(f"- {escape_text(s)}" for s in sections),
    advice=f"**{ADVICE}**",
    passage=_passage,
    provenance=lambda lines: "Source: " + " · ".join(escape_text(line) for line in lines),
    escape=escape_text,
)


def turn_markdown(n: int, turn: Turn) -> str:
    head = [f"## {n}. {escape_text(turn.question)}", f"_Asked {turn.time}_"]
    return "\n\n".join(head + answer_blocks(turn.answer, _LAYOUT))


def transcript_markdown(turns: Sequence[Turn], now: str) -> str:
    """The whole conversation, oldest question first."""
    head = (
        f"# Questions about refractory myeloma\n\nConversation saved {now}. Every answer quotes "
        f"passages of the article with their citations. _{DISCLAIMER}_"
    )
    if not turns:
        return head + "\n\nNo questions yet.\n"
    return "\n\n".join([head, *(turn_markdown(n, t) for n, t in enumerate(turns, start=1))]) + "\n"
