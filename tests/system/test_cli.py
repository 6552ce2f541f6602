"""`chatbot` exit codes and messages: 0 done, 1 a known error in one line, 2 a usage error.

Mostly in-process through `main()` with the fake embedder standing in for MiniLM; a few real
subprocesses prove that no traceback reaches the terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from chatbot.cli import build_parser, main

TITLE = "Understanding Refractory Myeloma: Definition, Symptoms, and Treatment"


def run(argv: Sequence[str]) -> int:
    """main()'s exit code, whether it returns it or argparse exits."""
    try:
        return main(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def paths(corpus: Path, index: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(index)]


# --- usage errors: exit 2 --------------------------------------------------------------------------


def test_no_arguments_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: chatbot")
    assert "Traceback" not in err


@pytest.mark.parametrize("question", [None, "", "   "])
def test_ask_without_a_question_is_a_usage_error(
    question: str | None,
    fake_model: Any,
    corpus_dir: Path,
    index_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["ask", *paths(corpus_dir, index_dir)] + ([] if question is None else [question])
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert any(line.startswith("usage:") for line in err.splitlines())
    assert "no question" in err
    assert not index_dir.exists()  # refused before any work


def test_question_and_json_together_is_a_usage_error(
    fake_model: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["ask", "--json", "What is myeloma?"]) == 2
    assert "stdin" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1", "21", "three"])
def test_top_k_out_of_range_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["ask", "--top-k", value, "What is myeloma?"]) == 2
    err = capsys.readouterr().err
    assert "--top-k" in err and value in err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["frobnicate"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: chatbot")
    for command in ("index", "ask", "serve", "eval"):
        assert command in out
    assert run(["ask", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--json", "--top-k", "--corpus", "--index"):
        assert option in out


def test_serve_defaults_are_local() -> None:
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.1", 7860)


# --- known errors: exit 1, one line ------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["ask", "What is myeloma?"], ["index"], ["eval", "tests/data/article_dev.jsonl"]]
)
def test_missing_corpus_folder(
    command: list[str], fake_model: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*command, *paths(tmp_path / "no-such-corpus", tmp_path / "index")]
    if command[0] == "eval":
        argv[1] = str(ROOT / argv[1])
    assert run(argv) == 1
    err = capsys.readouterr().err
    (line,) = error_lines(err)
    assert "--corpus" in line and "no-such-corpus" in line
    assert "Traceback" not in err


def test_corrupted_index(
    built_index: Any, fake_model: Any, corpus_dir: Path, index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (index_dir / "manifest.json").write_text("{oops", encoding="utf-8")
    assert run(["ask", "What is myeloma?", *paths(corpus_dir, index_dir)]) == 1
    captured = capsys.readouterr()
    (line,) = error_lines(captured.err)
    assert "chatbot index" in line
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_missing_eval_file(fake_model: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["eval", str(tmp_path / "nope.jsonl"), *paths(tmp_path / "c", tmp_path / "i")]) == 1
    (line,) = error_lines(capsys.readouterr().err)
    assert "nope.jsonl" in line


# --- success -------------------------------------------------------------------------------------------


def test_index_then_reindex(
    fake_model: Any, corpus_dir: Path, index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["index", "--quiet", *paths(corpus_dir, index_dir)]) == 0
    first = capsys.readouterr().out
    assert first.startswith("indexed 1 documents") and "0 reused" in first
    assert (index_dir / "manifest.json").is_file()
    assert run(["index", "--quiet", *paths(corpus_dir, index_dir)]) == 0
    assert "0 embedded" in capsys.readouterr().out


def test_ask_prints_passages_with_citations(
    fake_model: Any, corpus_dir: Path, index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["ask", "How is a bone marrow biopsy done from the hip?", *paths(corpus_dir, index_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"1. [{TITLE} › ")
    first_citation = out.splitlines()[0]
    assert "Bone Marrow Biopsy" in first_citation
    assert "hip bone" in out  # the passage's own words
    assert "not medical advice" in out


# --- real processes ------------------------------------------------------------------------------------


def cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "chatbot", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow
def test_subprocess_usage_error_has_no_traceback(tmp_path: Path) -> None:
    result = cli(cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: chatbot" in result.stderr and "Traceback" not in result.stderr
    result = cli("ask", "--top-k", "0", "q", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.slow
def test_subprocess_known_errors_have_no_traceback(tmp_path: Path) -> None:
    # run from an empty folder: the default corpus/ does not exist there
    result = cli("ask", "What is myeloma?", cwd=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "--corpus" in line
    assert "Traceback" not in result.stderr and result.stdout == ""

    (tmp_path / "corpus").mkdir()
    (tmp_path / "index").mkdir(exist_ok=True)  # the failed run above may have made it
    (tmp_path / "index" / "manifest.json").write_text("not json", encoding="utf-8")
    result = cli("ask", "What is myeloma?", cwd=tmp_path)
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "chatbot index" in line
    assert "Traceback" not in result.stderr
