"""Render an Answer for people: Markdown for the chat, plain text for the terminal.

Passages are corpus text, not markup: they are escaped so that HTML, images or links inside a
document are shown as the characters they are, never rendered or fetched. The only markup added
is ours: citations, the emphasis on the sentences that answer best, and the alert card.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from chatbot.answering.answer import Answer, Passage

# Where a citation links (the "Read the article" page), or None for plain citations.
Linker = Callable[[Passage], str]

DISCLAIMER = "Educational content from the article, not medical advice."
NOT_COVERED = "This is outside what the article covers, so I have no passage to show for it."
# The one honest line before the passages of a "closest" answer: what the article does cover.
CLOSEST = "The article may not say exactly this. The closest it comes is in “{section}”:"
CLOSEST_LACKING = "The article does not give {lacking} for this. The closest it comes is in “{section}”:"
ADVICE = (
    "This is a decision for you and your care team: the article cannot say what is right for you. "
    "Here is what it says, to help you talk it through with them."
)
ALERT_TITLES = {
    "emergency": "Emergency: get help now",
    "urgent": "Contact your care team now",
    "crisis": "You deserve support right now",
}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
_URL_COLON = re.compile(r":(?=//)")
_PARAGRAPH = re.compile(r"\n\s*\n")


def escape_markdown(text: str) -> str:
    """Text shown literally by a Markdown renderer: no HTML, no links, no images, no emphasis.

    The colon of "https://" is escaped too: GFM renderers turn bare URLs into links before
    reading escapes, which would show the URL with its backslashes.
    """
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _URL_COLON.sub(r"\\:", _MD_SPECIAL.sub(r"\\\1", text))


def unescape_markdown(text: str) -> str:
    """The text `escape_markdown` was given (the chat reads questions back from its history)."""
    text = re.sub(r"\\(.)", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _segments(passage: Passage) -> list[list[tuple[str, bool]]]:
    """The passage as paragraphs of (text, highlighted) runs, whitespace collapsed."""
    marks = [False] * len(passage.text)
    for s, e in passage.highlights:
        for i in range(max(0, s), min(e, len(marks))):
            marks[i] = True
    paragraphs = []
    pos = 0
    for m in [*_PARAGRAPH.finditer(passage.text), None]:
        end = m.start() if m else len(passage.text)
        runs: list[tuple[str, bool]] = []
        for i in range(pos, end):
            ch = " " if passage.text[i].isspace() else passage.text[i]
            if runs and runs[-1][1] == marks[i]:
                runs[-1] = (runs[-1][0] + ch, marks[i])
            else:
                runs.append((ch, marks[i]))
        if any(t.strip() for t, _ in runs):
            paragraphs.append(runs)
        pos = m.end() if m else end
    return paragraphs


def _quote(passage: Passage) -> str:
    """A passage as a Markdown quote, its best sentences in bold."""
    out = []
    for runs in _segments(passage):
        line = ""
        for text, hot in runs:
            text = re.sub(r" +", " ", text)
            if hot and text.strip():
                lead, core, trail = re.match(r"(\s*)(.*?)(\s*)$", text).groups()  # type: ignore[union-attr]
                line += f"{lead}**{escape_markdown(core)}**{trail}"
            else:
                line += escape_markdown(text)
        out.append("> " + line.strip())
    return "\n>\n".join(out)


def alert_markdown(alert: dict[str, str]) -> str:
    title = ALERT_TITLES.get(alert["kind"], "Get help now")
    return f"### 🚨 {title}\n\n**{escape_markdown(alert['message'])}**"


def _citation(p: Passage, link: Linker | None) -> str:
    """A citation in bold, linked to its section in the article when `link` is given."""
    text = escape_markdown(p.section)
    return f"[{text}]({link(p)})" if link else text


@dataclass(frozen=True)
class Layout:
    """How one medium (chat, terminal, saved conversation) writes each part of an answer.

    `answer_blocks` decides which parts an answer has and in what order, once for every medium:
    a patient reads the same answer in the chat, in a terminal and in the saved conversation.
    """

    alert: Callable[[dict[str, str]], str]
    searched: Callable[[str], str]
    closest: Callable[[tuple[str, ...]], str]
    advice: str
    passage: Callable[[int, Passage], str]
    provenance: Callable[[tuple[str, ...]], str]
    intro: Callable[[Answer], str] | None = None  # a line before the passages
    disclaimer: str | None = None  # closes every answer
    escape: Callable[[str], str] = str  # how corpus text (a section's name) is written in this medium


def closest_line(answer: Answer, escape: Callable[[str], str] = str) -> str:
    """What leads a "closest" answer: that the article may not say exactly, and where it comes closest."""
    section = escape(answer.passages[0].section) if answer.passages else ""
    if answer.lacking:
        return CLOSEST_LACKING.format(lacking=answer.lacking, section=section)
    return CLOSEST.format(section=section)


def answer_blocks(answer: Answer, layout: Layout) -> list[str]:
    """The parts of an answer, in the order every medium shows them."""
    parts = []
    if answer.alert:
        parts.append(layout.alert(answer.alert))
        if answer.alert.get("kind") == "emergency" and not answer.passages:
            return parts  # nothing after an emergency card
    if answer.query and answer.query != answer.question:
        parts.append(layout.searched(answer.query))
    if not answer.passages:
        parts.append(NOT_COVERED)
        if answer.closest_sections:
            parts.append(layout.closest(answer.closest_sections))
    else:
        if answer.outcome == "closest":
            parts.append(closest_line(answer, layout.escape))
        if answer.advice:
            parts.append(layout.advice)
        if layout.intro:
            parts.append(layout.intro(answer))
        parts.extend(layout.passage(n, p) for n, p in enumerate(answer.passages, start=1))
    if answer.provenance:
        parts.append(layout.provenance(answer.provenance))
    if layout.disclaimer:
        parts.append(layout.disclaimer)
    return parts


def answer_markdown(answer: Answer, link: Linker | None = None) -> str:
    """The answer bubble: alert card, passages with citations, provenance and the disclaimer.

    With `link`, each citation links to its section of the article (the chat passes one; the
    URL must be safe inside Markdown link parentheses, as `web.article.article_url` is)."""
    layout = Layout(
        alert=alert_markdown,
        searched=lambda q: f"_Searched for: {escape_markdown(q)}_",
        closest=lambda sections: (
            "The closest sections, if you want to browse:\n\n"
            + "\n".join(f"- {escape_markdown(s)}" for s in sections)
        ),
        advice=f"**{ADVICE}**",
        intro=lambda a: "Relevant passages from the article:" if a.alert else "From the article:",
        passage=lambda n, p: f"**{n}. {_citation(p, link)}**\n\n{_quote(p)}",
        provenance=lambda lines: "Source: " + " · ".join(escape_markdown(line) for line in lines),
        disclaimer=f"_{DISCLAIMER}_",
        escape=escape_markdown,
    )
    return "\n\n".join(answer_blocks(answer, layout))


def sources_markdown(answer: Answer, link: Linker | None = None) -> str:
    """The collapsible Sources block: where each passage sits, and why it was chosen."""
    lines = []
    for n, p in enumerate(answer.passages, start=1):
        ranks = f"meaning rank {p.dense_rank or '–'}, word rank {p.bm25_rank or '–'}"
        lines.append(
            f"{n}. {_citation(p, link)}  \n"
            f"`{p.source.replace('`', chr(39))}`, characters {p.start}–{p.end}, "
            f"match {p.score:.2f} ({ranks}), id `{p.id}`"
        )
    return "\n\n".join(lines)


def _passage_text(n: int, p: Passage, width: int) -> str:
    body = "\n".join(
        textwrap.fill(" ".join(par.split()), width, initial_indent="   ", subsequent_indent="   ")
        for par in _PARAGRAPH.split(p.text)
        if par.strip()
    )
    return f"{n}. [{p.section}] (score {p.score:.2f})\n{body}"


def answer_text(answer: Answer, width: int = 100) -> str:
    """The answer for a terminal."""
    layout = Layout(
        alert=lambda a: f"!! {ALERT_TITLES.get(a['kind'], 'Get help now').upper()}: {a['message']}",
        searched=lambda q: f"Searched for: {q}",
        closest=lambda sections: "Closest sections:\n" + "\n".join(f"  - {s}" for s in sections),
        advice=ADVICE,
        passage=lambda n, p: _passage_text(n, p, width),
        provenance=lambda lines: "Source: " + " · ".join(lines),
        disclaimer=DISCLAIMER,
    )
    return "\n\n".join(answer_blocks(answer, layout))
