"""One build in its own process, for test_kill.py: `python tests/slow_build.py CORPUS INDEX RUN [STEP]`.

Uses the fake embedder, slowed to a model's pace so a kill can land in the middle of embedding,
under a model id of its own (RUN), so that nothing is reused and every build embeds everything.
With STEP (`name:n`), the process kills itself with SIGKILL at the n-th call of one file-system
step of writing a build (`replace` before an atomic rename, `replaced` after it, `rmtree` while
pruning), which random delays would rarely hit.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from conftest import FakeEmbedder

import chatbot.indexing.store
from chatbot.indexing.build import build_index


class SlowEmbedder(FakeEmbedder):
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(0.0001 * len(texts))
        return super().encode(texts)


def kill_at(step: str) -> None:
    name, n = step.split(":")
    calls = {"count": 0}

    def wrap(real: Callable[..., Any], before: bool) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls["count"] += 1
            if before and calls["count"] == int(n):
                os.kill(os.getpid(), signal.SIGKILL)
            out = real(*args, **kwargs)
            if not before and calls["count"] == int(n):
                os.kill(os.getpid(), signal.SIGKILL)
            return out

        return wrapper

    if name in ("replace", "replaced"):
        chatbot.indexing.store.os.replace = wrap(os.replace, before=name == "replace")  # type: ignore[attr-defined]
    elif name == "rmtree":
        chatbot.indexing.store.shutil.rmtree = wrap(shutil.rmtree, before=False)  # type: ignore[attr-defined]


if __name__ == "__main__":
    corpus, index, run = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    if len(sys.argv) > 4:
        kill_at(sys.argv[4])
    print("building", flush=True)
    started = time.perf_counter()
    build_index(corpus, index, SlowEmbedder(model_id=f"slow-fake-{run}"), progress=False, force=True)
    print(f"built {time.perf_counter() - started:.3f}", flush=True)
