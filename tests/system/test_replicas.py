"""The deployment of deploy/: nginx (deploy/nginx.conf as it is), three `chatbot serve` replicas
sharing one PostgreSQL database and one published index, 32 simulated users, and two faults.

A throw-away PostgreSQL cluster (initdb in a temporary folder, a Unix socket there only), an index
built with the real model from the repo's corpus and published to a temporary shared folder, three
replicas on free 127.0.0.1 ports (each its own data folder, `--replica r1..r3`), and Debian's nginx
in the foreground with the template rendered into a temporary prefix. For 30 s, 28 users ask
through POST /api/ask and vote through POST /api/feedback (some with a reason), and 4 use the
chat's Gradio queue (`/gradio_api/call/chat`: a submit, then its event stream, which only the
replica holding the event can serve). Midway the replica serving one chat user is killed with
`kill -9`, later PostgreSQL is restarted (`pg_ctl restart -m fast`). At the end the killed replica
is started again and every spool drains; then every vote and reason that got 200 is counted in
PostgreSQL, no body holds a traceback, the API's only errors are requests in flight on the killed
replica, and the chat answered through both faults. Skipped without nginx or PostgreSQL's
binaries, failed under CI=true (.ci/run installs nginx).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, ROOT
from pgcluster import Cluster, running_cluster
from webserver import free_port

pytestmark = pytest.mark.slow  # real PostgreSQL, nginx and three `chatbot serve` processes

httpx = pytest.importorskip("httpx")
psycopg = pytest.importorskip("psycopg") if os.environ.get("CI") != "true" else __import__("psycopg")

TEMPLATE = ROOT / "deploy" / "nginx.conf"
PUBLIC_NAME = "chat.test"
USERS = 32
CHAT_USERS = 4  # of the 32: the chat's Gradio queue; the others the REST API
SECONDS = 30.0
KILL_AT = 9.0  # seconds into the load
PG_RESTART_AT = 18.0
KILL_WINDOW = 3.0  # API errors allowed from the kill until this many seconds after it
REASONS = (
    "wrong-passage",
    "not-answered",
    "hard-to-understand",
    "other",
    "the passage was about something else",
)
TRACEBACK = "Traceback (most recent call last)"


def _find(name: str, *folders: str) -> Path | None:
    for folder in folders:
        if folder and (Path(folder) / name).exists():
            return Path(folder) / name
    found = shutil.which(name)
    return Path(found) if found else None


def _need(found: Path | None, what: str) -> Path:
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} is not installed (CI=true: the deployment must be tested)")
        pytest.skip(f"{what} is not installed")
    return found


@pytest.fixture
def postgres() -> Iterator[Cluster]:
    yield from running_cluster("chatbot-replicas-pg-")


class Replica:
    """One `chatbot serve` on 127.0.0.1:port, its output in a log file."""

    def __init__(self, name: str, port: int, index: Path, data: Path, db: str) -> None:
        self.name, self.port, self.data = name, port, data
        self.argv = [
            sys.executable, "-m", "chatbot", "serve", "--port", str(port), "--index", str(index),
            "--data", str(data), "--feedback-db", db, "--replica", name, "--public-name", PUBLIC_NAME,
        ]  # fmt: skip
        self.log = data.parent / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "GRADIO_ANALYTICS_ENABLED": "False",
        }
        for name in ("CHATBOT_STAFF_PASSWORD", "CHATBOT_AUTH", "CHATBOT_FEEDBACK_DB", "CHATBOT_REPLICA"):
            env.pop(name, None)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"replica {self.name} exited:\n{self.tail()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/api/health", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"replica {self.name} did not answer within {timeout:.0f} s:\n{self.tail()}"
                )
            time.sleep(0.25)

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def spool_waiting(self) -> int:
        spool = self.data / "feedback-spool.jsonl"
        return sum(1 for _ in spool.open(encoding="utf-8")) if spool.exists() else 0

    def tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:] if self.log.exists() else ""


def render_nginx(folder: Path, port: int, replicas: list[Replica]) -> Path:
    """deploy/nginx.conf with this run's ports, public name and log folder, inside a main
    configuration whose pid, logs and temporary files are all under `folder`."""
    text = TEMPLATE.read_text(encoding="utf-8")
    replaced = {
        "listen 80": f"listen 127.0.0.1:{port}",
        "chat.example.org": PUBLIC_NAME,
        "/var/log/nginx/": f"{folder}/",
        **{f"127.0.0.1:{8001 + i}": f"127.0.0.1:{r.port}" for i, r in enumerate(replicas)},
    }
    for old, new in replaced.items():
        assert old in text, f"deploy/nginx.conf no longer has {old!r}: update this test's rendering"
        text = text.replace(old, new)
    (folder / "chatbot.conf").write_text(text, encoding="utf-8")
    temps = "\n".join(
        f"    {kind}_temp_path {folder}/{kind}_temp;"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = f"""daemon off;
worker_processes 2;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
{"user nobody nogroup;" if os.geteuid() == 0 else ""}
events {{ worker_connections 1024; }}
http {{
{temps}
    include {folder}/chatbot.conf;
}}
"""
    (folder / "nginx.conf").write_text(main, encoding="utf-8")
    return folder / "nginx.conf"


@dataclass
class Tally:
    """What the simulated users saw, with times in seconds from the start of the load."""

    start: float
    wall: float  # time.time() at `start`, for nginx's log
    lock: threading.Lock = field(default_factory=threading.Lock)
    asks: int = 0
    votes: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # answer id: vote, reason
    vote_attempts: int = 0
    api_errors: list[tuple[float, float, str, str]] = field(default_factory=list)  # sent, done, path, what
    chat_answers: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    chat_errors: dict[int, list[tuple[float, str]]] = field(default_factory=lambda: defaultdict(list))
    chat_routes: dict[int, str] = field(default_factory=dict)
    tracebacks: list[str] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.start

    def body(self, text: str, where: str) -> None:
        if TRACEBACK in text:
            with self.lock:
                self.tracebacks.append(f"{where}: {text[:300]}")


def questions() -> list[tuple[str, list[str]]]:
    rows = [
        json.loads(line) for line in (DATA / "article_dev.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    return [(r["question"], r.get("history") or []) for r in rows if r.get("question")]


def api_user(n: int, url: str, tally: Tally, stop_at: float, asked: list[tuple[str, list[str]]]) -> None:
    rng = random.Random(n)
    headers = {"Host": PUBLIC_NAME}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        i = n
        while tally.now() < stop_at:
            question, history = asked[i % len(asked)]
            i += 1
            sent = tally.now()
            try:
                r = client.post("/api/ask", json={"question": question, "history": history})
            except httpx.TransportError as exc:
                with tally.lock:
                    tally.api_errors.append((sent, tally.now(), "/api/ask", type(exc).__name__))
                continue
            tally.body(r.text, "/api/ask")
            with tally.lock:
                tally.asks += 1
            if r.status_code != 200:
                with tally.lock:
                    tally.api_errors.append(
                        (
                            sent,
                            tally.now(),
                            "/api/ask",
                            f"HTTP {r.status_code} {' '.join(r.text.split())[:80]}",
                        )
                    )
                continue
            answer_id = r.json()["answer_id"]
            time.sleep(rng.uniform(0.6, 1.4))  # reading the answer
            if rng.random() < 0.8:
                vote = rng.choice(("like", "dislike"))
                reason = rng.choice(REASONS) if vote == "dislike" and rng.random() < 0.7 else None
                body: dict[str, Any] = {"answer_id": answer_id, "vote": vote}
                if reason is not None:
                    body["reason"] = reason
                sent = tally.now()
                with tally.lock:
                    tally.vote_attempts += 1
                try:
                    v = client.post("/api/feedback", json=body)
                except httpx.TransportError as exc:
                    with tally.lock:
                        tally.api_errors.append((sent, tally.now(), "/api/feedback", type(exc).__name__))
                    continue
                tally.body(v.text, "/api/feedback")
                if v.status_code == 200 and v.json().get("id") == answer_id:
                    with tally.lock:
                        tally.votes[answer_id] = (vote, reason)
                else:
                    with tally.lock:
                        tally.api_errors.append(
                            (
                                sent,
                                tally.now(),
                                "/api/feedback",
                                f"HTTP {v.status_code} {' '.join(v.text.split())[:80]}",
                            )
                        )
            time.sleep(rng.uniform(0.6, 1.4))


def chat_history(history: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for h in history:
        out.append({"role": "user", "content": [{"type": "text", "text": h}]})
        out.append({"role": "assistant", "content": [{"type": "text", "text": "(the answer)"}]})
    return out


def chat_ask(client: Any, question: str, history: list[str], tally: Tally) -> str | None:
    """One question through the chat's queue: None when an answer came back, else what went wrong."""
    r = client.post("/gradio_api/call/chat", json={"data": [question, chat_history(history)]})
    tally.body(r.text, "chat submit")
    if r.status_code != 200:
        return f"HTTP {r.status_code} on submit"
    event_id = r.json()["event_id"]
    event, seen = "", []
    with client.stream("GET", f"/gradio_api/call/chat/{event_id}") as resp:
        if resp.status_code != 200:
            return f"HTTP {resp.status_code} on the event stream"
        for line in resp.iter_lines():
            seen.append(line)
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                tally.body("\n".join(seen), "chat stream")
                if event == "error":
                    return f"error event {line.removeprefix('data:').strip()[:80]}"
                messages = json.loads(line.removeprefix("data:"))[1]
                replies = [m for m in messages if m.get("role") == "assistant" and m.get("content")]
                return None if replies else "no answer in the reply"
    return "the event stream ended without a result"


def chat_user(n: int, url: str, tally: Tally, stop_at: float, asked: list[tuple[str, list[str]]]) -> None:
    rng = random.Random(1000 + n)
    with httpx.Client(base_url=url, headers={"Host": PUBLIC_NAME}, timeout=60) as client:
        i = n * 5
        while tally.now() < stop_at:
            question, history = asked[i % len(asked)]
            i += 1
            try:
                problem = chat_ask(client, question, history, tally)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"[:120]
            with tally.lock:
                route = client.cookies.get("chatbot_route")
                if route:
                    tally.chat_routes[n] = route
                if problem is None:
                    tally.chat_answers[n].append(tally.now())
                else:
                    tally.chat_errors[n].append((tally.now(), problem))
            time.sleep(rng.uniform(0.3, 0.8))


LOG_LINE = re.compile(
    r't=(?P<t>[\d.]+) "(?P<method>\S+) (?P<path>\S+) [^"]*" (?P<status>\d+) \d+ '
    r"upstream=(?P<up>.*?) ustatus=(?P<ustatus>.*?) rt=\S+ route=(?P<route>\S+)$"
)


def access_log(folder: Path) -> list[dict[str, str]]:
    out = []
    for line in (folder / "chatbot.access.log").read_text(encoding="utf-8").splitlines():
        m = LOG_LINE.search(line)
        if m:
            row = m.groupdict()
            row["tries"] = str(row["up"].count(",") + 1)
            row["up"] = row["up"].split(",")[-1].split(":")[-1].strip()  # the replica that answered
            out.append(row)
    return out


def test_three_replicas_behind_nginx_lose_no_vote_through_a_kill_and_a_database_restart(
    postgres: Cluster, tmp_path: Path
) -> None:
    nginx = _need(_find("nginx", "/usr/sbin"), "nginx (apt-get install -y nginx)")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    shared = tmp_path / "shared-index"
    built = subprocess.run(
        [sys.executable, "-m", "chatbot", "index", "--corpus", str(ROOT / "corpus"), "--index",
         str(tmp_path / "index"), "--publish", str(shared), "--quiet"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE chatbot")
    db = postgres.url().replace("/postgres?", "/chatbot?")

    replicas = [
        Replica(f"r{i + 1}", free_port(), shared, tmp_path / f"r{i + 1}" / "data", db) for i in range(3)
    ]
    prefix = Path(tempfile.mkdtemp(prefix="chatbot-nginx-"))
    prefix.chmod(0o755)  # nginx's workers (nobody, when the test runs as root) write temp files here
    port = free_port()
    conf = render_nginx(prefix, port, replicas)
    proxy: subprocess.Popen[bytes] | None = None
    try:
        for r in replicas:
            r.data.mkdir(parents=True)
            r.start()
        for r in replicas:
            r.wait_ready()
        nginx_args = ["-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
        checked = subprocess.run([str(nginx), "-t", *nginx_args], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        proxy = subprocess.Popen(
            [str(nginx), *nginx_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if (
                    httpx.get(f"{url}/api/health", headers={"Host": PUBLIC_NAME}, timeout=5).status_code
                    == 200
                ):
                    break
            except httpx.TransportError:
                pass
            assert proxy.poll() is None and time.monotonic() < deadline, (prefix / "error.log").read_text()
            time.sleep(0.1)
        builds = {httpx.get(f"http://127.0.0.1:{r.port}/api/health").json()["build_id"] for r in replicas}
        assert len(builds) == 1, f"the replicas serve different builds: {builds}"
        # A name nginx does not serve is refused there (DNS rebinding), as the replicas refuse it.
        assert httpx.get(f"{url}/api/health", headers={"Host": "evil.example"}).status_code == 421

        # Why the chat needs sticky sessions: an event submitted to one replica is unknown to another.
        one, other = (f"http://127.0.0.1:{r.port}" for r in replicas[:2])
        submitted = httpx.post(
            f"{one}/gradio_api/call/chat", json={"data": ["What is refractory myeloma?", []]}
        )
        assert submitted.status_code == 200, submitted.text
        try:
            elsewhere = httpx.get(f"{other}/gradio_api/call/chat/{submitted.json()['event_id']}", timeout=10)
            served = elsewhere.status_code == 200 and "event: complete" in elsewhere.text
        except httpx.HTTPError:  # the stream is cut: that replica never had the event
            served = False
        assert not served, "a replica served another replica's chat event: then no sticky session is needed"

        asked = questions()
        tally = Tally(start=time.monotonic(), wall=time.time())
        threads = [
            threading.Thread(
                target=chat_user if n < CHAT_USERS else api_user,
                args=(n, url, tally, SECONDS, asked),
                daemon=True,
            )
            for n in range(USERS)
        ]
        for t in threads:
            t.start()

        # The kill: the replica serving chat user 0 (so the chat's failover is exercised).
        while tally.now() < KILL_AT:
            time.sleep(0.05)
        route = tally.chat_routes.get(0)
        assert route, f"chat user 0 has no route cookie yet: {dict(tally.chat_errors)}"
        ups = Counter(
            row["up"] for row in access_log(prefix) if row["route"] == route and "/gradio_api/" in row["path"]
        )
        victim = next(r for r in replicas if str(r.port) == ups.most_common(1)[0][0])
        victim.kill9()
        killed_at = tally.now()

        while tally.now() < PG_RESTART_AT:
            time.sleep(0.05)
        pg_from = tally.now()
        postgres.restart()
        pg_to = tally.now()

        for t in threads:
            t.join(SECONDS + 60)
        assert not any(t.is_alive() for t in threads), "a simulated user is stuck"
        load_ended = tally.now()

        # The killed replica comes back; every spool drains into PostgreSQL.
        victim.start()
        victim.wait_ready()
        deadline = time.monotonic() + 60
        while any(r.spool_waiting() for r in replicas) and time.monotonic() < deadline:
            time.sleep(0.25)
        waiting = {r.name: r.spool_waiting() for r in replicas}
        assert not any(waiting.values()), f"spools not drained: {waiting}"

        with psycopg.connect(db) as conn:
            rows = {
                vote_id: (vote, reason, comment, replica)
                for vote_id, vote, reason, comment, replica in conn.execute(
                    "SELECT vote_id, vote, reason, comment, replica FROM feedback"
                )
            }
            answered_by = dict(conn.execute("SELECT answer_id, replica FROM answers").fetchall())
            spooled_replicas = Counter(r for (r,) in conn.execute("SELECT replica FROM feedback"))

        log_rows = access_log(prefix)
    finally:
        if proxy is not None and proxy.poll() is None:
            proxy.send_signal(signal.SIGQUIT)
            try:
                proxy.wait(10)
            except subprocess.TimeoutExpired:
                proxy.kill()
        for r in replicas:
            r.stop()

    # --- the numbers ---
    chat_answers = sum(len(v) for v in tally.chat_answers.values())
    missing = [a for a in tally.votes if a not in rows]
    wrong = []
    for answer_id, (vote, reason) in tally.votes.items():
        if answer_id not in rows:
            continue
        got_vote, got_reason, got_comment, _ = rows[answer_id]
        expected = (
            (None, None) if reason is None else (reason, None) if reason in REASONS[:4] else ("other", reason)
        )
        if (got_vote, got_reason, got_comment) != (vote, *expected):
            wrong.append((answer_id, (vote, reason), rows[answer_id][:3]))
    with_reason = sum(1 for _, reason in tally.votes.values() if reason)
    across = sum(1 for a in tally.votes if a in rows and answered_by.get(a) not in (None, rows[a][3]))
    passed_on = Counter(
        row["ustatus"] for row in log_rows if row["path"] == "/api/feedback" and row["tries"] != "1"
    )
    api_by_replica = Counter(
        row["up"] for row in log_rows if row["path"] == "/api/ask" and row["status"] == "200"
    )
    print(
        f"\nreplicas: {USERS} users ({CHAT_USERS} chat) for {SECONDS:.0f} s; {victim.name} killed at "
        f"{killed_at:.1f} s; PostgreSQL restarted {pg_from:.1f}-{pg_to:.1f} s; "
        f"load ended {load_ended:.1f} s\n"
        f"  API: {tally.asks} asks answered or refused, {dict(api_by_replica)} by replica port; "
        f"{tally.vote_attempts} votes sent, {len(tally.votes)} got 200 ({with_reason} with a reason), "
        f"{across} on a replica other than the one that answered; "
        f"votes nginx passed on to another replica: {dict(passed_on)}\n"
        f"  PostgreSQL: {len(rows)} vote rows ({dict(spooled_replicas)} by replica), "
        f"{len(answered_by)} answers; "
        f"missing {len(missing)}, different {len(wrong)}\n"
        f"  API errors: {len(tally.api_errors)}: "
        + ", ".join(f"{p} {w} sent {s:.2f} s" for s, _, p, w in tally.api_errors)
        + f"\n  chat: {chat_answers} answers; errors: "
        + (
            ", ".join(f"user {n}: {w} at {t:.2f} s" for n, errs in tally.chat_errors.items() for t, w in errs)
            or "none"
        )
    )

    assert not tally.tracebacks, tally.tracebacks[:3]
    assert len(tally.votes) >= 100 and with_reason >= 20, "too little load to show anything"
    assert not missing, (
        f"{len(missing)} of {len(tally.votes)} votes that got 200 are not in PostgreSQL: {missing[:5]}"
    )
    assert not wrong, wrong[:5]
    assert across > 0, "no vote went to a replica other than the one that answered"
    assert len(api_by_replica) == 3, f"the API was not spread over the replicas: {api_by_replica}"
    # The API's only errors: requests in flight on the killed replica (502 or a dropped connection).
    for sent, done, path, what in tally.api_errors:
        assert sent <= killed_at + 0.5 and killed_at - 0.5 <= done <= killed_at + KILL_WINDOW, (
            path,
            what,
            sent,
        )
        assert what.startswith(("HTTP 502", "HTTP 504", "Remote", "Read")), (path, what)
    assert len(tally.api_errors) <= USERS - CHAT_USERS

    # Sticky: before the kill each chat user's queue requests all went to one replica; after it,
    # the users of the killed replica to one other.
    def replicas_of(route: str, since: float, until: float) -> set[str]:
        return {
            row["up"]
            for row in log_rows
            if row["route"] == route
            and "/gradio_api/" in row["path"]
            and since <= float(row["t"]) - tally.wall <= until
        }

    assert len(tally.chat_routes) == CHAT_USERS, tally.chat_routes
    on_victim = set()
    for n, route in tally.chat_routes.items():
        before = replicas_of(route, 0, killed_at - 0.5)
        after = replicas_of(route, killed_at + KILL_WINDOW + 5, SECONDS + 5)
        assert len(before) == 1 and len(after) == 1, (n, before, after)
        if before == {str(victim.port)}:
            on_victim.add(n)
            assert after != before, (n, before, after)
        else:
            assert after == before, (n, before, after)
    assert 0 in on_victim
    for n in range(CHAT_USERS):
        answers, errors = tally.chat_answers[n], tally.chat_errors[n]
        assert any(t < killed_at for t in answers), f"chat user {n} got no answer before the kill: {errors}"
        assert any(t > pg_to + 1 for t in answers), f"chat user {n} got no answer after the restart: {errors}"
        assert any(killed_at < t < pg_from for t in answers), (
            f"chat user {n} stopped after the kill: {errors}"
        )
        assert any(pg_from - 1 < t < pg_to + 3 for t in answers), (
            f"chat user {n} waited out the restart: {answers}"
        )
        for t, what in errors:  # only a session on the killed replica, only at the kill
            assert n in on_victim and killed_at - 1 < t < killed_at + KILL_WINDOW + 5, (n, t, what)
