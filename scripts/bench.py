"""`make bench`: how fast the chat answers, under load, from a cold start, and in how much memory.

Each figure is set against a baseline measured in the same run (this machine is shared, so
absolute timings drift; ratios hold):
1. Latency: the full pipeline (`Engine.ask`) against the bare query embedding, per question,
   interleaved, distinct questions, answer cache cleared (`bench_latency.measure`); then the same
   questions again from the answer cache. Timed in a worker thread, as the app's handlers run.
2. Load: `chatbot serve` (real model, the index) in a subprocess; 1, 8 and 32 simulated users, one
   thread and one HTTP client each, ask the evaluation questions through the Gradio API
   (`/gradio_api/call/chat`, the chat's public endpoint) without pause for a fixed time. The
   server runs with its answer cache off, so every request does the full work.
3. Cold start: from launching `chatbot serve` (index present) to the first answer over HTTP,
   against `python -c "import gradio, sentence_transformers"`; alternated, median of a few runs.
4. Memory: peak RSS (VmHWM in /proc) of the serving process, after its first answer and after load.

    python scripts/bench.py [--users 1 8 32] [--durations 10 15 30] [--cold-runs 3] [--out reports]

Writes reports/bench.json and reports/bench.md and prints a summary. `--check` exits 1 when a bar
is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from bench_latency import load_questions, measure, summary  # noqa: E402

ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
}
IMPORT_FLOOR = "import gradio, sentence_transformers"
# `chatbot serve` with the answer cache off: the load test then times real work, not repeats.
SERVE_UNCACHED = (
    "import sys, chatbot.answering.engine; chatbot.answering.engine.ANSWER_CACHE = 0; "
    "from chatbot.cli import main; sys.exit(main())"
)
FIRST_QUESTION = "What is refractory myeloma?"
BARS = {
    "latency_ratio": 1.5,  # pipeline p50 / bare embedding p50
    "load_p95_ratio": 10.0,  # p95 at 8 users / single-user p50
    "cold_ratio": 1.3,  # cold start / import floor
}
Question = tuple[str, list[str]]


# --- the machine ------------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _field(text: str, name: str) -> str:
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return "unknown"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    mem_kb = _field(_read("/proc/meminfo"), "MemTotal").split()[0]
    return {
        "cpu": _field(_read("/proc/cpuinfo"), "model name"),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "ram_gb": round(int(mem_kb) / 1024**2, 1) if mem_kb.isdigit() else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "sentence_transformers": _version("sentence-transformers"),
        "gradio": _version("gradio"),
        "faiss": _version("faiss-cpu"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# --- HTTP: one question through the chat's public endpoint -------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chat_history(history: list[str]) -> list[dict[str, str]]:
    """Earlier questions as the chat holds them (each followed by an answer)."""
    out: list[dict[str, str]] = []
    for h in history:
        out.append({"role": "user", "content": [{"type": "text", "text": h}]})
        out.append({"role": "assistant", "content": [{"type": "text", "text": "(the answer)"}]})
    return out


def ask_http(client: Any, question: str, history: list[str]) -> str | None:
    """Ask through /gradio_api/call/chat; None when an answer came back, else what went wrong."""
    r = client.post("/gradio_api/call/chat", json={"data": [question, chat_history(history)]})
    if r.status_code != 200:
        return f"HTTP {r.status_code} on submit"
    event_id = r.json()["event_id"]
    event = ""
    with client.stream("GET", f"/gradio_api/call/chat/{event_id}") as resp:
        if resp.status_code != 200:
            return f"HTTP {resp.status_code} on result"
        for line in resp.iter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                if event == "error":
                    return f"error event {line.removeprefix('data:').strip()[:80]}"
                messages = json.loads(line.removeprefix("data:"))[1]
                replies = [m for m in messages if m.get("role") == "assistant" and m.get("content")]
                return None if replies else "no answer in the reply"
    return "the result stream ended without a result"


class Server:
    """`chatbot serve` in a subprocess on a free port; its log goes to a file."""

    def __init__(self, argv: list[str], corpus: Path, index: Path, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"serve-{self.port}.log"
        data = workdir / f"data-{self.port}"
        args = ["serve", "--port", str(self.port), "--corpus", str(corpus), "--index", str(index)]
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [*argv, *args, "--data", str(data)],
            cwd=ROOT,
            env=ENV,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def first_answer(self, timeout: float = 180.0) -> float:
        """Seconds from launch to the first answer over HTTP (polling every 50 ms)."""
        import httpx

        deadline = self.started + timeout
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited: {self.log_tail()}")
                try:
                    problem = ask_http(client, FIRST_QUESTION, [])
                except (httpx.ConnectError, httpx.RemoteProtocolError):
                    time.sleep(0.05)
                    continue
                if problem is None:
                    return time.perf_counter() - self.started
                time.sleep(0.05)  # up, but not answering yet
        raise RuntimeError(f"no answer within {timeout:.0f}s: {self.log_tail()}")

    def peak_rss_mb(self) -> float:
        return _status_kb(self.proc.pid, "VmHWM") / 1024

    def rss_mb(self) -> float:
        return _status_kb(self.proc.pid, "VmRSS") / 1024

    def log_tail(self) -> str:
        return " | ".join(_read(str(self.log_path)).strip().splitlines()[-5:])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def _status_kb(pid: int, name: str) -> float:
    value = _field(_read(f"/proc/{pid}/status"), name).split()
    return float(value[0]) if value and value[0].isdigit() else 0.0


def chatbot_command() -> list[str]:
    script = Path(sys.executable).parent / "chatbot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "chatbot"]


# --- 1. latency ------------------------------------------------------------------------------------


def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run fn in a fresh thread, as Gradio runs the chat's handler, and return its result."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn(*args)))
    thread.start()
    thread.join()
    return out[0]


def bench_latency(corpus: Path, index: Path, questions: list[Question], rounds: int) -> dict[str, Any]:
    from chatbot.answering.engine import Engine
    from chatbot.indexing.build import open_index
    from chatbot.indexing.embedding import MiniLMEmbedder

    embedder = MiniLMEmbedder()
    engine = Engine(open_index(corpus, index, embedder, progress=False), embedder)
    distinct = list({(q, tuple(h)): (q, h) for q, h in questions}.values())
    embedder.warm_up()
    for q, h in distinct[:5]:
        engine.ask(q, h)
    result: dict[str, Any] = in_thread(measure, engine, embedder, distinct, rounds)

    def repeats() -> dict[str, float]:
        times = []
        for q, h in distinct:  # every one is in the cache since measure's last round
            t = time.perf_counter()
            engine.ask(q, h)
            times.append(time.perf_counter() - t)
        return summary(times)

    result["cached"] = in_thread(repeats)
    result["questions"] = len(distinct)
    result["rounds"] = rounds
    return result


# --- 2. load ---------------------------------------------------------------------------------------


@dataclass
class LoadLevel:
    users: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0

    def report(self) -> dict[str, Any]:
        ok = summary(self.latencies) if self.latencies else {"p50_ms": None, "p95_ms": None, "p99_ms": None}
        shown = list(dict.fromkeys(self.errors))[:5]
        return {
            "users": self.users,
            "seconds": self.seconds,
            "requests": len(self.latencies) + len(self.errors),
            "answered": len(self.latencies),
            "errors": len(self.errors),
            "error_examples": shown,
            "throughput_per_s": round(len(self.latencies) / self.wall, 2) if self.wall else 0.0,
            **{k: ok[k] for k in ("p50_ms", "p95_ms", "p99_ms")},
        }


def run_level(url: str, users: int, seconds: float, questions: list[Question]) -> LoadLevel:
    """`users` threads, each with its own HTTP client, asking without pause until the time is up."""
    import httpx

    level = LoadLevel(users, seconds)
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds

    def user(n: int) -> None:
        i = (n * 7) % len(questions)  # each user walks the questions from its own place
        with httpx.Client(base_url=url, timeout=60) as client:
            while time.perf_counter() < deadline:
                q, h = questions[i % len(questions)]
                i += 1
                t = time.perf_counter()
                try:
                    problem = ask_http(client, q, h)
                except Exception as exc:  # a timeout or a dropped connection is an error too
                    problem = f"{type(exc).__name__}: {exc}"[:120]
                took = time.perf_counter() - t
                with lock:
                    (level.errors.append(problem) if problem else level.latencies.append(took))

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    level.wall = time.perf_counter() - start
    return level


def bench_load(
    corpus: Path,
    index: Path,
    questions: list[Question],
    users: list[int],
    durations: list[float],
    workdir: Path,
    cached: bool,
) -> dict[str, Any]:
    argv = chatbot_command() if cached else [sys.executable, "-c", SERVE_UNCACHED]
    server = Server(argv, corpus, index, workdir)
    try:
        started = server.first_answer()
        levels = []
        for n, seconds in zip(users, durations, strict=True):
            print(f"  load: {n} users for {seconds:g}s ...", flush=True)
            levels.append(run_level(server.url, n, seconds, questions).report())
        return {
            "server_answer_cache": cached,
            "first_answer_s": round(started, 2),
            "levels": levels,
            "peak_rss_mb": round(server.peak_rss_mb(), 1),
            "rss_after_mb": round(server.rss_mb(), 1),
            "queue": _queue_settings(),
        }
    finally:
        server.stop()


def _queue_settings() -> dict[str, int]:
    from chatbot.web.chat import queue_settings

    return queue_settings()


# --- 3. cold start --------------------------------------------------------------------------------


def time_imports() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORT_FLOOR], env=ENV, check=True, cwd=ROOT)
    return time.perf_counter() - t


def time_cold_start(corpus: Path, index: Path, workdir: Path) -> tuple[float, float]:
    server = Server(chatbot_command(), corpus, index, workdir)
    try:
        return server.first_answer(), server.peak_rss_mb()
    finally:
        server.stop()


def bench_cold(corpus: Path, index: Path, runs: int, workdir: Path) -> dict[str, Any]:
    floors: list[float] = []
    starts: list[float] = []
    peaks: list[float] = []
    for r in range(runs):  # alternate which goes first, so drift hits both alike
        order = ("floor", "serve") if r % 2 == 0 else ("serve", "floor")
        for what in order:
            if what == "floor":
                floors.append(time_imports())
            else:
                took, peak = time_cold_start(corpus, index, workdir)
                starts.append(took)
                peaks.append(peak)
        print(f"  cold start run {r + 1}: serve {starts[-1]:.2f}s, imports {floors[-1]:.2f}s", flush=True)
    floor, start = statistics.median(floors), statistics.median(starts)
    return {
        "runs": runs,
        "import_floor_s": [round(x, 2) for x in floors],
        "first_answer_s": [round(x, 2) for x in starts],
        "import_floor_median_s": round(floor, 2),
        "first_answer_median_s": round(start, 2),
        "ratio": round(start / floor, 3),
        "peak_rss_after_first_answer_mb": round(statistics.median(peaks), 1),
    }


# --- report --------------------------------------------------------------------------------------


def bars(result: dict[str, Any], durations: dict[int, float]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def bar(name: str, value: Any, limit: str, ok: bool | None) -> None:
        out.append({"bar": name, "value": value, "limit": limit, "pass": ok})

    lat = result.get("latency")
    if lat:
        ratio = lat["p50_ratio"]
        bar("pipeline p50 / bare embedding p50", f"{ratio:.2f}x", "≤ 1.5x", ratio <= BARS["latency_ratio"])
    load = result.get("load")
    if load:
        by_users = {lv["users"]: lv for lv in load["levels"]}
        if 32 in by_users:
            lv = by_users[32]
            long_enough = durations.get(32, 0) >= 30
            bar(
                f"32 users × {lv['seconds']:g} s: errors",
                f"{lv['errors']} of {lv['requests']}",
                "0 (over 30 s)",
                (lv["errors"] == 0) if long_enough else None,
            )
        if 1 in by_users and 8 in by_users and by_users[1]["p50_ms"] and by_users[8]["p95_ms"]:
            ratio = by_users[8]["p95_ms"] / by_users[1]["p50_ms"]
            bar(
                "p95 at 8 users / single-user p50",
                f"{ratio:.2f}x ({by_users[8]['p95_ms']:.0f} / {by_users[1]['p50_ms']:.0f} ms)",
                "≤ 10x",
                ratio <= BARS["load_p95_ratio"],
            )
    cold = result.get("cold_start")
    if cold:
        bar(
            "cold start to first answer / import floor",
            f"{cold['ratio']:.2f}x ({cold['first_answer_median_s']:.2f} / "
            f"{cold['import_floor_median_s']:.2f} s)",
            "≤ 1.3x",
            cold["ratio"] <= BARS["cold_ratio"],
        )
    return out


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _mark(ok: bool | None) -> str:
    return "pass" if ok else ("not measured" if ok is None else "**FAIL**")


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# Benchmark: latency, load, cold start, memory",
        "",
        f"Run {result['date']} by `make bench` (`scripts/bench.py`).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), {m['ram_gb']} GB RAM; "
        f"{m['os']}; Python {m['python']}, torch {m['torch']}, sentence-transformers "
        f"{m['sentence_transformers']}, gradio {m['gradio']}, faiss {m['faiss']}. Load average "
        f"{m['load_average_at_start']} at the start, {m.get('load_average_at_end')} at the end "
        "(a shared machine: compare ratios, not absolute times).",
        "",
        "## Bars",
        "",
        "| bar | value | limit | result |",
        "|---|---|---|---|",
    ]
    lines += [f"| {b['bar']} | {b['value']} | {b['limit']} | {_mark(b['pass'])} |" for b in result["bars"]]
    lat = result.get("latency")
    if lat:
        lines += [
            "",
            f"## 1. Per-question latency ({lat['questions']} distinct questions × {lat['rounds']} rounds)",
            "",
            "| | p50 ms | p95 ms | p99 ms |",
            "|---|---|---|---|",
        ]
        for name, key in (
            ("bare query embedding", "embed"),
            ("full pipeline (`Engine.ask`)", "pipeline"),
            ("repeat from the answer cache", "cached"),
        ):
            s = lat[key]
            lines.append(f"| {name} | {s['p50_ms']:.3g} | {s['p95_ms']:.3g} | {s['p99_ms']:.3g} |")
    load = result.get("load")
    if load:
        q = load["queue"]
        cache = "on" if load["server_answer_cache"] else "off (every request does the full work)"
        lines += [
            "",
            "## 2. Load over HTTP (`/gradio_api/call/chat`, users asking without pause)",
            "",
            f"Server answer cache {cache}; Gradio queue: {q['default_concurrency_limit']} at once, "
            f"{q['max_size']} waiting. The simulated users run on the same machine.",
            "",
            "| users | seconds | answered | errors | throughput /s | p50 ms | p95 ms | p99 ms |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for lv in load["levels"]:
            lines.append(
                f"| {lv['users']} | {lv['seconds']:g} | {lv['answered']} | {lv['errors']} | "
                f"{lv['throughput_per_s']} | "
                + " | ".join(_ms(lv[k]) for k in ("p50_ms", "p95_ms", "p99_ms"))
                + " |"
            )
        examples = [e for lv in load["levels"] for e in lv["error_examples"]]
        if examples:
            lines += ["", "Errors seen: " + "; ".join(dict.fromkeys(examples))]
    cold = result.get("cold_start")
    if cold:
        lines += [
            "",
            f"## 3. Cold start (median of {cold['runs']}, alternated)",
            "",
            f"- `chatbot serve` launched to the first answer over HTTP: {cold['first_answer_median_s']} s "
            f"(runs: {cold['first_answer_s']})",
            f'- `python -c "{IMPORT_FLOOR}"`: {cold["import_floor_median_s"]} s '
            f"(runs: {cold['import_floor_s']})",
            f"- ratio {cold['ratio']}x",
        ]
    lines += ["", "## 4. Peak memory of the serving process (RSS)", ""]
    if cold:
        lines.append(f"- after the first answer: {cold['peak_rss_after_first_answer_mb']} MB")
    if load:
        lines.append(
            f"- after the load test: {load['peak_rss_mb']} MB peak ({load['rss_after_mb']} MB at the end)"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    parser.add_argument("--questions", type=Path, default=ROOT / "tests/data/article_dev.jsonl")
    parser.add_argument("--rounds", type=int, default=3, help="latency rounds over the questions")
    parser.add_argument("--users", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--durations", type=float, nargs="+", default=[10, 15, 30], help="seconds per level")
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--server-cache", action="store_true", help="keep the server's answer cache on")
    parser.add_argument("--skip", nargs="*", default=[], choices=["latency", "load", "cold"])
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    parser.add_argument("--check", action="store_true", help="exit 1 when a bar is missed")
    args = parser.parse_args(argv)
    if len(args.durations) != len(args.users):
        parser.error("give one duration per --users level")
    os.environ.update(
        {k: ENV[k] for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "GRADIO_ANALYTICS_ENABLED")}
    )

    questions = load_questions(args.questions)
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    workdir = Path(tempfile.mkdtemp(prefix="chatbot-bench-"))
    try:
        if "latency" not in args.skip:
            print("1. latency: pipeline vs bare embedding ...", flush=True)
            result["latency"] = bench_latency(args.corpus, args.index, questions, args.rounds)
        if "load" not in args.skip:
            print("2. load over HTTP ...", flush=True)
            result["load"] = bench_load(
                args.corpus, args.index, questions, args.users, args.durations, workdir, args.server_cache
            )
        if "cold" not in args.skip:
            print("3. cold start vs import floor ...", flush=True)
            result["cold_start"] = bench_cold(args.corpus, args.index, args.cold_runs, workdir)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["bars"] = bars(result, dict(zip(args.users, args.durations, strict=True)))

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    report = markdown(result)
    (args.out / "bench.md").write_text(report, encoding="utf-8")
    print()
    print(report)
    print(f"wrote {args.out / 'bench.json'} and {args.out / 'bench.md'}")
    missed = [b for b in result["bars"] if b["pass"] is False]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
