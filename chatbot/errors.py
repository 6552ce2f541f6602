"""One error hierarchy for everything a user can get wrong or run into.

Each message says what is wrong, the value involved, and the fix, in one line: the CLI prints
`error: <message>` and exits 1, the app shows the message instead of a traceback.
"""

from __future__ import annotations


class ChatbotError(Exception):
    """Base of every error the product reports to a person."""


class CorpusError(ChatbotError):
    """The corpus folder or a file in it cannot be used."""


class IndexMissingError(ChatbotError):
    """There is no index where one was expected."""


class IndexCorruptError(ChatbotError):
    """The index on disk is damaged or unreadable."""


class IndexBusyError(ChatbotError):
    """Another build holds the index lock."""


class ModelError(ChatbotError):
    """The embedding model cannot be loaded."""


class InputError(ChatbotError):
    """A request (a question, a JSON line, an evaluation file) cannot be read."""
