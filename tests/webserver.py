"""Test helpers: a FastAPI/Gradio app served by uvicorn in a thread, a real `chatbot serve`
process, and corpora with awkward pages.

Imported by the app, web and browser tests (pytest puts `tests/` on the path).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import CORPUS, ROOT, FakeEmbedder

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


def fake_engine_for(corpus: Path, index_dir: Path, baseline: float = 1.0, **engine_kwargs: Any) -> Any:
    """An engine over `corpus` with the fake embedder (`baseline` 0: unrelated texts score 0)."""
    from chatbot.answering.engine import Engine
    from chatbot.indexing.build import build_index
    from chatbot.indexing.store import load_build

    embedder = FakeEmbedder(baseline=baseline)
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


# A one-page corpus: a real `chatbot serve` builds its index with the real model in seconds.
ONE_PAGE = "# Myeloma\n\n## Treatment\n\nStem cell transplantation replaces damaged bone marrow.\n"


@contextmanager
def serve_process(folder: Path, tmpdir: Path | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A real `chatbot serve` (the real model, a one-page corpus under `folder`), once it answers
    HTTP; yields the process and its base URL, and kills it if the test left it running.
    `tmpdir` becomes its temporary folder."""
    import httpx

    corpus = folder / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / "page.md").write_text(ONE_PAGE, encoding="utf-8")
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("CHATBOT_STAFF_PASSWORD", None)
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    paths = ["--corpus", str(corpus), "--index", str(folder / "index"), "--data", str(folder / "data")]
    argv = [sys.executable, "-m", "chatbot", "serve", "--port", str(port), *paths]
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"chatbot serve exited: {proc.communicate()[1]}")
            try:
                if httpx.get(f"{url}/", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("chatbot serve did not start within 180 s")
            time.sleep(0.2)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
