"""The `chatbot` command: a thin layer over the pipeline.

Exit codes: 0 success, 1 a known error (one line, `error: ...`, no traceback), 2 a usage error.
Heavy imports (torch, gradio) happen inside the subcommand that needs them, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot.errors import ChatbotError, InputError, UsageError

if TYPE_CHECKING:
    from chatbot.answering.engine import Engine
    from chatbot.question.query import SearchQuery

log = logging.getLogger("chatbot")


Subcommands = argparse._SubParsersAction  # what add_subparsers returns: one add_parser per command


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


def _data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="folder of the feedback database (default: $CHATBOT_DATA_DIR or data)",
    )
    parser.add_argument(
        "--feedback-db",
        metavar="URL",
        help="a PostgreSQL database shared by several replicas, postgresql://USER@HOST/DB (or "
        "CHATBOT_FEEDBACK_DB); default: SQLite in the data folder",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= 20:
        raise argparse.ArgumentTypeError(f"must be between 1 and 20, got {value}")
    return value


def _megabytes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of megabytes, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _index_command(sub: Subcommands) -> None:
    """`chatbot index`: build or refresh the index."""
    p = sub.add_parser("index", help="build or refresh the index from the corpus")
    _paths(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the documents and sections that would be added, changed or removed; build nothing",
    )
    p.add_argument(
        "--strict", action="store_true", help="fail on a file that cannot be indexed instead of skipping it"
    )
    p.add_argument(
        "--max-file-mb",
        type=_megabytes,
        default=100.0,
        metavar="N",
        help="skip corpus files larger than N MB (default 100)",
    )
    p.add_argument("--force", action="store_true", help="rebuild even when the index is up to date")
    p.add_argument(
        "--publish",
        type=Path,
        metavar="DIR",
        help="then copy the build to DIR (a shared folder) and switch DIR to it, for replicas serving "
        "--index DIR (they follow within seconds)",
    )


def _ask_command(sub: Subcommands) -> None:
    """`chatbot ask`: one question, or JSON lines on stdin."""
    p = sub.add_parser("ask", help="print the best passages for a question")
    _paths(p)
    p.add_argument("question", nargs="?", help="the question (omit with --json)")
    p.add_argument(
        "--json",
        action="store_true",
        help="batch protocol: JSON lines in on stdin, one JSON line out per line",
    )
    p.add_argument("--top-k", type=_positive, default=3, metavar="N", help="passages per answer (default 3)")


def _serve_command(sub: Subcommands) -> None:
    """`chatbot serve`: the chat site."""
    p = sub.add_parser("serve", help="run the chat app in the browser")
    _paths(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument(
        "--public-name",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the site is reached by (a DNS name, a proxy's); repeatable, or "
        "CHATBOT_PUBLIC_NAMES=a,b. Requests naming any other host are refused",
    )
    p.add_argument(
        "--auth-file",
        type=Path,
        metavar="FILE",
        help="file whose first line is USER:PASSWORD for the whole site (or CHATBOT_AUTH); "
        "required for any host but loopback",
    )
    p.add_argument(
        "--staff-password-file",
        type=Path,
        metavar="FILE",
        help="file whose first line is the password for the staff pages at /staff "
        "(or CHATBOT_STAFF_PASSWORD)",
    )
    p.add_argument(
        "--auth",
        metavar="USER:PASSWORD",
        help="site password on the command line (every local user can read it in `ps`: "
        "prefer --auth-file or CHATBOT_AUTH)",
    )
    p.add_argument(
        "--staff-password",
        metavar="PASSWORD",
        help="staff password on the command line (visible in `ps`: prefer --staff-password-file "
        "or CHATBOT_STAFF_PASSWORD)",
    )
    p.add_argument(
        "--replica",
        metavar="NAME",
        help="this server's name in its feedback rows (or CHATBOT_REPLICA; default hostname:port)",
    )
    _data(p)


def _feedback_command(sub: Subcommands) -> None:
    """`chatbot feedback export`: votes and content gaps for staff."""
    p = sub.add_parser("feedback", help="support staff: export votes and content gaps")
    fsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = fsub.add_parser(
        "export",
        help="write every vote (or content gap) as CSV or JSON lines; a CSV cell that a spreadsheet "
        "would run as a formula (=, +, -, @ first) starts with ' instead",
    )
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="default csv")
    p.add_argument("--kind", choices=("feedback", "gaps"), default="feedback", help="default feedback")
    p.add_argument("--out", type=Path, metavar="FILE", help="file to write (default: standard output)")
    _data(p)


def _eval_command(sub: Subcommands) -> None:
    """`chatbot eval` and `chatbot eval-beir`: scores on question sets and benchmarks."""
    p = sub.add_parser("eval", help="hit@1, hit@3 and MRR on an evaluation file")
    _paths(p)
    p.add_argument("file", type=Path, help="JSON lines: question, history, expected sentences")
    p.add_argument("--top-k", type=_positive, default=3, metavar="N")
    p.add_argument("--json", action="store_true", help="print the scores as one JSON object")

    p = sub.add_parser("eval-beir", help="nDCG@10 and Recall@100 on a BEIR folder (bm25, dense, hybrid)")
    p.add_argument("folder", type=Path, help="folder with corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    p.add_argument("--split", default="test", help="qrels split to score (default test)")
    p.add_argument(
        "--cache",
        type=Path,
        default=Path("index/beir-cache"),
        metavar="DIR",
        help="where embeddings are cached by content hash (default index/beir-cache)",
    )
    p.add_argument("--json", action="store_true", help="print the scores as one JSON object")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatbot",
        description="Answer questions about refractory myeloma with cited passages from the corpus.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for add in (_index_command, _ask_command, _serve_command, _feedback_command, _eval_command):
        add(sub)
    return parser


def _engine(args: argparse.Namespace) -> Engine:
    """The engine over the index, built first when missing or stale (`ask`, `eval`)."""
    from chatbot.answering.engine import open_engine

    return open_engine(args.corpus, args.index, progress=sys.stderr.isatty())


def cmd_index(args: argparse.Namespace) -> int:
    from chatbot.indexing.build import IndexOptions, build_index, plan_build
    from chatbot.indexing.embedding import MiniLMEmbedder

    options = IndexOptions(max_file_bytes=int(args.max_file_mb * 1_000_000), strict=args.strict)
    embedder = MiniLMEmbedder()
    if args.dry_run:
        from chatbot.indexing.changes import format_plan

        plan, left_out = plan_build(
            args.corpus, args.index, embedder, options=options, progress=not args.quiet
        )
        print(format_plan(plan, left_out))
        return 0
    report = build_index(
        args.corpus, args.index, embedder, options=options, progress=not args.quiet, force=args.force
    )
    m = report.manifest
    skipped = f"; {len(report.skipped)} skipped, see the warnings above" if report.skipped else ""
    if report.up_to_date:
        print(
            f"index is up to date: {m.documents} documents, {m.chunks} chunks in {args.index}/ "
            f"(build {m.build_id}; 0 embedded{skipped})"
        )
    else:
        print(
            f"indexed {m.documents} documents, {m.chunks} chunks into {args.index}/ "
            f"(build {m.build_id}; {report.embedded} embedded, {report.reused} reused, "
            f"{report.seconds:.1f}s{skipped})"
        )
    if args.publish is not None:
        from chatbot.indexing.store import publish_build

        published, copied = publish_build(args.index, args.publish)
        done = "published" if copied else "already published"
        print(
            f"{done}: build {published.build_id} in {args.publish}/ (its replicas follow within seconds)"
        )
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    if args.json and args.question is not None:
        raise UsageError("give the questions on stdin with --json, not as an argument")
    if not args.json and (args.question is None or not args.question.strip()):
        raise UsageError('no question given: chatbot ask "your question" (or --json to read stdin)')
    engine = _engine(args)
    if args.json:
        if isinstance(sys.stdin, io.TextIOWrapper):  # a line that is not UTF-8 gets an error line
            sys.stdin.reconfigure(errors="surrogateescape")
        from chatbot.protocol import answer_lines

        answer_lines(engine, sys.stdin, sys.stdout, args.top_k)
        return 0
    from chatbot.present import answer_text

    print(answer_text(engine.ask(args.question, top_k=args.top_k)))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from chatbot.web.server import private_gradio_cache, serve
    from chatbot.web.settings import check_address, settings_from
    from chatbot.web.startup import serving_engine, warm_up

    settings = settings_from(
        args.host,
        args.port,
        args.auth,
        args.staff_password,
        args.data,
        auth_file=args.auth_file,
        staff_password_file=args.staff_password_file,
        public_names=tuple(args.public_name),
        feedback_db=args.feedback_db,
        replica=args.replica,
    )
    settings.check()  # refuse an exposed, password-less or weakly guarded server before loading the model
    # Still accepted, so that scripts keep working, but said: a password in the arguments is in
    # every local user's `ps` and in the shell's history.
    for flag in ("--auth", "--staff-password"):
        if getattr(args, flag[2:].replace("-", "_")) is not None:
            log.warning(
                "%s on the command line is visible to every user of this machine (ps); use %s-file "
                "FILE or the environment variable instead",
                flag,
                flag,
            )
    private_gradio_cache()  # before Gradio is imported: it reads GRADIO_TEMP_DIR then
    check_address(settings.host, settings.port)  # and a port already taken
    engine = serving_engine(args.corpus, args.index, progress=sys.stderr.isatty())
    warm_up(engine)  # the first patient does not pay for loading the model
    serve(engine, settings)
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    import os

    from chatbot.feedback.protocol import open_store
    from chatbot.web.settings import settings_from

    settings = settings_from(data_dir=args.data, feedback_db=args.feedback_db)
    store = open_store(settings, spool=False)  # reading only: a replica's spool is its own
    try:
        if args.out is None:
            count = store.export(args.kind, args.format, sys.stdout)
        else:
            # Read first: an unreachable database leaves no empty file behind.
            text = io.StringIO(newline="")
            count = store.export(args.kind, args.format, text)
            try:
                # 0600: patients' words, readable by this user only (a new file; an existing one keeps
                # its mode, which its owner chose).
                fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with open(fd, "w", encoding="utf-8", newline="") as fh:
                    fh.write(text.getvalue())
            except OSError as exc:
                why = f"cannot write {args.out}: {exc.strerror}. Pick another --out FILE."
                raise InputError(why) from None
            log.info("wrote %d %s rows to %s", count, args.kind, args.out)
    finally:
        store.close()
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from chatbot.evaluation.eval_sets import evaluate, format_report, load_eval_set

    cases = load_eval_set(args.file)
    report = evaluate(_engine(args), cases, top_k=args.top_k)
    print(json.dumps(report.to_json()) if args.json else format_report(report))
    return 0


def cmd_eval_beir(args: argparse.Namespace) -> int:
    from functools import lru_cache

    from chatbot.answering.engine import Engine
    from chatbot.evaluation.beir import (
        CHUNK_DEPTH,
        build_memory_index,
        evaluate_benchmark,
        format_result,
        load_benchmark,
    )
    from chatbot.indexing.embedding import MiniLMEmbedder

    bench = load_benchmark(args.folder, args.split)
    embedder = MiniLMEmbedder()
    engine = Engine(
        build_memory_index(bench.documents, embedder, args.cache, progress=sys.stderr.isatty()), embedder
    )

    @lru_cache(maxsize=4)
    def query(text: str) -> tuple[SearchQuery, Any]:
        search = engine.search_query(text)
        return search, embedder.encode([search.text])[0]

    def search(text: str, method: str) -> list[str]:
        searched, vector = query(text)
        hits = engine.retriever.find(vector, searched, CHUNK_DEPTH, method, depth=CHUNK_DEPTH)
        return [h.chunk.source for h in hits]

    result = evaluate_benchmark(bench, search)
    print(json.dumps(result) if args.json else format_result(result))
    return 0


COMMANDS = {
    "index": cmd_index,
    "ask": cmd_ask,
    "serve": cmd_serve,
    "eval": cmd_eval,
    "eval-beir": cmd_eval_beir,
    "feedback": cmd_feedback,
}


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
