"""The corpus: the documents being served, read from the corpus folder with their outline.

Stage 1 of the pipeline. In: a folder of .txt, .md and .html files (and their .meta.json). Out:
`Document`s, each a title and `Paragraph`s under the headings they sit in.

- `files`: the only module that opens the corpus; what was skipped and why (`CorpusScan`).
- `outline`: title, sections and paragraphs recovered from plain text or Markdown.
- `html`: the same from a web page's HTML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot.lazy import lazy_exports

if TYPE_CHECKING:
    from chatbot.corpus.files import (
        DEFAULT_MAX_FILE_MB,
        CorpusScan,
        Document,
        Problem,
        Provenance,
        corpus_hash,
        document_from_record,
        load_corpus,
        load_document,
        load_synonyms,
        scan_corpus,
    )
    from chatbot.corpus.html import parse_html
    from chatbot.corpus.outline import Paragraph, parse_plain_text

_EXPORTS = {
    "CorpusScan": ".files",
    "DEFAULT_MAX_FILE_MB": ".files",
    "Document": ".files",
    "Problem": ".files",
    "Provenance": ".files",
    "corpus_hash": ".files",
    "document_from_record": ".files",
    "load_corpus": ".files",
    "load_document": ".files",
    "load_synonyms": ".files",
    "scan_corpus": ".files",
    "Paragraph": ".outline",
    "parse_plain_text": ".outline",
    "parse_html": ".html",
}
__all__ = [
    "CorpusScan",
    "DEFAULT_MAX_FILE_MB",
    "Document",
    "Paragraph",
    "Problem",
    "Provenance",
    "corpus_hash",
    "document_from_record",
    "load_corpus",
    "load_document",
    "load_synonyms",
    "parse_html",
    "parse_plain_text",
    "scan_corpus",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
