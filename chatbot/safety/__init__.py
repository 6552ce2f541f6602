"""Safety: every message checked for danger, and for a request for personal advice, first.

Stage 4, run before retrieval. In: the message. Out: an `Alert` (an urgent care card) and the
advice framing, from rules kept as data in `safety.toml`.

- `rules`: the rules file read, checked and indexed.
- `text`: a message as the rules read it (normalised tokens, numbers, typo-tolerant words).
- `match`: a message matched against the safety rules (`check_message`).
- `advice`: questions that ask for a personal medical decision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatbot.lazy import lazy_exports

if TYPE_CHECKING:
    from chatbot.safety.advice import advice_framing
    from chatbot.safety.match import Alert, check_message, default_rules, load_rules

_EXPORTS = {
    "Alert": ".match",
    "check_message": ".match",
    "default_rules": ".match",
    "load_rules": ".match",
    "advice_framing": ".advice",
}
__all__ = ["Alert", "advice_framing", "check_message", "default_rules", "load_rules"]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
