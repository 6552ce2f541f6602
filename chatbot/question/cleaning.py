"""Clean what a person typed before anything reads it: unicode form, no control characters, a
bounded length. Every front end's text goes through `clean_question` (by way of the engine)."""

from __future__ import annotations

import re
import unicodedata

# Questions are short; a pasted page is cut here, at a word boundary, so that a huge input costs
# no more than a long question (the model itself reads only the first 256 tokens).
MAX_QUESTION_CHARS = 1000
# Control and invisible characters, and lone surrogates (valid in JSON escapes and Python strings,
# but not text: the tokenizer, UTF-8 output and SQLite all refuse them).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff\ud800-\udfff]")


def clean_question(text: str) -> str:
    """Normalise what a person typed: unicode form, no control characters, bounded length."""
    text = text.strip()[: MAX_QUESTION_CHARS * 20]  # a pasted book costs no more than a page
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    if len(text) > MAX_QUESTION_CHARS:
        cut = text.rfind(" ", 0, MAX_QUESTION_CHARS)
        text = text[: cut if cut > MAX_QUESTION_CHARS // 2 else MAX_QUESTION_CHARS]
    return text
