"""The loader: the article's outline recovered by general layout rules, and awkward inputs.

Expected headings below are the article's own (the spec names them); everything else is derived
from the file, so a wrong span, a lost paragraph or a leaked byline shows up as a failure.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest
from conftest import ARTICLE, AWKWARD, ROOT

from chatbot.corpus.files import Document, load_corpus, load_document
from chatbot.corpus.outline import parse_plain_text

TITLE = "Understanding Refractory Myeloma: Definition, Symptoms, and Treatment"
SECTIONS = [
    "What is Refractory Myeloma?",
    "How is Refractory Myeloma Diagnosed?",
    "What Are the Treatment Options for Refractory Myeloma?",
    "What are the Challenges in Treating Refractory Myeloma?",
    "What are the Latest Advances in Treating Refractory Myeloma?",
]
NOT_CONTENT = [
    "Billy Cobb",
    "Nov 22, 2023",
    "Originally posted",
    "Related Post",
    "Leave a Reply",
    "Your email address will not be published",
    "Required fields are marked",
]


def load(path: Path) -> Document:
    return load_document(path, path.parent)


def raw(path: Path) -> str:
    """The file's text exactly as stored (no newline translation)."""
    with open(path, encoding="utf-8", newline="") as fh:
        return fh.read()


def assert_spans_exact(doc: Document) -> None:
    for p in doc.paragraphs:
        assert doc.text[p.start : p.end] == p.text
        assert p.text == p.text.strip() and p.text


def code_strings(path: Path) -> set[str]:
    """Every string literal of a module except docstrings, stripped of a final colon."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value.strip().rstrip(":")
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    }


def blocks(text: str) -> list[str]:
    return [b.strip() for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]


@pytest.fixture(scope="module")
def article() -> Document:
    return load(ARTICLE)


# --- the article ------------------------------------------------------------------------------


def test_title_is_the_first_line(article: Document) -> None:
    assert raw(ARTICLE).splitlines()[0] == TITLE
    assert article.title == TITLE


def test_exactly_the_five_question_headings_are_sections(article: Document) -> None:
    sections = list(dict.fromkeys(p.path[0] for p in article.paragraphs if p.path))
    assert sections == SECTIONS
    # nothing before the first section: the article's content starts under its first heading
    assert all(p.path for p in article.paragraphs)


@pytest.mark.parametrize(
    "section, subsection",
    [
        ("How is Refractory Myeloma Diagnosed?", "Blood Tests"),
        ("How is Refractory Myeloma Diagnosed?", "Bone Marrow Biopsy"),
        ("What is Refractory Myeloma?", "Primary refractory myeloma"),  # the colon is dropped
        ("What is Refractory Myeloma?", "Secondary refractory myeloma"),
        ("What Are the Treatment Options for Refractory Myeloma?", "Stem Cell Transplantation"),
        ("What are the Latest Advances in Treating Refractory Myeloma?", "New Drugs"),
    ],
)
def test_subsections(article: Document, section: str, subsection: str) -> None:
    under = [p for p in article.paragraphs if p.path == (section, subsection)]
    assert under, f"no paragraph under {section} › {subsection}"
    # the first paragraph under a subsection is the block right after its heading line
    text = raw(ARTICLE)
    heading = re.search(rf"^{re.escape(subsection)}:?$", text, re.MULTILINE)
    assert heading, "the subsection is a line of its own in the article"
    assert text[heading.end() :].lstrip().startswith(under[0].text)


def test_summing_up_paragraphs_are_cited_to_their_section(article: Document) -> None:
    # "To sum it up, ..." and "In conclusion, ..." sum up a whole section: cited to the last
    # subsection, a staff member checking the citation would look in the wrong place.
    summing_up = [p for p in article.paragraphs if re.match(r"(In conclusion|To sum it up),", p.text)]
    assert len(summing_up) == 3
    for p in summing_up:
        assert len(p.path) == 1, (p.path, p.text[:40])
    # ... while the paragraphs just before them stay in their subsections
    for p in summing_up:
        before = article.paragraphs[article.paragraphs.index(p) - 1]
        assert len(before.path) == 2 and before.path[0] == p.path[0]


def test_summing_up_needs_the_phrase_at_the_start() -> None:
    text = (
        "Guide Title\n\nWhat Helps?\n\nRest\n\nSleep matters.\n\n"
        "Overall, rest and food both help.\n\nFood\n\nEat well.\n\n"
        "The overall plan, in conclusion, is yours.\n"
    )
    doc = parse_plain_text(text, "x")
    assert [p.path for p in doc.paragraphs] == [
        ("What Helps?", "Rest"),
        ("What Helps?",),
        ("What Helps?", "Food"),
        ("What Helps?", "Food"),  # "in conclusion" mid-sentence is not a summing-up opening
    ]


def test_paths_have_at_most_two_levels_and_no_colons(article: Document) -> None:
    for p in article.paragraphs:
        assert 1 <= len(p.path) <= 2
        assert not any(part.endswith(":") for part in p.path)


def test_page_furniture_is_in_no_paragraph(article: Document) -> None:
    for p in article.paragraphs:
        for junk in NOT_CONTENT:
            assert junk not in p.text, f"{junk!r} leaked into {p.path}"
        assert TITLE not in p.text  # neither the title nor its repeat below the byline
        assert p.text not in SECTIONS  # a heading is never a passage


def test_every_body_paragraph_is_kept_verbatim(article: Document) -> None:
    # Blocks over 100 characters are body text in this article (headings and byline are short).
    texts = {p.text for p in article.paragraphs}
    body = [b for b in blocks(raw(ARTICLE)) if len(b) > 100]
    assert len(body) >= 30
    missing = [b[:60] for b in body if b not in texts]
    assert not missing
    assert_spans_exact(article)


def test_provenance_from_the_sidecar(article: Document) -> None:
    assert article.provenance.author == "Billy Cobb"
    assert article.provenance.date and "2023" in article.provenance.date


def test_provenance_from_the_byline_without_sidecar(tmp_path: Path) -> None:
    shutil.copy(ARTICLE, tmp_path / ARTICLE.name)
    doc = load(tmp_path / ARTICLE.name)
    assert doc.provenance.author == "Billy Cobb"
    assert doc.provenance.date == "Nov 22, 2023"
    assert doc.provenance.title == TITLE


def test_headings_are_found_by_rules_not_by_a_list(tmp_path: Path) -> None:
    renamed = "Why Does Myeloma Stop Listening?"
    new_sub = "Liquid Biopsy Research"
    text = raw(ARTICLE).replace(SECTIONS[2], renamed).replace("Radiation Therapy\n", new_sub + "\n")
    (tmp_path / "a.txt").write_text(text, encoding="utf-8", newline="")
    doc = load(tmp_path / "a.txt")
    sections = list(dict.fromkeys(p.path[0] for p in doc.paragraphs))
    assert sections == SECTIONS[:2] + [renamed] + SECTIONS[3:]
    assert any(p.path == (renamed, new_sub) for p in doc.paragraphs)
    # and no string in the package's code (docstrings and comments aside) is one of its headings
    headings = {*SECTIONS, "Blood Tests", "Bone Marrow Biopsy", "Stem Cell Transplantation", "New Drugs"}
    for module in sorted((ROOT / "chatbot").rglob("*.py")):
        assert not headings & code_strings(module), module


# --- awkward inputs ---------------------------------------------------------------------------


def test_text_before_the_first_heading_is_kept_outside_sections() -> None:
    doc = load(AWKWARD / "before-heading.txt")
    assert doc.title == "Living With Myeloma"
    first = doc.paragraphs[0]
    assert first.text.startswith("A short introduction comes before any heading.")
    assert first.path == ()
    assert [p.path for p in doc.paragraphs[1:]] == [
        ("What Happens First?",),
        ("What Happens First?", "Blood Work"),
    ]
    assert_spans_exact(doc)


def test_empty_section_is_not_content() -> None:
    # "What is Coming Soon?" is a heading with nothing under it: the next line is another heading.
    doc = load(AWKWARD / "empty-section.txt")
    assert [p.text for p in doc.paragraphs] == [
        "Keep a diary of symptoms. Share it with your care team at every visit."
    ]
    assert doc.paragraphs[0].path == ("What Can I Do Today?",)


def test_section_heading_directly_followed_by_a_subsection(tmp_path: Path) -> None:
    # The same rule seen from the other side: a section may open straight on its first subsection.
    text = (
        "Guide Title\n\nWhat is It?\n\nBlood Tests\n\nThe doctor checks your blood.\n\n"
        "Why Does It Happen?\n\nNobody knows for sure. Research goes on.\n"
    )
    (tmp_path / "g.txt").write_text(text, encoding="utf-8")
    doc = load(tmp_path / "g.txt")
    assert [(p.path, p.text) for p in doc.paragraphs] == [
        (("What is It?", "Blood Tests"), "The doctor checks your blood."),
        (("Why Does It Happen?",), "Nobody knows for sure. Research goes on."),
    ]


def test_unicode_survives_with_exact_spans() -> None:
    doc = load(AWKWARD / "unicode.txt")
    assert doc.title == "Le myélome réfractaire"
    assert [p.path for p in doc.paragraphs] == [
        ("Qu’est-ce que le myélome ?",),
        ("Qu’est-ce que le myélome ?", "Élan Thérapeutique"),
    ]
    joined = " ".join(p.text for p in doc.paragraphs)
    for piece in ("🙂", "💊", "“Réfractaire”", "Zoë’s", "Ångström"):
        assert piece in joined
    assert_spans_exact(doc)


@pytest.mark.parametrize("name", ["before-heading.txt", "unicode.txt", "guide.md", "no-headings.txt"])
def test_crlf_gives_the_same_outline_with_exact_spans(tmp_path: Path, name: str) -> None:
    lf = raw(AWKWARD / name)
    assert "\r" not in lf
    (tmp_path / name).write_bytes(lf.replace("\n", "\r\n").encode("utf-8"))
    crlf_doc, lf_doc = load(tmp_path / name), load(AWKWARD / name)
    assert "\r\n" in crlf_doc.text  # line endings are kept, so spans index the file as stored
    assert crlf_doc.title == lf_doc.title
    assert [p.path for p in crlf_doc.paragraphs] == [p.path for p in lf_doc.paragraphs]
    assert [p.text.replace("\r\n", "\n") for p in crlf_doc.paragraphs] == [p.text for p in lf_doc.paragraphs]
    assert_spans_exact(crlf_doc)


def test_crlf_article_drops_the_byline(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(raw(ARTICLE).replace("\n", "\r\n").encode("utf-8"))
    doc = load(tmp_path / "a.txt")
    assert doc.title == TITLE
    assert doc.provenance.author == "Billy Cobb"
    assert list(dict.fromkeys(p.path[0] for p in doc.paragraphs)) == SECTIONS
    for p in doc.paragraphs:
        assert not any(junk in p.text for junk in NOT_CONTENT)
    assert_spans_exact(doc)


def test_no_headings_all_paragraphs_kept_title_from_file_name() -> None:
    doc = load(AWKWARD / "no-headings.txt")
    assert doc.title == "No headings"
    assert all(p.path == () for p in doc.paragraphs)
    assert [p.text for p in doc.paragraphs] == blocks(raw(AWKWARD / "no-headings.txt"))
    assert_spans_exact(doc)


def test_no_headings_short_first_sentence_is_content_not_title(tmp_path: Path) -> None:
    # A one-line first paragraph that is a sentence (final period) is not a title.
    (tmp_path / "plain-note.txt").write_text(
        "Myeloma is a cancer of plasma cells.\n\nIt is treatable in many cases.\n", encoding="utf-8"
    )
    doc = load(tmp_path / "plain-note.txt")
    assert [p.text for p in doc.paragraphs] == [
        "Myeloma is a cancer of plasma cells.",
        "It is treatable in many cases.",
    ]
    assert doc.title == "Plain note"


def test_markdown_heading_levels_nest() -> None:
    doc = load(AWKWARD / "guide.md")
    assert doc.title == "Myeloma Guide"
    assert [(p.path, p.text) for p in doc.paragraphs] == [
        ((), "An opening paragraph under the title."),
        (("Diagnosis",), "Doctors use blood tests and a bone marrow biopsy."),
        (("Diagnosis", "Blood Tests"), "A complete blood count looks for abnormal cells.\nIt is quick."),
        (("Diagnosis", "Imaging"), "Scans show the bones."),
        (("Treatment",), "Text right under a heading, with no blank line in between."),  # closing #s dropped
    ]
    assert_spans_exact(doc)


def test_markdown_text_before_the_first_heading_is_kept() -> None:
    doc = load(AWKWARD / "preface.md")
    assert doc.paragraphs[0].text.startswith("Draft notes kept before the first heading.")
    assert doc.paragraphs[0].path == ()
    body = doc.paragraphs[-1]
    assert body.text == "The body of the only section."
    assert body.path[-1] == "Only Section"
    assert all("#" not in p.text for p in doc.paragraphs)
    assert_spans_exact(doc)


def test_bom_does_not_leak_into_title_or_text() -> None:
    path = AWKWARD / "bom.txt"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    doc = load(path)
    assert doc.title == "Bom Article"
    assert "\ufeff" not in doc.text
    # spans index the text as decoded without the BOM (utf-8-sig), which is what doc.text holds
    assert doc.text == path.read_bytes().decode("utf-8-sig")
    assert [p.path for p in doc.paragraphs] == [("What Does BOM Mean?",)]
    assert_spans_exact(doc)


def test_long_line_ending_with_colon_is_a_sentence_not_a_heading() -> None:
    doc = load(AWKWARD / "colon-sentence.txt")
    intro = "Refractory myeloma can also be classified by doctors into two broad categories:"
    assert [(p.path, p.text) for p in doc.paragraphs][0] == (("Overview",), intro)
    assert all(p.path == ("Overview",) for p in doc.paragraphs)
    # ... while a short label line with a colon is a heading (the article's "Primary ...:")
    outline = parse_plain_text("T\n\nIntro Section\n\nText here.\n\nShort label:\n\nBody text.\n", "F")
    assert outline.paragraphs[-1].path == ("Intro Section", "Short label")


@pytest.mark.parametrize("content", [b"", b"\n\n   \n", b"\xef\xbb\xbf"])
def test_empty_file_loads_with_no_paragraphs(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "blank-page.txt").write_bytes(content)
    doc = load(tmp_path / "blank-page.txt")
    assert doc.paragraphs == ()
    assert doc.title == "Blank page"


def test_whole_awkward_corpus_loads_in_a_stable_order() -> None:
    sources = [d.source for d in load_corpus(AWKWARD)]
    assert sources == sorted(sources)
    assert {Path(s).suffix for s in sources} == {".txt", ".md"}
    assert "empty.txt" not in sources  # an empty file is reported (scan_corpus), not loaded
