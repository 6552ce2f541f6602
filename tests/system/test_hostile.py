"""The held-out hostile inputs (`tests/data/hostile_inputs.jsonl`) through `chatbot ask --json` in a
real process and through the running site's chat endpoint: each is answered or refused cleanly,
as the file says, and nothing crashes.

A case is `{"id", "question", "history"?, "raw"?, "repeat"?, "history_repeat"?, "expect"}`:
`question` and `history` may be any JSON (wrong types are part of the set); `raw` is a line sent
as it is (to the CLI) or a request body (to the app); `repeat` repeats the question (or raw) text,
`history_repeat` the history. `expect.cli` is "answer" (an answer object) or "error" (an error
line); `expect.app` is "answer" (a reply), "ignore" (nothing to ask: the chat stays as it was) or
"refuse" (Gradio turns the call down: HTTP 422 or an error event).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, ROOT

CASES = [json.loads(line) for line in (DATA / "hostile_inputs.jsonl").read_text().splitlines() if line]
# The CLI with the fake embedder in place of the model, in a real process.
FAKE_CLI = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); import chatbot.indexing.embedding, conftest; "
    "chatbot.indexing.embedding.MiniLMEmbedder = conftest.FakeEmbedder; "
    "from chatbot.cli import main; sys.exit(main())"
)
ANSWER_KEYS = {"question", "query", "answered", "alert", "advice", "passages"}


def question_of(case: dict[str, Any]) -> Any:
    q = case.get("question")
    return q * case.get("repeat", 1) if isinstance(q, str) else q


def history_of(case: dict[str, Any]) -> Any:
    h = case.get("history")
    return h * case.get("history_repeat", 1) if isinstance(h, list) else h


def protocol_line(case: dict[str, Any]) -> str:
    if "raw" in case:
        return str(case["raw"]) * case.get("repeat", 1)
    request = {"question": question_of(case)}
    if "history" in case:
        request["history"] = history_of(case)
    return json.dumps(request)  # ASCII: lone surrogates travel as \ud800 escapes


def test_the_set_is_big_and_varied() -> None:
    assert len(CASES) >= 30
    assert len({c["id"] for c in CASES}) == len(CASES)
    for kind in ("cli", "app"):
        assert {c["expect"][kind] for c in CASES} >= ({"answer", "error"} if kind == "cli" else {"answer"})


def run_cli(argv: list[str], stdin: bytes, env_extra: dict[str, str] | None = None) -> Any:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env_extra or {})}
    return subprocess.run(argv, input=stdin, capture_output=True, cwd=ROOT, env=env, timeout=600)


def check_cli_output(result: Any, expected: list[str], seconds: float, bound: float) -> None:
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    assert seconds < bound
    rows = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    assert len(rows) == len(expected)
    wrong = []
    for n, (row, case, want) in enumerate(zip(rows, CASES, expected, strict=False), start=1):
        if want == "error":
            ok = list(row) == ["error"] and row["error"].startswith(f"line {n}: ")
        else:
            ok = set(row) >= ANSWER_KEYS and row["answered"] == bool(row["passages"])
        if not ok:
            wrong.append((case["id"], want, str(row)[:200]))
    assert not wrong, wrong


def cli_stdin() -> bytes:
    lines = [protocol_line(c) for c in CASES]
    # Plus a line that is not UTF-8 at all, which JSON cannot hold in the file.
    return ("\n".join(lines) + "\n").encode("utf-8") + b'\xff\xfe"what is myeloma"\n'


@pytest.mark.slow
def test_hostile_inputs_through_ask_json_in_a_process(
    built_index: Any, corpus_dir: Path, index_dir: Path
) -> None:
    argv = [sys.executable, "-c", FAKE_CLI, str(ROOT / "tests"), "ask", "--json"]
    argv += ["--corpus", str(corpus_dir), "--index", str(index_dir)]
    started = time.perf_counter()
    result = run_cli(argv, cli_stdin())
    expected = [c["expect"]["cli"] for c in CASES] + ["error"]
    check_cli_output(result, expected, time.perf_counter() - started, bound=120)
    last = json.loads(result.stdout.decode().splitlines()[-1])
    assert "not UTF-8" in last["error"]


@pytest.mark.slow
@pytest.mark.model
def test_hostile_inputs_through_the_real_chatbot_ask_json(tmp_path: Path) -> None:
    """The installed `chatbot` command with the real model, on a fresh index of the article."""
    import shutil

    from conftest import CORPUS

    corpus = Path(shutil.copytree(CORPUS, tmp_path / "corpus"))
    script = Path(sys.executable).parent / "chatbot"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "chatbot"]
    argv += ["ask", "--json", "--corpus", str(corpus), "--index", str(tmp_path / "index")]
    started = time.perf_counter()
    result = run_cli(argv, cli_stdin())
    expected = [c["expect"]["cli"] for c in CASES] + ["error"]
    check_cli_output(result, expected, time.perf_counter() - started, bound=600)


# --- through the site, over HTTP --------------------------------------------------------------


def chat_messages(history: Any) -> Any:
    """Earlier questions as the chat holds them; anything but a list of strings is sent as it is."""
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        return history
    out = []
    for h in history:
        out.append({"role": "user", "content": [{"type": "text", "text": h}]})
        out.append({"role": "assistant", "content": [{"type": "text", "text": "(an answer)"}]})
    return out


def app_outcome(client: Any, case: dict[str, Any]) -> str:
    """answer, ignore or refuse, as the chat endpoint treats the case; anything else is a failure."""
    if "raw" in case:
        body, sent = protocol_line(case).encode("utf-8"), []
    else:
        history = chat_messages(history_of(case)) if "history" in case else []
        sent = history if isinstance(history, list) else []
        body = json.dumps({"data": [question_of(case), history]}).encode()
    r = client.post("/gradio_api/call/chat", content=body, headers={"content-type": "application/json"})
    if r.status_code in (400, 413, 422):  # refused, saying why
        return "refuse"
    if r.status_code != 200:
        return f"HTTP {r.status_code}: {r.text[:200]}"
    stream = client.get(f"/gradio_api/call/chat/{r.json()['event_id']}").text
    event = next((line[6:].strip() for line in stream.splitlines() if line.startswith("event:")), "")
    data = next((line[5:] for line in reversed(stream.splitlines()) if line.startswith("data:")), "null")
    if event == "error":
        return "refuse"
    if event != "complete":
        return f"event {event!r}: {stream[:200]}"
    chat = json.loads(data)[1]
    new = chat[len(sent) :]
    if not new:
        return "ignore"
    roles = [m["role"] for m in new]
    if roles[:2] == ["user", "assistant"] and all(m.get("content") for m in new):
        return "answer"
    return f"odd reply {str(new)[:200]}"


@pytest.mark.app
def test_hostile_inputs_through_the_chat_endpoint(fake_engine: Any, tmp_path: Path) -> None:
    httpx = pytest.importorskip("httpx")
    from webserver import serving

    from chatbot.web.server import create_app
    from chatbot.web.settings import WebSettings

    app = create_app(fake_engine, WebSettings(data_dir=tmp_path / "data"))
    wrong = []
    with serving(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        for case in CASES:
            started = time.perf_counter()
            got = app_outcome(client, case)
            if got != case["expect"]["app"] or time.perf_counter() - started > 30:
                wrong.append((case["id"], case["expect"]["app"], got))
        # and the site still answers an ordinary question afterwards
        assert app_outcome(client, {"question": "What is refractory myeloma?"}) == "answer"
    assert not wrong, wrong
