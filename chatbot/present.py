"""Render an Answer for people: Markdown for the chat, plain text for the terminal.

Passages are corpus text, not markup: they are escaped so that HTML, images or links inside a
document are shown as the characters they are, never rendered or fetched. The only markup added
is ours: the alert card, the lead sentence, the mark on the sentences that answer best (the one
style they have: bold is used for nothing in an answer), short citations and the fold that holds
the further passages. The chat's classes (`cb-*`) are styled in `web/chat_assets.py`.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape as escape_html

from chatbot.answering.answer import Answer, Passage
from chatbot.indexing.chunking import CITATION_SEP

# Where a citation links (the "Read the article" page), or None for plain citations.
Linker = Callable[[Passage], str]
# Where a section ("Title › Section › Subsection") links on the article page, or None.
SectionLinker = Callable[[str], str | None]

DISCLAIMER = "Educational content from the article, not medical advice."
NOT_COVERED = "This is outside what the article covers, so I have no passage to show for it."
# The one honest line before the passages of a "closest" answer: what the article does cover.
CLOSEST = "The article may not say exactly this. The closest it comes is in “{section}”:"
CLOSEST_LACKING = "The article does not give {lacking} for this. The closest it comes is in “{section}”:"
ADVICE = (
    "This is a decision for you and your care team: the article cannot say what is right for you. "
    "Here is what it says, to help you talk it through with them."
)
# Each card's heading is its one call to action (the NHS care-card pattern); the urgency is said
# to screen readers before it (ALERT_SR) and shown by the card's colour.
ALERT_TITLES = {
    "emergency": "Call your local emergency number now",
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


_SPACE = re.compile(r"\s")


def _segments(passage: Passage) -> list[list[tuple[str, bool]]]:
    """The passage as paragraphs of (text, highlighted) runs, each whitespace character a space.

    Cut by slices at the highlights' edges, in time linear in the passage (a passage is bounded,
    but a corpus once held a 2 MB one: character by character it took minutes to draw)."""
    text = passage.text
    edges, at = [], 0  # (start, end, highlighted) covering the text in order
    for s, e in sorted((max(0, s), min(e, len(text))) for s, e in passage.highlights):
        s = max(s, at)
        if e <= s:
            continue
        if s > at:
            edges.append((at, s, False))
        edges.append((s, e, True))
        at = e
    if at < len(text):
        edges.append((at, len(text), False))
    paragraphs = []
    pos = 0
    for m in [*_PARAGRAPH.finditer(text), None]:
        end = m.start() if m else len(text)
        runs: list[tuple[str, bool]] = []
        for s, e, hot in edges:
            s, e = max(s, pos), min(e, end)
            if e <= s:
                continue
            piece = _SPACE.sub(" ", text[s:e])
            if runs and runs[-1][1] == hot:
                runs[-1] = (runs[-1][0] + piece, hot)
            else:
                runs.append((piece, hot))
        if any(t.strip() for t, _ in runs):
            paragraphs.append(runs)
        pos = m.end() if m else end
    return paragraphs


_HTML_SPECIAL = re.compile(r"[\\`*_{}\[\]()#+\-!|~$:]")


def html_text(text: str) -> str:
    """Corpus text inside our HTML: escaped, and the characters Markdown (or a LaTeX or link
    finder) might still read written as character references, so nothing in it is ever a link,
    an image, emphasis or a formula, whatever the renderer does around the HTML."""
    # quote=False: text, never an attribute; a reference's own "#" must not be replaced again
    return _HTML_SPECIAL.sub(lambda m: f"&#{ord(m.group())};", escape_html(text, quote=False))


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _passage_html(passage: Passage) -> str:
    """A passage as an HTML quote (its text escaped), the sentences that answer best marked."""
    paragraphs = []
    for runs in _segments(passage):
        line = ""
        for text, hot in runs:
            text = _flat(text)
            if hot and text.strip():
                core = text.strip()  # the mark covers the words, not the spaces around them
                lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
                line += f'{lead}<mark class="cb-hl">{html_text(core)}</mark>{trail}'
            else:
                line += html_text(text)
        paragraphs.append(f"<p>{line.strip()}</p>")
    return f'<blockquote class="cb-passage">{"".join(paragraphs)}</blockquote>'


def lead_sentences(passage: Passage) -> str:
    """The sentence or two of a passage that answer best (its highlights), as plain text."""
    spans = sorted((max(0, s), min(e, len(passage.text))) for s, e in passage.highlights)
    return " ".join(_flat(passage.text[s:e]).strip() for s, e in spans if passage.text[s:e].strip())


def document_title(citation: str) -> str:
    return citation.split(CITATION_SEP, 1)[0]


def short_section(citation: str) -> str:
    """A citation without its document's title ("Section › Subsection"); the title when that is all."""
    parts = citation.split(CITATION_SEP)
    return CITATION_SEP.join(parts[1:]) or citation


def _several_documents(passages: Sequence[Passage]) -> bool:
    return len({p.source for p in passages}) > 1


def _citation_html(p: Passage, link: Linker | None, with_title: bool) -> str:
    """The short citation under a passage, linked to it in the article when `link` is given."""
    text = html_text(short_section(p.section))
    if link:
        text = f'<a href="{escape_html(link(p))}">{text}</a>'
    title = f" in “{html_text(document_title(p.section))}”" if with_title else ""
    return f'<p class="cb-cite">From the article{title}: {text}</p>'


# The urgency, said to screen readers before the card's heading (NHS care cards do the same).
ALERT_SR = {"emergency": "Emergency:", "urgent": "Urgent:", "crisis": "Support now:"}


def alert_markdown(alert: dict[str, str]) -> str:
    """The alert card, a message of its own: a heading that is the call to action, the message
    (from safety.toml, which says what to do if symptoms get worse) and the urgency said to screen
    readers. One raw HTML block (no blank line inside), its text escaped."""
    kind = alert.get("kind", "")
    title = ALERT_TITLES.get(kind, "Get help now")
    body = f"<p>{html_text(alert['message'])}</p>"
    css = kind if kind in ALERT_TITLES else "urgent"
    return (
        f'<div class="cb-alert cb-alert-{css}" role="alert">'
        f'<h2 class="cb-alert-title"><span class="cb-sr">{ALERT_SR.get(kind, "Urgent:")} </span>'
        f"{escape_html(title)}</h2>"
        f'<div class="cb-alert-body">{body}</div></div>'
    )


@dataclass(frozen=True)
class Layout:
    """How one medium (chat, terminal, saved conversation) writes each part of an answer.

    `answer_blocks` decides which parts an answer has and in what order, once for every medium:
    a patient reads the same answer in the chat, in a terminal and in the saved conversation.
    `passages`, when given, writes all the passages at once (the chat folds all but the first).
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
    passages: Callable[[Sequence[Passage]], list[str]] | None = None


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
        if layout.passages:
            parts.extend(layout.passages(answer.passages))
        else:
            parts.extend(layout.passage(n, p) for n, p in enumerate(answer.passages, start=1))
    if answer.provenance:
        parts.append(layout.provenance(answer.provenance))
    if layout.disclaimer:
        parts.append(layout.disclaimer)
    return parts


MORE = "More from the article ({n})"
PASSAGES_HEADING = "What the article says"


def _chat_passages(passages: Sequence[Passage], link: Linker | None) -> list[str]:
    """Answer first: the best sentence(s) of the first passage, its short citation, that passage
    in context, then the other passages folded under "More from the article (n)". Each part
    is one raw HTML block (no blank line inside), corpus text escaped."""
    with_title = _several_documents(passages)
    first, more = passages[0], passages[1:]
    parts = []
    lead = lead_sentences(first)
    if lead:
        parts.append(f'<p class="cb-lead"><mark class="cb-hl">{html_text(lead)}</mark></p>')
    # The citation comes before the passage: on a phone a long passage would push it off the
    # answer's first screen, and a reader checking the lead sentence looks for its source there.
    parts.append(_citation_html(first, link, with_title) + _passage_html(first))
    if more:
        folded = "".join(
            f'<div class="cb-more-passage">{_citation_html(p, link, with_title)}{_passage_html(p)}</div>'
            for p in more
        )
        parts.append(
            f'<details class="cb-more"><summary>{MORE.format(n=len(more))}</summary>{folded}</details>'
        )
    return parts


def _section_item(citation: str, section_link: SectionLinker | None) -> str:
    text = escape_markdown(short_section(citation))
    url = section_link(citation) if section_link else None
    return f"- [{text}]({url})" if url else f"- {text}"


def answer_markdown(
    answer: Answer, link: Linker | None = None, section_link: SectionLinker | None = None
) -> str:
    """The answer message of the chat, without its alert card (`alert_markdown` writes that as a
    message of its own, before this one); "" when nothing follows the card.

    With `link`, each citation links to its passage in the article; with `section_link`, the
    sections offered when the article does not cover a question link to them. URLs must be safe
    inside Markdown link parentheses and HTML attributes, as `web.article.article_url` is."""
    layout = Layout(
        alert=lambda a: "",
        searched=lambda q: f"_Searched for: {escape_markdown(q)}_",
        closest=lambda sections: (
            "The closest sections, if you want to browse:\n\n"
            + "\n".join(_section_item(s, section_link) for s in sections)
        ),
        advice=ADVICE,
        passage=lambda n, p: "",
        passages=lambda passages: _chat_passages(passages, link),
        provenance=lambda lines: "Source: " + " · ".join(escape_markdown(line) for line in lines),
        disclaimer=f"_{DISCLAIMER}_",
        escape=lambda s: escape_markdown(short_section(s)),
    )
    if answer.alert and answer.alert.get("kind") == "emergency" and not answer.passages:
        return ""
    parts = [part for part in answer_blocks(answer, layout) if part]
    if answer.alert and answer.passages:
        parts.insert(0, f"### {PASSAGES_HEADING}")
    return "\n\n".join(parts)


def chat_messages(
    answer: Answer, link: Linker | None = None, section_link: SectionLinker | None = None
) -> list[str]:
    """The chat messages of an answer: the alert card first and alone, then the answer."""
    body = answer_markdown(answer, link, section_link)
    return ([alert_markdown(answer.alert)] if answer.alert else []) + ([body] if body else [])


def sources_markdown(answer: Answer, link: Linker | None = None) -> str:
    """The collapsible Sources block: where in the article each passage comes from, linked.
    Nothing internal (files, offsets, scores, ranks, ids): those are for staff."""
    with_title = _several_documents(answer.passages)
    lines = []
    if answer.passages and not with_title:
        lines.append(f"From “{escape_markdown(document_title(answer.passages[0].section))}”:\n")
    for n, p in enumerate(answer.passages, start=1):
        text = escape_markdown(p.section if with_title else short_section(p.section))
        lines.append(f"{n}. [{text}]({link(p)})" if link else f"{n}. {text}")
    return "\n".join(lines)


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
        alert=lambda a: f"!! {ALERT_SR.get(a['kind'], 'Urgent:').upper()} {a['message']}",
        searched=lambda q: f"Searched for: {q}",
        closest=lambda sections: "Closest sections:\n" + "\n".join(f"  - {s}" for s in sections),
        advice=ADVICE,
        passage=lambda n, p: _passage_text(n, p, width),
        provenance=lambda lines: "Source: " + " · ".join(lines),
        disclaimer=DISCLAIMER,
    )
    return "\n\n".join(answer_blocks(answer, layout))
