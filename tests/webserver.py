"""Test helpers: a FastAPI/Gradio app served by uvicorn in a thread, and corpora with awkward pages.

Imported by the app, web and browser tests (pytest puts `tests/` on the path).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import CORPUS, FakeEmbedder

# A corpus page whose text is HTML: shown as characters, never rendered or fetched.
UNSAFE_NAME = "unsafe.md"
UNSAFE_PAGE = """# Zebrafish pamphlet

## Pictures and scripts

The zebrafish pamphlet embeds <img src=https://example.com/x.png> and
<script>alert(1)</script> and ![tracker](https://example.com/leak.png) in its text.
"""
UNSAFE_QUESTION = "zebrafish pamphlet pictures scripts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def corpus_with_unsafe_page(folder: Path) -> Path:
    """A copy of the project's corpus plus the HTML-laden page."""
    corpus = Path(shutil.copytree(CORPUS, folder / "corpus"))
    (corpus / UNSAFE_NAME).write_text(UNSAFE_PAGE, encoding="utf-8")
    return corpus


def fake_engine_for(corpus: Path, index_dir: Path, **engine_kwargs: Any) -> Any:
    from chatbot.answer import Engine
    from chatbot.indexer import build_index
    from chatbot.store import load_build

    embedder = FakeEmbedder()
    build_index(corpus, index_dir, embedder, progress=False)
    return Engine(load_build(index_dir), embedder, **engine_kwargs)


@contextmanager
def serving(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
