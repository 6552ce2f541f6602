"""Bad input never breaks an answer: Engine.ask, `chatbot ask --json` and the chat, with the fake
embedder.

Whatever a person or a client sends (a pasted book, nothing, control characters, lone surrogates,
mixed scripts, emoji, markup, JSON of the wrong shape), each front end gives a clear reply in
bounded time and never raises. Property-based tests (hypothesis) check the pipeline's promises on
inputs nobody thought of: an answer has passages, every passage is the exact slice of its document,
highlights fall inside it, and the output is JSON that UTF-8 can carry.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import AWKWARD, CORPUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chatbot.web.chat
from chatbot.answering.answer import Answer
from chatbot.answering.engine import Engine
from chatbot.cli import main
from chatbot.errors import InputError
from chatbot.protocol import answer_json, parse_request
from chatbot.question.cleaning import MAX_QUESTION_CHARS, clean_question

BAD_INPUTS = {
    "100k characters": "what is refractory myeloma " * 3704,
    "100k without a space": "m" * 100_000,
    "empty": "",
    "blank": " \t\r\n \u00a0 ",
    "control characters": "\x00\x01\x07\x1b[2J what is myeloma\x7f\x85",
    "zero-width and bidi": "\u200brefractory\u200f myeloma\u202e treatment\ufeff",
    "lone surrogates": "what is \ud800 myeloma \udfff",
    "mixed scripts": "Что такое рефрактерная миелома? 难治性骨髓瘤 ما هو refractory myeloma",
    "emoji": "😷💊🩸 is CAR-T 🧬 safe? 👩‍⚕️",
    "combining marks": "m̴̛͖y̷̢e̸͓l̵̰o̶͎m̷a̴̜" * 50,
    "html and script": "<script>alert(1)</script><img src=x onerror=alert(1)> stem cell transplant",
    "markdown image": "![x](https://evil.example/leak?q=1) chemotherapy",
}
BOUND = 2.0  # seconds for one answer with the fake embedder, whatever the input


def strict_json(answer: Answer) -> dict[str, Any]:
    """The JSON output, as UTF-8 bytes and back: fails on anything UTF-8 cannot carry."""
    data: dict[str, Any] = json.loads(json.dumps(answer_json(answer), ensure_ascii=False).encode("utf-8"))
    return data


def check_answer(engine: Engine, answer: Answer, top_k: int = 3) -> None:
    """The promises every answer keeps."""
    assert answer.answered == bool(answer.passages)
    assert len(answer.passages) <= max(1, min(top_k, 20))
    assert len(answer.question) <= MAX_QUESTION_CHARS
    for p in answer.passages:
        assert p.text == engine.index.documents[p.source].text[p.start : p.end]
        assert p.text.strip()
        for start, end in p.highlights:
            assert 0 <= start < end <= len(p.text)
    assert strict_json(answer)["answered"] == answer.answered


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The article plus the awkward corpus (CRLF, BOM, unicode, no headings), fake embedder."""
    from webserver import fake_engine_for

    tmp = tmp_path_factory.mktemp("sturdy")
    corpus = Path(shutil.copytree(CORPUS, tmp / "corpus"))
    for path in AWKWARD.iterdir():
        shutil.copy(path, corpus / f"awkward-{path.name}")
        if path.suffix in (".txt", ".md"):
            (corpus / f"crlf-{path.name}").write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    engine: Engine = fake_engine_for(corpus, tmp / "index")
    return engine


# --- Engine.ask ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_engine_answers_bad_input_in_bounded_time(engine: Engine, name: str) -> None:
    engine.clear_cache()
    started = time.perf_counter()
    answer = engine.ask(BAD_INPUTS[name], [BAD_INPUTS[name]] * 50)
    assert time.perf_counter() - started < BOUND
    check_answer(engine, answer)
    assert "\ud800" not in answer.question and "\x00" not in answer.question


def test_a_long_question_is_cut_at_a_word_and_still_answered(engine: Engine) -> None:
    answer = engine.ask(BAD_INPUTS["100k characters"])
    assert answer.answered
    assert len(answer.question) <= MAX_QUESTION_CHARS
    assert answer.question.endswith("myeloma")  # cut between words, not inside one


def test_blank_and_wordless_questions_are_not_answered(engine: Engine) -> None:
    for text in ("", "   ", "\x00\x01", "\ud800", "?!?", "😷💊"):
        answer = engine.ask(text)
        assert not answer.answered and answer.passages == ()


def test_clean_question_is_idempotent_and_bounded() -> None:
    for text in BAD_INPUTS.values():
        once = clean_question(text)
        assert clean_question(once) == once
        assert len(once) <= MAX_QUESTION_CHARS


TEXT = st.one_of(
    st.text(max_size=200),
    # what st.text leaves out by default: surrogates, controls, format characters, odd spaces
    st.text(
        st.characters(categories=["Cs", "Cc", "Cf", "Zs", "Zl", "Zp", "Lo", "So", "Mn", "Ll"]),
        max_size=60,
    ),
)
WORDS = st.sampled_from(
    [
        "refractory",
        "myeloma",
        "stem",
        "cell",
        "transplant",
        "chemotherapy",
        "CAR-T",
        "bone",
        "marrow",
        "biopsy",
        "relapse",
        "treatment",
        "symptoms",
        "fever",
        "what",
        "is",
        "how",
        "does",
        "it",
        "risky",
        "the",
        "and",
    ]
)
QUESTION = st.one_of(TEXT, st.lists(st.one_of(WORDS, TEXT), max_size=10).map(" ".join))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question=QUESTION, history=st.lists(QUESTION, max_size=3), top_k=st.integers(-3, 30))
def test_ask_keeps_its_promises_on_any_input(
    engine: Engine, question: str, history: list[str], top_k: int
) -> None:
    check_answer(engine, engine.ask(question, history, top_k), top_k)


# --- parse_request (the batch protocol's reader) ------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
REQUEST_LIKE = st.fixed_dictionaries(
    {"question": JSON_VALUES}, optional={"history": st.one_of(JSON_VALUES, st.lists(JSON_VALUES))}
)


def _parse_or_refuse(line: str) -> None:
    try:
        question, history = parse_request(line)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(question, str)
        assert isinstance(history, list) and all(isinstance(h, str) for h in history)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), JSON_VALUES.map(json.dumps), REQUEST_LIKE.map(json.dumps)))
def test_parse_request_returns_a_request_or_an_input_error(line: str) -> None:
    _parse_or_refuse(line)


@settings(max_examples=100, deadline=None)
@given(question=st.text(), history=st.lists(st.text(), max_size=4))
def test_parse_request_round_trips_good_requests(question: str, history: list[str]) -> None:
    assert parse_request(json.dumps({"question": question, "history": history})) == (question, history)
    assert parse_request(json.dumps(question)) == (question, [])


@pytest.mark.parametrize(
    "line, says",
    [
        ("[" * 100_000, "not usable JSON"),
        ("1" * 5000, "not usable JSON"),
        ("NaN", "expected an object"),
        ("\udcff\udcfe", "not UTF-8"),
    ],
)
def test_hostile_lines_are_input_errors(line: str, says: str) -> None:
    with pytest.raises(InputError, match=says):
        parse_request(line)


# --- chatbot ask --json, in-process ------------------------------------------------------------


def test_ask_json_answers_every_bad_line(
    fake_model: Any,
    built_index: Any,
    corpus_dir: Path,
    index_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = [json.dumps({"question": q, "history": [q]}) for q in BAD_INPUTS.values()]
    lines += ['{"question": 5}', '{"question": "q", "history": "x"}', "[" * 50_000, "{oops"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    started = time.perf_counter()
    assert main(["ask", "--json", "--corpus", str(corpus_dir), "--index", str(index_dir)]) == 0
    assert time.perf_counter() - started < BOUND * len(lines)
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(out) == len(lines)
    for n, row in enumerate(out[: len(BAD_INPUTS)], start=1):
        assert "error" not in row, (n, row)
        assert isinstance(row["answered"], bool) and len(row["question"]) <= MAX_QUESTION_CHARS
    for n, row in enumerate(out[len(BAD_INPUTS) :], start=len(BAD_INPUTS) + 1):
        assert list(row) == ["error"] and row["error"].startswith(f"line {n}: ")


# --- the chat ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_respond_replies_to_bad_input(engine: Engine, name: str) -> None:
    _, history, turns = chatbot.web.chat.respond(engine, BAD_INPUTS[name], [], [])
    json.dumps(history, ensure_ascii=False).encode("utf-8")  # what Gradio sends back
    if not clean_question(BAD_INPUTS[name]):
        assert history == [] and turns == []  # nothing to ask: the chat stays as it was
        return
    assert history[0]["role"] == "user" and history[1]["role"] == "assistant"
    assert history[1]["content"].strip()
    assert len(history[0]["content"]) < 3 * MAX_QUESTION_CHARS  # the question shown is the one searched


def test_a_long_message_is_answered_with_a_note(engine: Engine) -> None:
    _, history, _ = chatbot.web.chat.respond(engine, BAD_INPUTS["100k characters"], [], [])
    assert history[0]["content"].endswith("…")
    assert history[1]["content"].startswith(chatbot.web.chat.SHORTENED)


@pytest.mark.parametrize(
    "message, history",
    [
        (None, None),
        (123, []),
        (["a"], []),
        ("is it risky?", "not a list"),
        ("is it risky?", [1, None, "x", {"role": "user", "content": 5}]),
        ("is it risky?", {"role": "user"}),
        ("is it risky?", [{"role": "user", "content": "\ud800 stem cell transplant"}]),
    ],
)
def test_respond_takes_malformed_calls(engine: Engine, message: Any, history: Any) -> None:
    _, shown, _ = chatbot.web.chat.respond(engine, message, history, [])
    json.dumps(shown, ensure_ascii=False).encode("utf-8")


def test_an_unexpected_failure_is_an_apology_and_a_log_line(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Answer:
        raise RuntimeError("the index file vanished")

    monkeypatch.setattr(engine, "ask", broken)
    with caplog.at_level(logging.ERROR, logger="chatbot.app"):
        _, history, turns = chatbot.web.chat.respond(engine, "What is refractory myeloma?", [], [])
    assert history[-1]["content"] == chatbot.web.chat.SORRY and turns == []
    assert any("answering a question failed" in r.getMessage() for r in caplog.records)
    assert "vanished" not in json.dumps(history)  # details are for the log, not the patient


@pytest.mark.app
def test_the_chat_endpoint_takes_bad_input(engine: Engine) -> None:
    gradio_client = pytest.importorskip("gradio_client")
    from webserver import free_port

    demo = chatbot.web.chat.build_app(engine)
    _, url, _ = demo.launch(
        prevent_thread_lock=True, quiet=True, **chatbot.web.chat.launch_options("127.0.0.1", free_port())
    )
    try:
        client = gradio_client.Client(url, verbose=False)
        for name in ("100k characters", "control characters", "emoji", "html and script", "blank"):
            started = time.perf_counter()
            _, history = client.predict(BAD_INPUTS[name], [], api_name="/chat")
            assert time.perf_counter() - started < 10 * BOUND
            if name == "blank":
                assert history == []
            else:
                assert [m["role"] for m in history][:2] == ["user", "assistant"]
    finally:
        demo.close()


def test_queue_is_sized_for_the_machine() -> None:
    assert chatbot.web.chat.queue_settings(2) == {"default_concurrency_limit": 4, "max_size": 128}
    assert chatbot.web.chat.queue_settings(0) == {"default_concurrency_limit": 2, "max_size": 64}
    assert chatbot.web.chat.queue_settings()["max_size"] >= 64  # 32 users queue without refusal
