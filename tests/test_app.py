"""The Gradio chat, running in-process and driven through gradio_client, with the fake embedder.

Checks what a patient gets back from the public /chat endpoint (an answer with citations, a
collapsible Sources block), that the conversation's earlier questions reach the engine, and that
the launch settings are the private ones.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.app

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

import chatbot.app  # noqa: E402

TITLE = "Understanding Refractory Myeloma: Definition, Symptoms, and Treatment"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def text_of(content: Any) -> str:
    """A message's text, whether the client gives a string or a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(text_of(c) for c in content)
    if isinstance(content, dict):
        return str(content.get("text") or content.get("value") or "")
    return ""


@pytest.fixture
def running(fake_engine: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, list[Any]]]:
    """The app over the fake-embedder index, launched on a free local port; yields (client, calls)."""
    calls: list[tuple[str, list[str]]] = []
    real_ask = fake_engine.ask

    def spy(question: str, history: Any = (), *args: Any, **kwargs: Any) -> Any:
        calls.append((question, list(history)))
        return real_ask(question, history, *args, **kwargs)

    monkeypatch.setattr(fake_engine, "ask", spy)
    demo = chatbot.app.build_app(fake_engine)
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True
    )
    try:
        yield gradio_client.Client(url, verbose=False), calls
    finally:
        demo.close()


def test_chat_answers_with_citations_and_sources(running: tuple[Any, list[Any]]) -> None:
    client, calls = running
    question = "How is a bone marrow biopsy done?"
    textbox, history = client.predict(question, [], api_name="/chat")
    assert textbox == ""  # the question box is cleared
    assert [m["role"] for m in history][:2] == ["user", "assistant"]
    assert text_of(history[0]["content"]) == question
    answer = text_of(history[1]["content"])
    assert f"{TITLE} › How is Refractory Myeloma Diagnosed? › Bone Marrow Biopsy" in answer
    assert "not medical advice" in answer
    sources = [m for m in history if (m.get("metadata") or {}).get("title", "").startswith("Sources")]
    assert len(sources) == 1
    title = sources[0]["metadata"]["title"]
    n = int(title.removeprefix("Sources (").removesuffix(")"))
    assert title == f"Sources ({n})" and n >= 1
    assert text_of(sources[0]["content"]).count(" › ") >= n  # one citation per passage
    assert calls == [(question, [])]


def test_history_reaches_the_engine(running: tuple[Any, list[Any]]) -> None:
    client, calls = running
    _, history = client.predict("What is CAR T-cell therapy?", [], api_name="/chat")
    _, history = client.predict("Is it risky?", history, api_name="/chat")
    assert calls[-1] == ("Is it risky?", ["What is CAR T-cell therapy?"])
    # answers and sources blocks are not questions
    assert [text_of(m["content"]) for m in history if m["role"] == "user"] == [
        "What is CAR T-cell therapy?",
        "Is it risky?",
    ]


def test_blank_question_changes_nothing(running: tuple[Any, list[Any]]) -> None:
    client, calls = running
    textbox, history = client.predict("   ", [], api_name="/chat")
    assert history == [] and calls == []


def test_launch_options_are_private() -> None:
    options = chatbot.app.launch_options("127.0.0.1", 7860)
    assert options["server_name"] == "127.0.0.1"
    assert options["share"] is False
    assert options["run_history"] is False


def test_serve_launches_with_the_private_options(fake_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: seen.update(kwargs))
    chatbot.app.serve(fake_engine)
    assert seen["server_name"] == "127.0.0.1"
    assert seen["share"] is False
    assert seen["run_history"] is False
