"""How many votes and content gaps one client may store a minute, so that spam cannot bury the rows
staff read.

A client is its chat session and its address. The session is the finer key (a patient voting on
every answer of a long chat stays far below its limit); the address catches a script that opens a
new session for every request, with a higher limit because several patients may share one address
(a clinic behind one router). A request over either limit is refused, is not counted, and the chat
says so: a patient is never left thinking a refused vote was kept.

Counts live in memory, per process, and forget a client after a quiet minute; the number of
clients remembered is bounded, so made-up session ids cannot grow it without end.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """At most `events` in any `seconds`, per session; `per_address` times that per address."""

    events: int
    seconds: float = 60.0
    per_address: int = 10


VOTES = Limit(30)
GAPS = Limit(60)


@dataclass(frozen=True)
class Client:
    """Who sent a request: its chat session and its address (either may be unknown: "")."""

    session: str
    address: str


class RateLimiter:
    """A sliding window of recent events per key, thread-safe (Gradio runs handlers in threads)."""

    def __init__(
        self, limit: Limit, clock: Callable[[], float] = time.monotonic, max_keys: int = 20_000
    ) -> None:
        self.limit = limit
        self.clock = clock
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events.setdefault(key, deque())
        self._events.move_to_end(key)
        while events and now - events[0] >= self.limit.seconds:
            events.popleft()
        return events

    def allow(self, client: Client) -> bool:
        """Whether `client` may store one more now; if so, it is counted."""
        now = self.clock()
        keys = [(f"s:{client.session}", self.limit.events)] if client.session else []
        if client.address:
            keys.append((f"a:{client.address}", self.limit.events * self.limit.per_address))
        with self._lock:
            windows = [(self._recent(key, now), most) for key, most in keys]
            if any(len(events) >= most for events, most in windows):
                return False
            for events, _ in windows:
                events.append(now)
            # The least recently seen keys go first; a client quiet for a minute has nothing to lose.
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
        return True


# One log line a minute per client about what was refused: the log must not grow with the spam.
NOTICES = Limit(1, per_address=1)


@dataclass(frozen=True)
class ClientLimits:
    """The chat's limiters: votes, content gaps, and log lines about refusals."""

    votes: RateLimiter
    gaps: RateLimiter
    notices: RateLimiter

    @classmethod
    def default(cls) -> ClientLimits:
        return cls(RateLimiter(VOTES), RateLimiter(GAPS), RateLimiter(NOTICES))
