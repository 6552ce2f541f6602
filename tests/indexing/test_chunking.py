"""Chunk invariants on the article and the awkward corpus, and the sentence splitter's edge cases.

The checks are written from the contract (one section per chunk, exact spans, sentence
boundaries, about 800 characters, stable ids), not from a list of expected chunks.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from conftest import ARTICLE, AWKWARD, CORPUS

from chatbot.corpus.files import Document, load_corpus, load_document
from chatbot.indexing.chunking import Chunk, ChunkSettings, chunk_corpus, chunk_document, sentence_spans

MAX_CHARS = ChunkSettings().max_chars
OPENERS = "\"“‘'(["
CLOSERS = "\"”’')]"


def load(path: Path) -> Document:
    return load_document(path, path.parent)


def awkward_docs(tmp_path: Path) -> list[Document]:
    """Every awkward fixture, plus CRLF copies of them (generated, so git cannot normalise them)."""
    crlf = tmp_path / "crlf"
    crlf.mkdir()
    for path in AWKWARD.iterdir():
        (crlf / path.name).write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    return list(load_corpus(AWKWARD)) + list(load_corpus(crlf))


def ends_a_sentence(text: str) -> bool:
    return text.rstrip(CLOSERS)[-1:] in (".", "!", "?")


def check_chunks(doc: Document, chunks: list[Chunk], max_chars: int = MAX_CHARS) -> None:
    """Every invariant the issue asks of a chunk, checked against the document it came from.

    No chunk passes `max_chars`. A sentence that alone is longer is cut between words: a chunk
    may then start after a space inside it, or end before one, rather than at a sentence end."""
    long_ones = [
        (s, e) for p in doc.paragraphs for s, e in sentence_spans(p.text, p.start) if e - s > max_chars
    ]

    def inside_long(at: int) -> bool:
        return any(s < at < e for s, e in long_ones)

    covered = [0] * len(doc.text)
    for c in chunks:
        assert (c.source, c.title) == (doc.source, doc.title)
        assert doc.text[c.start : c.end] == c.text, "span is not exact"
        assert len(c.text) <= max_chars, f"{len(c.text)}: {c.text[:60]!r}"
        # one section: every paragraph the chunk touches has the chunk's section path
        touched = [p for p in doc.paragraphs if p.start < c.end and c.start < p.end]
        assert touched and {p.path for p in touched} == {c.section}
        assert touched[0].start <= c.start and c.end <= touched[-1].end
        # only whitespace between the paragraphs it joins: nothing the loader dropped comes back
        for a, b in zip(touched, touched[1:], strict=False):
            assert not doc.text[a.end : b.start].strip(), f"dropped text inside a chunk: {c.text!r}"
        if inside_long(c.start):  # a piece of a long sentence starts at a word
            assert doc.text[c.start - 1].isspace() and not c.text[0].isspace(), c.text[:40]
        else:  # starts a sentence: the first character opens one, and what precedes ends one
            assert c.text[0].isupper() or c.text[0].isdigit() or c.text[0] in OPENERS, c.text[:40]
            if c.start != touched[0].start:
                assert doc.text[c.start - 1].isspace() and ends_a_sentence(doc.text[: c.start].rstrip())
        if inside_long(c.end):  # ... and ends at one
            assert doc.text[c.end].isspace() and not c.text[-1].isspace(), c.text[-40:]
        else:  # ends a sentence, or ends where its paragraph ends
            assert ends_a_sentence(c.text) or c.end == touched[-1].end, c.text[-40:]
        for i in range(c.start, c.end):
            covered[i] += 1
    assert max(covered, default=0) <= 1, "chunks overlap"
    for p in doc.paragraphs:  # no content lost
        lost = [doc.text[i] for i in range(p.start, p.end) if not covered[i] and not doc.text[i].isspace()]
        assert not lost, f"text of {p.path} is in no chunk"


@pytest.fixture(scope="module")
def article() -> Document:
    return load(ARTICLE)


def test_article_chunks_keep_every_invariant(article: Document) -> None:
    chunks = chunk_document(article)
    check_chunks(article, chunks)
    # passages a patient reads at a glance: neither the whole section nor single lines
    assert len(chunks) >= 15
    assert {c.section[0] for c in chunks} == {p.path[0] for p in article.paragraphs}


def test_awkward_chunks_keep_every_invariant(tmp_path: Path) -> None:
    docs = awkward_docs(tmp_path)
    # every fixture but empty.txt, which the loader reports as a problem rather than loading
    assert len(docs) == 2 * (len(list(AWKWARD.iterdir())) - 1)
    for doc in docs:
        check_chunks(doc, chunk_document(doc))


def test_chunks_of_a_small_section_join_paragraphs_not_sections() -> None:
    doc = load(AWKWARD / "guide.md")
    chunks = chunk_document(doc)
    # "Blood Tests" and "Imaging" are both short, but they are different subsections
    assert [c.section for c in chunks] == list(dict.fromkeys(p.path for p in doc.paragraphs))


def test_dropped_boilerplate_between_paragraphs_stays_out_of_chunks(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(
        "Some Title\n\nWhat is It?\n\nFirst paragraph here. It is short.\n\nPosted in News\n\n"
        "Second paragraph here. Also short.\n",
        encoding="utf-8",
    )
    doc = load(tmp_path / "a.txt")
    assert all("Posted in" not in p.text for p in doc.paragraphs)  # the loader drops the line...
    chunks = chunk_document(doc)
    assert all("Posted in" not in c.text for c in chunks)  # ...and no passage brings it back
    check_chunks(doc, chunks)


def test_ids_are_stable_across_runs_and_unique() -> None:
    first = chunk_corpus(load_corpus(CORPUS))
    second = chunk_corpus(load_corpus(CORPUS))
    assert [c.id for c in first] == [c.id for c in second]
    awkward = chunk_corpus(load_corpus(AWKWARD))
    ids = [c.id for c in first + awkward]
    assert len(ids) == len(set(ids))


def test_repeated_text_gets_distinct_ids(tmp_path: Path) -> None:
    para = "The same sentence is repeated here. " * 15  # 540 chars: too long to join with its twin
    (tmp_path / "r.txt").write_text(f"Title\n\nPart One\n\n{para}\n\n{para}\n", encoding="utf-8")
    chunks = chunk_document(load(tmp_path / "r.txt"))
    assert len(chunks) == 2 and chunks[0].text == chunks[1].text
    assert chunks[0].id != chunks[1].id


def test_ids_change_with_the_text_and_only_there(tmp_path: Path) -> None:
    shutil.copy(ARTICLE, tmp_path / ARTICLE.name)
    before = chunk_document(load(tmp_path / ARTICLE.name))
    text = ARTICLE.read_text(encoding="utf-8")
    edited = text.replace("from the hip bone of the patient", "from the pelvic bone of the patient")
    assert edited != text
    (tmp_path / ARTICLE.name).write_text(edited, encoding="utf-8")
    after = chunk_document(load(tmp_path / ARTICLE.name))
    assert len(before) == len(after)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b.text != a.text]
    assert len(changed) == 1 and "pelvic" in changed[0][1].text
    assert changed[0][0].id != changed[0][1].id
    same = [(b.id, a.id) for b, a in zip(before, after, strict=True) if b.text == a.text]
    assert all(b == a for b, a in same)


def long_paragraph(
    n_chars: int, sentence: str = "Sentence {i} explains how plasma cells grow in the marrow."
) -> str:
    parts, i = [], 0
    while sum(len(p) + 1 for p in parts) < n_chars:
        parts.append(sentence.format(i=i))
        i += 1
    return " ".join(parts)


def test_a_3000_char_paragraph_is_split_at_sentence_ends(tmp_path: Path) -> None:
    para = long_paragraph(3000)
    (tmp_path / "long.txt").write_text(f"Long Note\n\nThe Only Section\n\n{para}\n", encoding="utf-8")
    doc = load(tmp_path / "long.txt")
    chunks = chunk_document(doc)
    check_chunks(doc, chunks)
    assert len(chunks) >= 4  # 3000 / 800
    assert " ".join(c.text for c in chunks) == para  # cut only at the spaces between sentences
    longest = max(len(s) for s in para.split(". "))
    for c in chunks[:-1]:  # pieces are filled, not cut needlessly small
        assert len(c.text) > MAX_CHARS - longest - 2


def test_a_single_sentence_longer_than_the_limit_is_cut_between_words(tmp_path: Path) -> None:
    giant = "This sentence " + "goes on and on, " * 60 + "and ends here."
    assert len(giant) > MAX_CHARS
    (tmp_path / "g.txt").write_text(f"Title\n\nSection\n\nShort one. {giant} Tail.\n", encoding="utf-8")
    doc = load(tmp_path / "g.txt")
    chunks = chunk_document(doc)
    check_chunks(doc, chunks)
    assert " ".join(c.text for c in chunks) == f"Short one. {giant} Tail."  # cut only at spaces
    # The long sentence opens a passage of its own, at its start, and its pieces are filled.
    assert chunks[0].text == "Short one." and chunks[1].text.startswith("This sentence goes on")
    assert len(chunks[1].text) > MAX_CHARS - len("goes on and on, ")


def test_a_2mb_paragraph_without_full_stops_keeps_the_bound(tmp_path: Path) -> None:
    sentence = "plasma cells grow in the marrow and crowd out the healthy blood cells while treatment"
    words = sentence.split()
    para = " ".join(words[i % len(words)] for i in range(2_000_000 // 5))
    assert len(para) > 2_000_000 and "." not in para
    (tmp_path / "ramble.txt").write_text(f"A Ramble\n\n{para}\n", encoding="utf-8")
    doc = load(tmp_path / "ramble.txt")
    started = time.perf_counter()
    chunks = chunk_document(doc)
    assert time.perf_counter() - started < 10.0  # measured 0.03 s; a guard against a quadratic cut
    assert len(chunks) > len(para) // MAX_CHARS
    assert max(len(c.text) for c in chunks) <= MAX_CHARS
    assert " ".join(c.text for c in chunks) == para  # every word kept, none cut in two
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        # a passage without sentence ends is one "sentence", so highlighting stays bounded too
        assert c.sentences == ((0, len(c.text)),)


def test_a_word_longer_than_the_limit_is_cut_where_the_bound_falls(tmp_path: Path) -> None:
    run = "x" * (3 * MAX_CHARS + 10)
    (tmp_path / "run.txt").write_text(f"Title\n\nSection\n\nBefore. {run} after\n", encoding="utf-8")
    chunks = chunk_document(load(tmp_path / "run.txt"))
    assert [len(c.text) for c in chunks] == [7, MAX_CHARS, MAX_CHARS, MAX_CHARS, 10 + len(" after")]
    assert "".join(c.text for c in chunks[1:]) == run + " after"


def test_sentence_splitting_stays_linear_without_sentence_ends() -> None:
    text = "Dr. Smith and Dr. Jones " * 100_000  # 2.4 MB of abbreviations, not one sentence end
    started = time.perf_counter()
    spans = sentence_spans(text)
    assert time.perf_counter() - started < 10.0  # measured 0.7 s (it searched back to the start)
    assert spans == [(0, len(text.rstrip()))]


def test_smaller_max_chars_is_respected(article: Document) -> None:
    chunks = chunk_document(article, ChunkSettings(max_chars=300, join_below=150))
    sentences = [article.text[s:e] for p in article.paragraphs for s, e in sentence_spans(p.text, p.start)]
    assert all(len(s) <= 300 for s in sentences)  # so every cut is still at a sentence end
    check_chunks(article, chunks, max_chars=300)
    assert len(chunks) > len(chunk_document(article))


def test_abbreviations_do_not_end_sentences(tmp_path: Path) -> None:
    text = "Dr. Smith saw the patient. Mr. Jones agreed, e.g. Twice a week. It was fine."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Dr. Smith saw the patient.",
        "Mr. Jones agreed, e.g. Twice a week.",
        "It was fine.",
    ]
    para = long_paragraph(3000, "Visit {i} went well and Dr. Smith wrote it down for the team.")
    (tmp_path / "dr.txt").write_text(f"Clinic Notes\n\nVisits\n\n{para}\n", encoding="utf-8")
    doc = load(tmp_path / "dr.txt")
    chunks = chunk_document(doc)
    check_chunks(doc, chunks)
    assert len(chunks) >= 4
    for c in chunks:
        assert not c.text.endswith("Dr.") and not c.text.startswith("Smith")


def test_sentence_spans_with_quotes_and_offset() -> None:
    text = "She said “Stop.” Then she left! Was it 3 p.m.? 2 hours later, yes."
    spans = sentence_spans(text, offset=100)
    assert [text[s - 100 : e - 100] for s, e in spans] == [
        "She said “Stop.”",
        "Then she left!",
        "Was it 3 p.m.?",
        "2 hours later, yes.",
    ]


def test_sentences_may_start_with_an_accented_capital() -> None:
    text = "The first test was done. Élan followed soon after."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "The first test was done.",
        "Élan followed soon after.",
    ]


def test_empty_document_has_no_chunks() -> None:
    assert chunk_document(load(AWKWARD / "empty.txt")) == []
