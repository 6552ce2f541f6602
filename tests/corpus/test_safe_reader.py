"""A corpus reader that is safe on any folder: links out of the folder are refused by name and
target (files, folders, dangling ones, sidecars), links inside keep working and loops end; a web
page's hidden text never becomes document text, and style sheet rules that hide are named."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from chatbot.corpus.files import (
    Problem,
    corpus_files,
    corpus_hash,
    load_document,
    read_file,
    scan_corpus,
)
from chatbot.corpus.html import hides, hiding_rules, parse_html
from chatbot.errors import CorpusError

SECRET = "root:x:0:0:root:/root:/bin/bash"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the corpus, holding what must never be read: a passwd-like file and a
    folder of documents."""
    folder = tmp_path / "outside"
    (folder / "docs").mkdir(parents=True)
    (folder / "passwd").write_text(f"{SECRET}\ndaemon:x:1:1:daemon:/usr/sbin\n", encoding="utf-8")
    (folder / "docs" / "leak.md").write_text(f"# Leak\n\n{SECRET} leaked.\n", encoding="utf-8")
    return folder


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    (folder / "kept.md").write_text("# Kept\n\nThe quokka paragraph stays.\n", encoding="utf-8")
    (folder / "sub" / "inner.md").write_text("# Inner\n\nThe wombat paragraph stays.\n", encoding="utf-8")
    return folder


def refusal(target: Path, what: str = "file") -> str:
    return (
        f"a link to the {what} {os.path.realpath(target)}, outside the corpus folder: not read. "
        "Copy it into the folder if it belongs in the corpus"
    )


def all_text(folder: Path) -> str:
    return "\n".join(d.text + d.title + d.provenance.line() for d in scan_corpus(folder).documents)


# --- links ----------------------------------------------------------------------------------------


def test_a_link_to_a_file_outside_is_refused_naming_it_and_its_target(corpus: Path, outside: Path) -> None:
    (corpus / "notes.txt").symlink_to(outside / "passwd")
    (corpus / "sub" / "deep.md").symlink_to(outside / "passwd")
    scan = scan_corpus(corpus)
    assert sorted(d.source for d in scan.documents) == ["kept.md", "sub/inner.md"]
    assert scan.problems == (
        Problem("notes.txt", refusal(outside / "passwd")),
        Problem("sub/deep.md", refusal(outside / "passwd")),
    )
    assert SECRET not in all_text(corpus)
    assert corpus / "notes.txt" not in corpus_files(corpus)
    # Read directly, the file is refused too: no caller of the reader can be led out of the folder.
    assert read_file(corpus / "notes.txt", corpus, 10**6) == ([], [scan.problems[0]])
    with pytest.raises(CorpusError, match="notes.txt: a link to the file .*outside the corpus folder"):
        load_document(corpus / "notes.txt", corpus)


def test_the_bytes_behind_a_refused_link_are_never_read(corpus: Path, outside: Path) -> None:
    (corpus / "notes.txt").symlink_to(outside / "passwd")
    before = corpus_hash(corpus)
    (outside / "passwd").write_text("changed, and longer than before\n", encoding="utf-8")
    assert corpus_hash(corpus) == before  # the change detector does not open it either
    (corpus / "notes.txt").unlink()
    assert corpus_hash(corpus) != before  # but the link itself counts: removing it is a change


def test_a_linked_folder_outside_is_refused_and_nothing_in_it_is_read(corpus: Path, outside: Path) -> None:
    (corpus / "shared").symlink_to(outside / "docs", target_is_directory=True)
    (corpus / "sub" / "up").symlink_to(outside, target_is_directory=True)
    scan = scan_corpus(corpus)
    assert sorted(d.source for d in scan.documents) == ["kept.md", "sub/inner.md"]
    assert scan.problems == (
        Problem("shared", refusal(outside / "docs", "folder")),
        Problem("sub/up", refusal(outside, "folder")),
    )
    assert SECRET not in all_text(corpus)


def test_a_dangling_link_out_of_the_folder_is_refused_not_reported_missing(
    corpus: Path, tmp_path: Path
) -> None:
    (corpus / "gone.md").symlink_to(tmp_path / "nowhere.md")
    (corpus / "missing.md").symlink_to(corpus / "nowhere.md")
    problems = {str(p) for p in scan_corpus(corpus).problems}
    assert problems == {
        f"gone.md: {refusal(tmp_path / 'nowhere.md')}",
        "missing.md: cannot be read (No such file or directory)",
    }


def test_a_sidecar_linked_from_outside_is_refused(corpus: Path, tmp_path: Path) -> None:
    meta = tmp_path / "leak.meta.json"
    meta.write_text('{"title": "Leaked title", "author": "Someone else"}', encoding="utf-8")
    (corpus / "kept.meta.json").symlink_to(meta)
    scan = scan_corpus(corpus)
    assert [d.source for d in scan.documents] == ["sub/inner.md"]
    assert [str(p) for p in scan.problems] == [f"kept.md: kept.meta.json is {refusal(meta)}, and re-index."]
    assert "Leaked" not in all_text(corpus)


def test_links_inside_the_folder_keep_working_and_loops_end(corpus: Path) -> None:
    (corpus / "alias.md").symlink_to(corpus / "sub" / "inner.md")  # a file link inside
    (corpus / "relative.md").symlink_to(Path("sub") / "inner.md")
    (corpus / "mirror").symlink_to(corpus / "sub", target_is_directory=True)  # read under sub/ once
    (corpus / "sub" / "back").symlink_to(corpus, target_is_directory=True)  # a folder loop
    (corpus / "a.md").symlink_to(corpus / "b.md")  # a file loop
    (corpus / "b.md").symlink_to(corpus / "a.md")
    scan = scan_corpus(corpus)
    assert [d.source for d in scan.documents] == ["alias.md", "kept.md", "relative.md", "sub/inner.md"]
    assert "The wombat paragraph stays." in scan.documents[0].text
    assert {str(p) for p in scan.problems} == {
        "a.md: cannot be read (Too many levels of symbolic links)",
        "b.md: cannot be read (Too many levels of symbolic links)",
    }


def test_the_corpus_folder_may_itself_be_a_link(corpus: Path, tmp_path: Path) -> None:
    (tmp_path / "current").symlink_to(corpus, target_is_directory=True)
    scan = scan_corpus(tmp_path / "current")
    assert sorted(d.source for d in scan.documents) == ["kept.md", "sub/inner.md"]
    assert scan.problems == ()


# --- hidden web-page text -------------------------------------------------------------------------

HIDING = [
    '<p style="display:none">SECRET</p>',
    '<p style="color: red; DISPLAY : None !important">SECRET</p>',
    '<div style="visibility:hidden"><p>SECRET</p></div>',
    '<p style="visibility: collapse">SECRET</p>',
    '<p style="d\\69splay: \\6e one">SECRET</p>',  # CSS escapes, as a browser decodes them
    '<p style="/* x */display:/* y */none">SECRET</p>',
    "<p hidden>SECRET</p>",
    '<p hidden="until-found">SECRET</p>',
    '<span aria-hidden="true">SECRET</span>',
    '<span aria-hidden=" TRUE ">SECRET</span>',
    "<dialog>SECRET</dialog>",
    "<script>var s = 'SECRET';</script>",
    "<template><p>SECRET</p><div>SECRET</div></template>",
    "<noscript><p>SECRET</p></noscript>",
    "<noscript>SECRET <b>SECRET</b></noscript>",
    '<div hidden><body><p>SECRET</p></body></div>',  # a second <body> does not end the hiding
    '<div style="display:none"><div><div>SECRET</div></div> SECRET</div>',
]


@pytest.mark.parametrize("markup", HIDING)
def test_hidden_text_is_dropped_and_the_rest_kept(markup: str) -> None:
    page = f"<html><body><h1>Page</h1><p>Before it.</p>{markup}<p>After it.</p></body></html>"
    text, outline = parse_html(page, "fallback")
    assert "SECRET" not in text
    assert text == "Page\n\nBefore it.\n\nAfter it."
    assert [p.text for p in outline.paragraphs] == ["Before it.", "After it."]


@pytest.mark.parametrize(
    "markup",
    [
        '<p style="display: block; visibility: visible">Shown.</p>',
        '<p style="position:absolute; left:-9999px">Shown.</p>',  # screen-reader text is read
        '<p aria-hidden="false">Shown.</p>',
        "<dialog open>Shown.</dialog>",
        '<p class="x" data-style="display:none">Shown.</p>',
    ],
)
def test_visible_text_is_not_taken_for_hidden(markup: str) -> None:
    text, _ = parse_html(f"<body><h1>Page</h1>{markup}</body>", "fallback")
    assert text == "Page\n\nShown."


def test_hidden_markup_that_never_closes_does_not_swallow_the_page() -> None:
    page = (
        '<body><h1>Page</h1><p style="display:none">SECRET<p>Next paragraph.</p>'
        '<p>Line one<br hidden>still line one<img hidden src="x.png"> and on.</p>'
        '<p hidden>SECRET<h2>Section</h2><p>Under the section.</p></body>'
    )
    text, outline = parse_html(page, "fallback")
    assert "SECRET" not in text
    assert [(p.path, p.text) for p in outline.paragraphs] == [
        ((), "Next paragraph."),
        ((), "Line onestill line one and on."),
        (("Section",), "Under the section."),
    ]


def test_the_title_of_an_icon_or_of_hidden_markup_is_not_the_page_title() -> None:
    page = '<svg><title>SECRET icon</title></svg><div hidden><title>SECRET</title></div><p>Text.</p>'
    _, outline = parse_html(page, "Fallback title")
    assert outline.title == "Fallback title"


def test_style_sheet_rules_that_hide_are_named_and_the_page_is_still_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sheet = (
        ".promo { display: none } p { color: red } #tracker, .ad{visibility:hidden!important}"
        "@media print { nav.menu { display : none } } .shown { display: block }"
    )
    assert hiding_rules(sheet) == [".promo", "#tracker, .ad", "nav.menu"]
    page = f"<html><head><style>{sheet}</style></head><body><h1>Page</h1><p>Kept text.</p></body></html>"
    (tmp_path / "page.html").write_text(page, encoding="utf-8")
    caplog.set_level(logging.WARNING, logger="chatbot.corpus")
    scan = scan_corpus(tmp_path)
    assert [d.text for d in scan.documents] == ["Page\n\nKept text."] and scan.problems == ()
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "chatbot.corpus"]
    assert warning.startswith("page.html: its <style> hides `.promo`, `#tracker, .ad`, `nav.menu`, which")
    assert "hidden attribute" in warning  # the fix


def test_a_page_whose_style_hides_nothing_gives_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "page.html").write_text(
        "<style>p { color: red } .menu { display: flex }</style><h1>Page</h1><p>Text.</p>", encoding="utf-8"
    )
    caplog.set_level(logging.WARNING, logger="chatbot.corpus")
    assert [d.text for d in scan_corpus(tmp_path).documents] == ["Page\n\nText."]
    assert [r for r in caplog.records if r.name == "chatbot.corpus"] == []


def test_reading_a_hostile_style_sheet_stays_linear() -> None:
    assert hides("display:none") and not hides("display:inline")
    started = time.perf_counter()
    # Long runs between braces that never close: a pattern over the whole sheet backtracks here.
    assert hiding_rules(("a" * 200_000 + "{") * 10 + "}") == []
    assert time.perf_counter() - started < 5.0  # measured 0.01 s
