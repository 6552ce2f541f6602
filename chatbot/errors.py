"""One error hierarchy for everything a user can get wrong or run into.

Each message says what is wrong, the value involved, and the fix, in one line: the CLI prints
`error: <message>` and exits 1, the app shows the message instead of a traceback. Every error
class of the package is defined here, so that a newcomer sees them all at once:

    ChatbotError                  base of every error the product reports to a person
    ├── CorpusError               the corpus folder or a file in it cannot be used
    ├── IndexMissingError         no index where one was expected
    ├── IndexCorruptError         the index on disk is damaged or unreadable
    ├── IndexBusyError            another build holds the index lock
    ├── ModelError                the embedding model cannot be loaded
    ├── InputError                a request, JSON line or evaluation file cannot be read
    ├── SafetyRulesError          the safety rules file is missing or malformed
    ├── ArticleNotFoundError      the article page was asked for a document the index lacks
    ├── ExposureError             asked to serve beyond this machine without a password
    ├── AddressError              the address to serve on cannot be used
    └── FeedbackError             the feedback store refused or failed
        ├── InvalidFeedbackError  (also a ValueError) a value the store does not accept
        └── FeedbackStoreError    the database cannot be read, or has a newer schema

    UsageError                    command-line arguments that do not fit together (exit 2, not 1)
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


class PublishError(ChatbotError):
    """A build cannot be published to the shared folder named (it is the index itself, or the
    folder serves another purpose)."""


class ModelError(ChatbotError):
    """The embedding model cannot be loaded."""


class InputError(ChatbotError):
    """A request (a question, a JSON line, an evaluation file) cannot be read."""


class SafetyRulesError(ChatbotError):
    """The rules file is missing or malformed; the message names the file and the fix."""


class ArticleNotFoundError(ChatbotError):
    """The page was asked for a document the index does not hold."""


class ExposureError(ChatbotError):
    """Asked to serve beyond this machine without a password."""


class AddressError(ChatbotError):
    """The address to serve on cannot be used (a port another program holds, say)."""


class FeedbackError(ChatbotError):
    """Base of the feedback store's errors; a ChatbotError, so the CLI prints one line."""


class InvalidFeedbackError(FeedbackError, ValueError):
    """A record or argument has a value the store does not accept."""


class FeedbackStoreError(FeedbackError):
    """The database cannot be read, or was written by a newer schema."""


class UsageError(Exception):
    """Arguments that do not fit together; reported like argparse's own usage errors (exit 2)."""
