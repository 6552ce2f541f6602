"""Every kind of corpus file, and every kind of bad one: web pages, record files (BEIR-style
JSONL), and files that are empty, not UTF-8, binary, unreadable or too large. A bad file is one
problem that names it; the rest of the corpus still loads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import AWKWARD

from chatbot.corpus.files import Document, Problem, load_document, read_file, scan_corpus
from chatbot.corpus.html import parse_html
from chatbot.errors import CorpusError
from chatbot.indexing.chunking import chunk_document

PAGE = """<!DOCTYPE html>
<html><head><title>Head title</title><style>p { color: red }</style>
<script>var tracking = "script text";</script></head>
<body>
<header><a href="/">Home</a> <h1>Living <em>with</em> myeloma</h1></header>
<nav><ul><li>Menu item</li></ul></nav>
<main>
<p>An introduction that comes before any section &amp; sets the scene.</p>
<h2>Treatment</h2>
<p>Doctors use several drugs.
   The choice depends on earlier treatment.</p>
<h3>Stem cells</h3>
<ul><li>A transplant replaces the marrow.</li><li>It needs a donor or your own cells.</li></ul>
<div hidden>Hidden text.</div>
<aside>Advertisement text.</aside>
<h2>Outlook</h2>
<p>Many people live for years.<br>New drugs keep arriving.</p>
</main>
<footer>Copyright footer text.</footer>
</body></html>
"""


def records(*rows: object) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode() + b"\n"


# --- web pages ------------------------------------------------------------------------------------


def test_html_outline_title_sections_and_dropped_furniture() -> None:
    text, outline = parse_html(PAGE, "fallback")
    assert outline.title == "Living with myeloma"  # the <h1>, even inside the dropped <header>
    paths = [(p.path, p.text) for p in outline.paragraphs]
    assert paths[0] == ((), "An introduction that comes before any section & sets the scene.")
    assert paths[1] == (("Treatment",), "Doctors use several drugs. The choice depends on earlier treatment.")
    assert paths[2] == (("Treatment", "Stem cells"), "- A transplant replaces the marrow.")
    assert paths[4] == (("Outlook",), "Many people live for years.\nNew drugs keep arriving.")
    for dropped in ("script text", "color", "Menu item", "Home", "Hidden", "Advertisement", "Copyright"):
        assert dropped not in text, dropped
    for p in outline.paragraphs:
        assert text[p.start : p.end] == p.text


def test_html_title_falls_back_to_title_element_then_file_name() -> None:
    assert parse_html("<title> Page  title </title><p>Body text here.</p>", "fb")[1].title == "Page title"
    assert parse_html("<p>Body text here.</p>", "From the file")[1].title == "From the file"


def test_html_page_never_closing_its_head_still_has_a_body() -> None:
    text, outline = parse_html("<html><head><title>T</title><body><p>Content here.</p>", "fb")
    assert [p.text for p in outline.paragraphs] == ["Content here."]
    assert outline.title == "T"


def test_html_document_spans_point_into_the_extracted_text(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text(PAGE, encoding="utf-8")
    doc = load_document(tmp_path / "page.html", tmp_path)
    assert doc.title == "Living with myeloma"
    chunks = chunk_document(doc)
    assert chunks and {c.section for c in chunks} >= {("Treatment",), ("Outlook",)}
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert c.citation.startswith("Living with myeloma")


# --- record files ----------------------------------------------------------------------------------


def test_each_record_is_a_document_citing_its_title(tmp_path: Path) -> None:
    (tmp_path / "faq.jsonl").write_bytes(
        records(
            {"_id": "q1", "title": "What is anemia?", "text": "Anemia is a lack of red cells. It tires you."},
            {"_id": 2, "title": "", "text": "A record without a title.", "metadata": {"author": "NIH"}},
        )
    )
    docs, problems = read_file(tmp_path / "faq.jsonl", tmp_path, 10**6)
    assert problems == []
    assert [d.source for d in docs] == ["faq.jsonl#q1", "faq.jsonl#2"]
    assert docs[0].title == "What is anemia?" and docs[1].title == "faq.jsonl#2"
    assert docs[1].provenance.author == "NIH"
    for doc in docs:
        for c in chunk_document(doc):
            assert doc.text[c.start : c.end] == c.text and c.source == doc.source


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not JSON"),
        ('["a", "list"]', "expected an object"),
        ({"title": "no id", "text": "Some text."}, '"_id"'),
        ({"_id": "x", "title": "no text"}, '"text"'),
        ({"_id": "x", "text": "   "}, '"text"'),
        ({"_id": "x", "text": "Text.", "metadata": "not an object"}, '"metadata"'),
        ({"_id": "a", "text": "The same id again."}, 'duplicate _id "a" (first on line 1)'),
    ],
)
def test_a_bad_line_is_skipped_with_its_line_number(tmp_path: Path, line: object, reason: str) -> None:
    first = {"_id": "a", "title": "Good", "text": "A good record."}
    last = {"_id": "z", "title": "Also good", "text": "Another good record."}
    (tmp_path / "faq.jsonl").write_bytes(records(first, line, last))
    docs, problems = read_file(tmp_path / "faq.jsonl", tmp_path, 10**6)
    assert [d.source for d in docs] == ["faq.jsonl#a", "faq.jsonl#z"]
    (problem,) = problems
    assert problem.where == "faq.jsonl:2" and reason in problem.reason


def test_a_line_that_is_not_utf8_is_skipped(tmp_path: Path) -> None:
    good = records({"_id": "a", "text": "Fine."})
    (tmp_path / "faq.jsonl").write_bytes(
        good + b'{"_id": "b", "text": "caf\xe9"}\n' + good.replace(b"a", b"c")
    )
    docs, problems = read_file(tmp_path / "faq.jsonl", tmp_path, 10**6)
    assert len(docs) == 2 and problems == [Problem("faq.jsonl:2", "not UTF-8 text")]


# --- bad files --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty file"),
        ("blank.md", b"\n  \n\t\n", "empty file"),
        ("bom-only.txt", b"\xef\xbb\xbf", "empty file"),
        ("latin1.txt", "Café au lait.".encode("latin-1"), "not UTF-8 text"),
        ("utf16.txt", "Hello".encode("utf-16"), "UTF-16 text, not UTF-8"),
        ("image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("page.html", b"<html><script>only()</script><nav>menu</nav></html>", "no text left"),
        ("records.jsonl", b"\n\n", "empty file (no records)"),
        ("records2.jsonl", b"\x00\x01\x02", "binary file"),
    ],
)
def test_bad_file_is_one_problem_naming_it(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    (tmp_path / name).write_bytes(content)
    docs, problems = read_file(tmp_path / name, tmp_path, 10**6)
    assert docs == []
    (problem,) = problems
    assert problem.where == name and reason in problem.reason
    assert "\n" not in str(problem)


def test_file_over_the_size_limit_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "big.txt").write_text("Big\n\nA paragraph of text. " * 100, encoding="utf-8")

    def no_reading(self: Path) -> bytes:
        raise AssertionError("a file over the limit must not be read")

    monkeypatch.setattr(Path, "read_bytes", no_reading)
    docs, problems = read_file(tmp_path / "big.txt", tmp_path, 1000)
    assert docs == [] and "over the 0.001 MB limit" in problems[0].reason
    assert "--max-file-mb" in problems[0].reason


def test_unreadable_file_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "locked.txt").write_text("Locked\n\nText.", encoding="utf-8")
    real = Path.read_bytes

    def denied(self: Path) -> bytes:
        if self.name == "locked.txt":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    _, problems = read_file(tmp_path / "locked.txt", tmp_path, 10**6)
    assert problems == [Problem("locked.txt", "cannot be read (Permission denied)")]


def test_the_rest_of_the_corpus_is_read_past_bad_files(tmp_path: Path) -> None:
    corpus = Path(shutil.copytree(AWKWARD, tmp_path / "corpus"))
    (corpus / "page.html").write_text(PAGE, encoding="utf-8")
    (corpus / "faq.jsonl").write_bytes(records({"_id": "1", "title": "T", "text": "Text."}, "{oops"))
    (corpus / "latin1.txt").write_bytes("Café.".encode("latin-1"))
    (corpus / "dangling.md").symlink_to(corpus / "gone.md")
    scan = scan_corpus(corpus)
    sources = [d.source for d in scan.documents]
    assert "page.html" in sources and "faq.jsonl#1" in sources and "guide.md" in sources
    assert sources == sorted(sources)
    assert {str(p) for p in scan.problems} == {
        "dangling.md: cannot be read (No such file or directory)",
        "empty.txt: empty file",
        "faq.jsonl:2: not JSON (Expecting property name enclosed in double quotes at column 2)",
        "latin1.txt: not UTF-8 text (bad byte at offset 3); save it as UTF-8",
    }


def test_load_document_still_raises_for_a_bad_file(tmp_path: Path) -> None:
    (tmp_path / "latin1.txt").write_bytes("Café.".encode("latin-1"))
    with pytest.raises(CorpusError, match="latin1.txt: not UTF-8"):
        load_document(tmp_path / "latin1.txt", tmp_path)


def test_htm_is_a_web_page_too(tmp_path: Path) -> None:
    (tmp_path / "page.htm").write_text(PAGE, encoding="utf-8")
    docs, _ = read_file(tmp_path / "page.htm", tmp_path, 10**6)
    assert isinstance(docs[0], Document) and docs[0].source == "page.htm"
