"""The `chatbot` command: a thin layer over the pipeline.

Exit codes: 0 success, 1 a known error (one line, `error: ...`, no traceback), 2 a usage error.
Heavy imports (torch, gradio) happen inside the subcommand that needs them, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from chatbot.errors import ChatbotError, InputError

if TYPE_CHECKING:
    from chatbot.answer import Engine

log = logging.getLogger("chatbot")


class UsageError(Exception):
    """Arguments that do not fit together; reported like argparse's own usage errors (exit 2)."""


def _paths(parser: argparse.ArgumentParser, *, corpus: bool = True) -> None:
    if corpus:
        parser.add_argument(
            "--corpus",
            type=Path,
            default=Path("corpus"),
            metavar="DIR",
            help="folder of documents to serve (default: corpus)",
        )
    parser.add_argument(
        "--index",
        type=Path,
        default=Path("index"),
        metavar="DIR",
        help="folder of the built index (default: index)",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= 20:
        raise argparse.ArgumentTypeError(f"must be between 1 and 20, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatbot",
        description="Answer questions about refractory myeloma with cited passages from the corpus.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="build or refresh the index from the corpus")
    _paths(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("ask", help="print the best passages for a question")
    _paths(p)
    p.add_argument("question", nargs="?", help="the question (omit with --json)")
    p.add_argument(
        "--json",
        action="store_true",
        help="batch protocol: JSON lines in on stdin, one JSON line out per line",
    )
    p.add_argument("--top-k", type=_positive, default=3, metavar="N", help="passages per answer (default 3)")

    p = sub.add_parser("serve", help="run the chat app in the browser")
    _paths(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")

    p = sub.add_parser("eval", help="hit@1, hit@3 and MRR on an evaluation file")
    _paths(p)
    p.add_argument("file", type=Path, help="JSON lines: question, history, expected sentences")
    p.add_argument("--top-k", type=_positive, default=3, metavar="N")
    p.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    return parser


def _engine(args: argparse.Namespace) -> Engine:
    from chatbot.answer import Engine
    from chatbot.embedding import MiniLMEmbedder
    from chatbot.indexer import open_index

    embedder = MiniLMEmbedder()
    index = open_index(args.corpus, args.index, embedder, progress=sys.stderr.isatty())
    return Engine(index, embedder)


def cmd_index(args: argparse.Namespace) -> int:
    from chatbot.embedding import MiniLMEmbedder
    from chatbot.indexer import build_index

    report = build_index(args.corpus, args.index, MiniLMEmbedder(), progress=not args.quiet)
    m = report.manifest
    print(
        f"indexed {m.documents} documents, {m.chunks} chunks into {args.index}/ "
        f"(build {m.build_id}; {report.embedded} embedded, {report.reused} reused, {report.seconds:.1f}s)"
    )
    return 0


def parse_request(line: str) -> tuple[str, list[str]]:
    """One line of the batch protocol: a JSON object with question/history, or a JSON string."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if isinstance(data, str):
        return data, []
    if not isinstance(data, dict):
        raise InputError('expected an object {"question": ..., "history": [...]} or a string')
    question = data.get("question")
    if not isinstance(question, str):
        raise InputError('"question" must be a string')
    history = data.get("history", [])
    if history is None:
        history = []
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        raise InputError('"history" must be a list of strings (earlier questions, oldest first)')
    return question, history


def _ask_json(engine: Engine, top_k: int, stdin: TextIO, stdout: TextIO) -> int:
    for n, line in enumerate(stdin, start=1):
        out: dict[str, Any]
        try:
            question, history = parse_request(line)
            out = engine.ask(question, history, top_k).to_json()
        except InputError as exc:
            out = {"error": f"line {n}: {exc}"}
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    if args.json and args.question is not None:
        raise UsageError("give the questions on stdin with --json, not as an argument")
    if not args.json and (args.question is None or not args.question.strip()):
        raise UsageError('no question given: chatbot ask "your question" (or --json to read stdin)')
    engine = _engine(args)
    if args.json:
        return _ask_json(engine, args.top_k, sys.stdin, sys.stdout)
    from chatbot.present import answer_text

    print(answer_text(engine.ask(args.question, top_k=args.top_k)))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from chatbot.app import serve

    serve(_engine(args), host=args.host, port=args.port, corpus_dir=args.corpus)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from chatbot.evaluation import evaluate, format_report, load_eval_set

    cases = load_eval_set(args.file)
    report = evaluate(_engine(args), cases, top_k=args.top_k)
    print(json.dumps(report.to_json()) if args.json else format_report(report))
    return 0


COMMANDS = {"index": cmd_index, "ask": cmd_ask, "serve": cmd_serve, "eval": cmd_eval}


def _configure_logging() -> None:
    """Our own log lines on stderr; libraries stay at WARNING so their chatter does not bury them."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("chatbot: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on usage errors and --help; main() returns instead
        return int(exc.code or 0)
    _configure_logging()
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"chatbot: error: {exc}", file=sys.stderr)
        return 2
    except ChatbotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
