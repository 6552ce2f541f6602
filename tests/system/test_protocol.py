"""`chatbot ask --json`: the batch protocol support staff and evaluation scripts rely on.

One JSON line out per line in, in order; a bad line gets {"error": ...} and the run goes on. The
output keys are the issue's; extra keys are allowed. Run in-process with the fake embedder.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import AWKWARD

import chatbot.answering.engine
from chatbot.cli import main

TITLE = "Understanding Refractory Myeloma: Definition, Symptoms, and Treatment"
PASSAGE_TYPES = {
    "id": str,
    "text": str,
    "source": str,
    "section": str,
    "score": float,
    "start": int,
    "end": int,
}


def ask_json(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    corpus: Path,
    index: Path,
    stdin: str,
    *extra: str,
) -> list[dict[str, Any]]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["ask", "--json", "--corpus", str(corpus), "--index", str(index), *extra])
    out = capsys.readouterr().out
    assert code == 0
    assert out == "" or out.endswith("\n")
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture
def protocol(
    fake_model: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    corpus_dir: Path,
    index_dir: Path,
) -> Any:
    def run(stdin: str, *extra: str, corpus: Path = corpus_dir) -> list[dict[str, Any]]:
        return ask_json(monkeypatch, capsys, corpus, index_dir, stdin, *extra)

    return run


def test_one_line_out_per_line_in_in_order(protocol: Any) -> None:
    stdin = (
        json.dumps({"question": "How is a bone marrow biopsy done?", "history": []})
        + "\n"
        + json.dumps("What is CAR T-cell therapy?")
        + "\n"
        + "this is not json\n"
        + json.dumps({"question": "Is it risky?", "history": ["What is CAR T-cell therapy?"]})
        + "\n"
        + json.dumps({"question": "What is stem cell transplantation?"})  # no final newline
    )
    out = protocol(stdin)
    assert len(out) == 5
    assert [o.get("question") for o in out] == [
        "How is a bone marrow biopsy done?",
        "What is CAR T-cell therapy?",
        None,
        "Is it risky?",
        "What is stem cell transplantation?",
    ]
    assert set(out[2]) == {"error"} and "line 3" in out[2]["error"]
    assert all(o["answered"] for i, o in enumerate(out) if i != 2)  # the run went on


@pytest.mark.parametrize(
    "bad, why",
    [
        ({"question": "What is myeloma?", "history": "What is cancer?"}, "history"),
        ({"question": "What is myeloma?", "history": [1, 2]}, "history"),
        ({"question": "What is myeloma?", "history": {"q": "x"}}, "history"),
        ({"question": 42}, "question"),
        ({"history": ["What is myeloma?"]}, "question"),
        (["What is myeloma?"], "object"),
        (7, "object"),
    ],
)
def test_unreadable_lines_get_an_error_in_place(protocol: Any, bad: Any, why: str) -> None:
    stdin = (
        json.dumps("What is myeloma?")
        + "\n"
        + json.dumps(bad)
        + "\n"
        + json.dumps("What is CAR T-cell therapy?")
        + "\n"
    )
    out = protocol(stdin)
    assert len(out) == 3
    assert set(out[1]) == {"error"}
    assert out[1]["error"].startswith("line 2") and why in out[1]["error"]
    assert out[0]["answered"] and out[2]["answered"]


def test_blank_input_lines_keep_the_count(protocol: Any) -> None:
    out = protocol('"What is myeloma?"\n\n"What is CAR T-cell therapy?"\n')
    assert len(out) == 3
    assert "error" in out[1]
    assert out[2]["question"] == "What is CAR T-cell therapy?"


def test_empty_stdin_gives_no_output(protocol: Any) -> None:
    assert protocol("") == []


def test_output_keys_and_types(protocol: Any, corpus_dir: Path) -> None:
    (out,) = protocol(json.dumps({"question": "How is a bone marrow biopsy done?"}) + "\n")
    assert {"question", "answered", "alert", "passages"} <= set(out)
    assert out["question"] == "How is a bone marrow biopsy done?"
    assert out["answered"] is True
    assert out["alert"] is None
    assert isinstance(out["passages"], list) and out["passages"]
    for p in out["passages"]:
        assert set(PASSAGE_TYPES) <= set(p)
        for key, kind in PASSAGE_TYPES.items():
            assert type(p[key]) is kind, (key, p[key])
        assert 0 <= p["start"] < p["end"]
    scores = [p["score"] for p in out["passages"]]
    assert scores == sorted(scores, reverse=True)  # best first
    assert len({p["id"] for p in out["passages"]}) == len(out["passages"])


def test_section_is_the_citation_users_see(protocol: Any) -> None:
    (out,) = protocol('"How is a bone marrow biopsy done from the hip?"\n')
    first = out["passages"][0]
    assert first["section"] == f"{TITLE} › How is Refractory Myeloma Diagnosed? › Bone Marrow Biopsy"
    for p in out["passages"]:
        parts = p["section"].split(" › ")
        assert parts[0] == TITLE and 2 <= len(parts) <= 3 and all(parts)


def source_text(corpus: Path, source: str) -> str:
    with open(corpus / source, encoding="utf-8-sig", newline="") as fh:  # no newline translation
        return fh.read()


def test_passage_text_is_the_exact_slice_of_the_source_file(protocol: Any, corpus_dir: Path) -> None:
    questions = [
        "What is refractory myeloma?",
        "What are proteasome inhibitors?",
        "What side effects are there?",
    ]
    out = protocol("".join(json.dumps(q) + "\n" for q in questions), "--top-k", "5")
    for answer in out:
        for p in answer["passages"]:
            assert source_text(corpus_dir, p["source"])[p["start"] : p["end"]] == p["text"]


def test_exact_slices_in_crlf_and_unicode_files(protocol: Any, tmp_path: Path) -> None:
    corpus = tmp_path / "awkward"
    shutil.copytree(AWKWARD, corpus)
    for name in ("unicode.txt", "guide.md"):
        (corpus / f"crlf-{name}").write_bytes((AWKWARD / name).read_bytes().replace(b"\n", b"\r\n"))
    out = protocol(
        '"Élan Thérapeutique Naïve cells"\n"complete blood count abnormal cells"\n',
        "--top-k",
        "5",
        corpus=corpus,
    )
    seen = set()
    for answer in out:
        for p in answer["passages"]:
            seen.add(p["source"])
            assert source_text(corpus, p["source"])[p["start"] : p["end"]] == p["text"]
    assert seen & {"crlf-unicode.txt", "crlf-guide.md"}


@pytest.mark.parametrize("k", [1, 2, 5])
def test_top_k_is_respected(protocol: Any, k: int) -> None:
    (out,) = protocol('"What is refractory myeloma and how is it treated?"\n', "--top-k", str(k))
    assert len(out["passages"]) == k


def test_default_top_k_is_three(protocol: Any) -> None:
    (out,) = protocol('"What is refractory myeloma and how is it treated?"\n')
    assert len(out["passages"]) == 3


@pytest.mark.parametrize("line", ['""', '"   "', '{"question": ""}', '{"question": " \\t "}'])
def test_blank_question_is_not_answered(protocol: Any, line: str) -> None:
    (out,) = protocol(line + "\n")
    assert out["answered"] is False
    assert out["passages"] == []
    assert out["alert"] is None


def test_history_reaches_the_engine(protocol: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, list[str]]] = []
    real_ask = chatbot.answering.engine.Engine.ask

    def spy(self: Any, question: str, history: Any = (), *args: Any, **kwargs: Any) -> Any:
        seen.append((question, list(history)))
        return real_ask(self, question, history, *args, **kwargs)

    monkeypatch.setattr(chatbot.answering.engine.Engine, "ask", spy)
    stdin = (
        json.dumps({"question": "Is it risky?", "history": ["What is CAR T-cell therapy?", "Who gets it?"]})
        + "\n"
        + json.dumps("What is myeloma?")
        + "\n"
        + json.dumps({"question": "What is myeloma?", "history": None})
        + "\n"
    )
    out = protocol(stdin)
    assert len(out) == 3
    assert seen == [
        ("Is it risky?", ["What is CAR T-cell therapy?", "Who gets it?"]),
        ("What is myeloma?", []),
        ("What is myeloma?", []),
    ]


def test_unicode_question_round_trips(protocol: Any) -> None:
    (out,) = protocol(json.dumps({"question": "Qu’est-ce que le myélome ? 🙂"}, ensure_ascii=False) + "\n")
    assert out["question"] == "Qu’est-ce que le myélome ? 🙂"
