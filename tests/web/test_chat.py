"""The Gradio chat, running in-process and driven through gradio_client, with the fake embedder.

Checks what a patient gets back from the public /chat endpoint (an answer with linked citations,
a collapsible Sources block), that the conversation's earlier questions reach the engine, that
"not covered" questions become content gaps, and that the launch settings are the private ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.app

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from webserver import fake_engine_for, free_port  # noqa: E402

import chatbot.web.chat  # noqa: E402
from chatbot.feedback.store import DB_FILENAME, FeedbackStore  # noqa: E402
from chatbot.present import unescape_markdown  # noqa: E402

TITLE = "Understanding Refractory Myeloma: Definition, Symptoms, and Treatment"


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
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "data" / DB_FILENAME)


@pytest.fixture
def running(
    fake_engine: Any, store: FeedbackStore, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, list[Any]]]:
    """The app over the fake-embedder index, launched on a free local port; yields (client, calls)."""
    calls: list[tuple[str, list[str]]] = []
    real_ask = fake_engine.ask

    def spy(question: str, history: Any = (), *args: Any, **kwargs: Any) -> Any:
        calls.append((question, list(history)))
        return real_ask(question, history, *args, **kwargs)

    monkeypatch.setattr(fake_engine, "ask", spy)
    demo = chatbot.web.chat.build_app(fake_engine, store)
    _, url, _ = demo.launch(
        prevent_thread_lock=True, quiet=True, **chatbot.web.chat.launch_options("127.0.0.1", free_port())
    )
    try:
        yield gradio_client.Client(url, verbose=False), calls
    finally:
        demo.close()


def test_chat_answers_with_linked_citations_and_sources(running: tuple[Any, list[Any]]) -> None:
    client, calls = running
    question = "How is a bone marrow biopsy done?"
    textbox, history = client.predict(question, [], api_name="/chat")
    assert textbox == ""  # the question box is cleared
    assert [m["role"] for m in history][:2] == ["user", "assistant"]
    assert unescape_markdown(text_of(history[0]["content"])) == question
    answer = text_of(history[1]["content"])
    citation = f"{TITLE} › How is Refractory Myeloma Diagnosed? › Bone Marrow Biopsy"
    assert f"[{citation}](/article?source=refractory-myeloma.txt&start=" in answer
    assert "#s-bone-marrow-biopsy-" in answer
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
    assert chatbot.web.chat.earlier_questions(history) == ["What is CAR T-cell therapy?", "Is it risky?"]


def test_blank_question_changes_nothing(running: tuple[Any, list[Any]]) -> None:
    client, calls = running
    textbox, history = client.predict("   ", [], api_name="/chat")
    assert history == [] and calls == []


def test_chat_is_the_only_public_endpoint(running: tuple[Any, list[Any]]) -> None:
    client, _ = running
    assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ["/chat"]


def test_markup_in_a_question_is_shown_as_text(fake_engine: Any) -> None:
    payload = "<img src=x onerror=alert(1)> what is ![x](https://example.com/x.png) refractory?"
    _, history, _ = chatbot.web.chat.respond(fake_engine, payload, [])
    shown = history[0]["content"]
    assert "<img" not in shown and "![" not in shown and "](" not in shown
    assert chatbot.web.chat.earlier_questions(history) == [payload]


def test_each_turn_is_kept_with_where_its_messages_are(fake_engine: Any) -> None:
    _, history, turns = chatbot.web.chat.respond(fake_engine, "What is refractory myeloma?", [], [])
    _, history, turns = chatbot.web.chat.respond(fake_engine, "How is it treated?", history, turns)
    assert [t.question for t in turns] == ["What is refractory myeloma?", "How is it treated?"]
    assert turns[1].history == ("What is refractory myeloma?",)
    assert all(t.build_id == fake_engine.build_id for t in turns)
    for t in turns:  # the answer message, then the Sources block
        assert history[t.first_message - 1]["role"] == "user"
        assert t.last_message == t.first_message + 1
        assert history[t.last_message]["metadata"]["title"].startswith("Sources")


def test_not_covered_questions_become_content_gaps(
    tmp_path: Path, corpus_dir: Path, store: FeedbackStore
) -> None:
    strict = fake_engine_for(corpus_dir, tmp_path / "strict-index", baseline=0.0, cover_threshold=5.0)
    _, history, turns = chatbot.web.chat.respond(strict, "banana bread recipe with walnuts", [], [], store)
    assert turns[0].answer.outcome == "not_covered"
    assert len(history) == 2  # no Sources block for an answer without passages
    # Only the closest passages (the article may not say exactly): a gap too, for staff to fill.
    _, history, turns = chatbot.web.chat.respond(strict, "Can I eat grapefruit?", history, turns, store)
    assert turns[1].answer.outcome == "closest" and turns[1].answer.passages
    gaps = store.gaps()
    assert sorted((g.question, g.index_build) for g in gaps) == [
        ("Can I eat grapefruit?", strict.build_id),
        ("banana bread recipe with walnuts", strict.build_id),
    ]
    chatbot.web.chat.respond(strict, "???", history, turns, store)  # nothing to search for: not a gap
    assert len(store.gaps()) == 2


def test_an_answered_question_is_no_gap(fake_engine: Any, store: FeedbackStore) -> None:
    chatbot.web.chat.respond(fake_engine, "What is refractory myeloma?", [], [], store)
    assert store.gaps() == []


def test_launch_options_are_private() -> None:
    options = chatbot.web.chat.launch_options("127.0.0.1", 7860)
    assert options["server_name"] == "127.0.0.1"
    assert options["share"] is False
    assert options["run_history"] is False
    assert options["footer_links"] == [] and options["mcp_server"] is False
