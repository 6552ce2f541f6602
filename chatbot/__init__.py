"""Extractive question answering over patient articles about refractory myeloma.

One package per pipeline stage, imports flowing one way (a package imports only earlier ones):

    corpus -> indexing -> question -> safety -> answering -> protocol / present -> web, cli
                                                     feedback and evaluation beside them

`errors` (every error class), `language` (English words and rules) and `lazy` sit under all of
them; `cli` is imported by `__main__` alone.

A library user needs a few names, exported here (loaded on first use, so that `chatbot --help`
stays instant):

    from chatbot import open_engine
    answer = open_engine().ask("What is refractory myeloma?")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot.lazy import lazy_exports

__version__ = "0.1.0"

if TYPE_CHECKING:
    from chatbot.answering.answer import Answer, Passage
    from chatbot.answering.answerer import Answerer
    from chatbot.answering.engine import Engine, open_engine
    from chatbot.errors import ChatbotError

_EXPORTS = {
    "open_engine": "chatbot.answering.engine",
    "Engine": "chatbot.answering.engine",
    "Answer": "chatbot.answering.answer",
    "Passage": "chatbot.answering.answer",
    "Answerer": "chatbot.answering.answerer",
    "ChatbotError": "chatbot.errors",
}
__all__ = ["Answer", "Answerer", "ChatbotError", "Engine", "Passage", "__version__", "open_engine"]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
