"""Extractive question answering over patient articles about refractory myeloma.

Pipeline, imports flowing one way:
corpus -> structure -> chunking -> embedding -> vectors/store/indexer -> query/safety -> retrieval
-> answer -> present / protocol -> app / web / cli

A library user needs a few names, exported here (loaded on first use, so that `chatbot --help`
stays instant):

    from chatbot import open_engine
    answer = open_engine().ask("What is refractory myeloma?")
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "open_engine": "chatbot.answer",
    "Engine": "chatbot.answer",
    "Answer": "chatbot.answer",
    "Passage": "chatbot.answer",
    "Answerer": "chatbot.answerer",
    "ChatbotError": "chatbot.errors",
}
__all__ = ["Answer", "Answerer", "ChatbotError", "Engine", "Passage", "open_engine", "__version__"]

if TYPE_CHECKING:
    from chatbot.answer import Answer, Engine, Passage, open_engine
    from chatbot.answerer import Answerer
    from chatbot.errors import ChatbotError


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'chatbot' has no attribute {name!r}")
