"""The "Read the article" page: every section as an anchor, the cited passage marked, text escaped."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from webserver import UNSAFE_NAME, corpus_with_unsafe_page, fake_engine_for

from chatbot.web.article import (
    ArticleNotFoundError,
    Mark,
    article_url,
    document_chunks,
    parse_mark,
    render_article,
    render_contents,
    section_anchor,
    text_digest,
)

ARTICLE = "refractory-myeloma.txt"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("article")
    return fake_engine_for(corpus_with_unsafe_page(folder), folder / "index")


def test_every_section_of_every_chunk_has_its_anchor(engine: Any) -> None:
    page = render_article(engine.index, ARTICLE)
    ids = re.findall(r'<h[2-6] id="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    for chunk in document_chunks(engine.index, ARTICLE):
        assert f'id="{section_anchor(chunk.citation)}"' in page
    assert "<h2 id=" in page and "<h3 id=" in page  # sections and subsections
    assert page.count("<mark") == 0


def test_a_citation_link_marks_exactly_its_passage(engine: Any) -> None:
    answer = engine.ask("How is a bone marrow biopsy done?")
    p = answer.passages[0]
    url = article_url(p.source, p.section, p.start, p.end, p.text)
    parts = urlsplit(url)
    assert parts.path == "/article" and parts.fragment == section_anchor(p.section)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    page = render_article(engine.index, params["source"], parse_mark(params))
    marked = "".join(re.findall(r"<mark[^>]*>(.*?)</mark>", page, flags=re.S))
    assert " ".join(marked.split()) == " ".join(p.text.split())
    assert page.count('id="passage"') == 1
    # the marked passage comes after its section's heading
    assert page.index(f'id="{parts.fragment}"') < page.index('id="passage"')


def test_a_stale_link_marks_nothing_and_says_so(engine: Any) -> None:
    p = engine.ask("How is a bone marrow biopsy done?").passages[0]
    page = render_article(engine.index, p.source, Mark(p.start, p.end, "0" * 12))
    assert "<mark" not in page and "has changed since" in page
    page = render_article(engine.index, p.source, Mark(10**9, 10**9 + 5))
    assert "<mark" not in page


def test_html_in_the_corpus_is_escaped(engine: Any) -> None:
    page = render_article(engine.index, UNSAFE_NAME)
    assert "<img" not in page and "<script>" not in page
    assert "&lt;img src=https://example.com/x.png&gt;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_unknown_documents_are_refused(engine: Any) -> None:
    with pytest.raises(ArticleNotFoundError, match="No document"):
        render_article(engine.index, "../../etc/passwd")


def test_contents_lists_every_document(engine: Any) -> None:
    page = render_contents(engine.index)
    assert "source=refractory-myeloma.txt" in page and "source=unsafe.md" in page


@pytest.mark.parametrize(
    "params",
    [{}, {"start": "x", "end": "4"}, {"start": "5", "end": "5"}, {"start": "-1", "end": "3"}],
)
def test_malformed_marks_are_ignored(params: dict[str, str]) -> None:
    assert parse_mark(params) is None


def test_anchors_are_stable_ascii_and_distinct() -> None:
    a = section_anchor("Title › Treatment › Stem Cell Transplantation")
    assert a == section_anchor("Title › Treatment › Stem Cell Transplantation")
    assert re.fullmatch(r"s-stem-cell-transplantation-[0-9a-f]{6}", a)
    assert a != section_anchor("Other › Treatment › Stem Cell Transplantation")
    assert re.fullmatch(r"s-[a-z0-9-]+", section_anchor("Título › Café — ☕"))
    assert text_digest("abc") == text_digest("abc") != text_digest("abd")


def test_url_is_safe_inside_a_markdown_link(tmp_path: Path) -> None:
    url = article_url("folder/a file (1).md", "T › S", 0, 5, "hello")
    assert " " not in url and "(" not in url and ")" not in url


def test_a_citation_link_marks_its_answering_sentence_within_the_passage(engine: Any) -> None:
    p = engine.ask("How is a bone marrow biopsy done?").passages[0]
    (s, e), *_ = p.highlights
    url = article_url(p.source, p.section, p.start, p.end, p.text, (s, e))
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert (int(params["ss"]), int(params["se"])) == (p.start + s, p.start + e)
    page = render_article(engine.index, p.source, parse_mark(params))
    answering = re.findall(r'<span class="answer">(.*?)</span>', page, flags=re.S)
    assert len(answering) == 1 and " ".join(answering[0].split()) == " ".join(p.text[s:e].split())
    assert page.index('id="passage"') < page.index('<span class="answer">') < page.index("</mark>")
    # a sentence outside the passage is not marked; the passage still is
    outside = dict(params, ss=str(p.end + 5), se=str(p.end + 9))
    page = render_article(engine.index, p.source, parse_mark(outside))
    assert 'class="answer"' not in page and 'id="passage"' in page


def test_the_article_says_how_to_get_back_to_the_conversation(engine: Any) -> None:
    p = engine.ask("How is a bone marrow biopsy done?").passages[0]
    page = render_article(engine.index, p.source, Mark(p.start, p.end))
    assert "close this tab to go back to it" in page and '<a href="/">start a new chat</a>' in page
