"""The Gradio chat, running in-process and driven through gradio_client, with the fake embedder.

Checks what a patient gets back from the public /chat endpoint (an answer with linked citations,
a collapsible Sources block), that the conversation's earlier questions reach the engine, that
"not covered" questions become content gaps, and that the launch settings are the private ones.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.app

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from webserver import UNSAFE_QUESTION, corpus_with_unsafe_page, fake_engine_for, free_port  # noqa: E402

import chatbot.present  # noqa: E402
import chatbot.web.chat  # noqa: E402
from chatbot.feedback.store import DB_FILENAME, FeedbackStore  # noqa: E402
from chatbot.present import (  # noqa: E402
    alert_markdown,
    answer_markdown,
    answer_text,
    chat_messages,
    lead_sentences,
    short_section,
    sources_markdown,
    unescape_markdown,
)
from chatbot.safety.rules import default_rules  # noqa: E402

TITLE = "Understanding Refractory Myeloma: Definition, Symptoms, and Treatment"
URGENT_Q = "I have a fever during chemo, what is refractory myeloma?"
EMERGENCY_Q = "I have chest pain and can't breathe"
# What a patient must never see: where a passage sits in a file, how it scored, its id.
INTERNALS = ("characters", "match ", "rank", " id ", "refractory-myeloma.txt`", "score")


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
    citation = "How is Refractory Myeloma Diagnosed? › Bone Marrow Biopsy"
    assert '<a href="/article?source=refractory-myeloma.txt&amp;start=' in answer
    assert f'#s-bone-marrow-biopsy-{answer.split("#s-bone-marrow-biopsy-")[1][:6]}">{citation}</a>' in answer
    assert answer.count(TITLE) == 1  # once, in the source line; citations are short
    assert "not medical advice" in answer
    sources = [m for m in history if (m.get("metadata") or {}).get("title", "").startswith("Sources")]
    assert len(sources) == 1
    title = sources[0]["metadata"]["title"]
    n = int(title.removeprefix("Sources (").removesuffix(")"))
    assert title == f"Sources ({n})" and n >= 1
    listed = text_of(sources[0]["content"])
    assert listed.count("](/article?source=") == n  # one linked citation per passage
    assert not any(word in listed for word in INTERNALS), listed
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
    _, history, turns = chatbot.web.chat.respond(fake_engine, URGENT_Q, history, turns)
    urgent = turns[-1]  # the card, the answer, the Sources block
    assert urgent.last_message == urgent.first_message + 2 == len(history) - 1
    assert 'role="alert"' in history[urgent.first_message]["content"]


def test_not_covered_questions_become_content_gaps(
    tmp_path: Path, corpus_dir: Path, store: FeedbackStore
) -> None:
    strict = fake_engine_for(corpus_dir, tmp_path / "strict-index", baseline=0.0, cover_threshold=5.0)
    _, history, turns = chatbot.web.chat.respond(strict, "banana bread recipe with walnuts", [], [], store)
    assert turns[0].answer.outcome == "not_covered"
    assert len(history) == 2  # no Sources block for an answer without passages
    # the closest sections link to them in the article, by their short names
    offered = history[1]["content"]
    assert turns[0].answer.closest_sections
    for section in turns[0].answer.closest_sections:
        assert f"- [{chatbot.present.escape_markdown(short_section(section))}](/article?source=" in offered
    assert "](/article?source=refractory-myeloma.txt#s-" in offered
    assert offered.count(TITLE) == 1  # in the source line only
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


def test_an_answer_opens_with_its_best_sentence_then_its_passage_and_short_citation(fake_engine: Any) -> None:
    answer = fake_engine.ask("How is a bone marrow biopsy done?")
    first, *more = answer.passages
    lead = lead_sentences(first)
    assert lead.startswith("A bone marrow biopsy is done by removing")
    md = answer_markdown(answer, chatbot.web.chat.passage_link)
    # the lead, in its own style, comes first; then its citation, then the passage in context
    assert md.startswith(f'<p class="cb-lead"><mark class="cb-hl">{lead}</mark></p>')
    context = md.index('<blockquote class="cb-passage">')
    citation = md.index('<p class="cb-cite">')
    assert md.index(lead) < citation < context < md.index(f'<mark class="cb-hl">{lead}</mark>', context)
    assert md[citation:].startswith('<p class="cb-cite">From the article: <a href="/article?source=')
    # bold is used for nothing in an answer, and the title is named once
    assert "**" not in md and "<strong" not in md and md.count(TITLE) == 1
    # the further passages are folded
    assert more and f'<details class="cb-more"><summary>More from the article ({len(more)})</summary>' in md
    assert md.index("<details") > citation
    for p in more:
        assert md.count(f">{short_section(p.section)}</a>") >= 1
    # each part is one HTML block: a blank line inside would end it and show raw tags
    for part in md.split("\n\n"):
        if part.startswith("<"):
            assert "\n" not in part


def test_corpus_markup_in_the_chat_answer_is_escaped(tmp_path: Any) -> None:
    engine = fake_engine_for(corpus_with_unsafe_page(tmp_path), tmp_path / "index")
    md = "\n\n".join(chat_messages(engine.ask(UNSAFE_QUESTION), chatbot.web.chat.passage_link))
    assert "<script" not in md and "<img" not in md and "![" not in md and "](https" not in md
    # shown as the characters it is (the browser test checks the rendered page)
    assert "&lt;script&gt;alert&#40;1&#41;&lt;/script&gt;" in md
    assert "&#33;&#91;tracker&#93;&#40;https&#58;//example.com/leak.png&#41;" in md


def test_an_urgent_card_is_a_message_of_its_own_first_and_alone(fake_engine: Any) -> None:
    _, history, turns = chatbot.web.chat.respond(fake_engine, URGENT_Q, [], [])
    answer = turns[0].answer
    assert answer.alert and answer.alert["kind"] == "urgent" and answer.passages
    card, body, sources = (m["content"] for m in history[1:])
    assert card.startswith('<div class="cb-alert cb-alert-urgent" role="alert">')
    assert '<span class="cb-sr">Urgent: </span>' in card  # the urgency, said to screen readers
    assert "if symptoms get worse" in card.lower() and "very unwell" not in card.lower()
    # nothing but the card inside it
    for inside in ("Searched for", "cb-passage", "blockquote", "article covers", "closest", "Source:"):
        assert inside not in card
    assert not any(p.text[:40] in card for p in answer.passages)
    assert "\n" not in card  # one HTML block
    # written once: the text reads as the safety message says it (no reference shown as text)
    assert html.unescape(card).count(answer.alert["message"]) == 1 and "&amp;#" not in card
    assert "&#35;x" not in card and "hospital's" in answer.alert["message"]
    # the passages follow in the next message, under their own heading
    assert body.startswith("### What the article says\n\n")
    assert answer.passages[0].text[:20] in body or lead_sentences(answer.passages[0]) in body
    assert history[3]["metadata"]["title"] == f"Sources ({len(answer.passages)})"


def test_an_emergency_card_is_the_whole_answer_in_the_chat(fake_engine: Any) -> None:
    _, history, turns = chatbot.web.chat.respond(fake_engine, EMERGENCY_Q, [], [])
    assert turns[0].answer.alert and turns[0].answer.alert["kind"] == "emergency"
    assert len(history) == 2  # the question and the card: no passages, no Sources
    card = history[1]["content"]
    assert card.startswith('<div class="cb-alert cb-alert-emergency" role="alert">')
    assert '<span class="cb-sr">Emergency: </span>' in card
    assert turns[0].answer.alert["message"].split(" (")[0] in card


def test_alert_wording_says_what_to_do_if_symptoms_get_worse() -> None:
    for kind in ("emergency", "urgent", "crisis"):
        card = alert_markdown({"kind": kind, "message": "Call <now> & wait"})
        assert "Call &lt;now&gt; &amp; wait" in card and 'role="alert"' in card
        assert "very unwell" not in card.lower()
    # the urgent card's only words are the safety message: it says what to do if they get worse
    assert "if symptoms get worse" in default_rules().messages["urgent"].lower()
    constants = [v for v in vars(chatbot.present).values() if isinstance(v, (str, dict))]
    assert "very unwell" not in repr(constants).lower()


def test_the_terminal_answer_is_plain_text(fake_engine: Any) -> None:
    text = answer_text(fake_engine.ask("How is a bone marrow biopsy done?"))
    assert text.startswith("1. [" + TITLE + " › How is Refractory Myeloma Diagnosed? › Bone Marrow Biopsy]")
    assert "<" not in text and "**" not in text
    urgent = answer_text(fake_engine.ask(URGENT_Q))
    assert urgent.startswith("!! URGENT: Call your cancer care team") and "If symptoms get worse" in urgent


def test_the_sources_block_shows_no_internals(fake_engine: Any) -> None:
    answer = fake_engine.ask("What is CAR T-cell therapy?")
    listed = sources_markdown(answer, chatbot.web.chat.passage_link)
    assert not any(word in listed for word in INTERNALS), listed
    assert all(p.id not in listed for p in answer.passages)
    assert listed.startswith(f"From “{chatbot.present.escape_markdown(TITLE)}”:")


def test_the_page_brings_in_its_style_and_script() -> None:
    options = chatbot.web.chat.mount_options()
    assert "@media (max-width: 640px)" in options["css"] and ".cb-alert-emergency" in options["css"]
    assert options["head"].startswith("<script>") and "scrollTop" in options["head"]
