"""A build killed with SIGKILL at any moment leaves the previous index loading and answering.

Each build runs in its own process (`slow_build.py`, the fake embedder at a model's pace) and is
killed after a random delay within the build, and also right at each file-system step of writing
a build (before and after the build folder's rename and the manifest's, while pruning), which
random delays would seldom hit. After every kill the index must load, answer, and name either
the previous build or the complete new one; the next build must then succeed and clean up.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, FakeEmbedder

from chatbot.answering.engine import Engine
from chatbot.indexing.store import BUILDS, load_build, read_manifest

pytestmark = pytest.mark.slow  # kills real `chatbot index` processes

HELPER = ROOT / "tests" / "slow_build.py"
RANDOM_KILLS = 6
STEPS = ["replace:1", "replaced:1", "replace:2", "replaced:2", "rmtree:1"]


def start(corpus: Path, index: Path, run: str, step: str | None = None) -> subprocess.Popen[str]:
    argv = [sys.executable, str(HELPER), str(corpus), str(index), run] + ([step] if step else [])
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def finish(proc: subprocess.Popen[str]) -> float:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return float(out.split("built ")[1])


def check_answers(index: Path, allowed: set[str]) -> str:
    """The index loads, names an allowed build, and answers from it."""
    manifest = read_manifest(index)
    assert manifest is not None and manifest.build_id in allowed
    stored = load_build(index)
    answer = Engine(stored, FakeEmbedder()).ask("What is a bone marrow biopsy?")
    assert answer.passages and "Biopsy" in answer.passages[0].section
    return manifest.build_id


@pytest.fixture
def big_corpus(corpus_dir: Path) -> Path:
    """The article and 1,000 records: a build of a second or two, with time to land a kill in."""
    rng = random.Random(6)
    words = [
        "blood",
        "marrow",
        "cell",
        "plasma",
        "protein",
        "kidney",
        "bone",
        "calcium",
        "infection",
        "fatigue",
        "therapy",
        "dose",
    ]
    with open(corpus_dir / "records.jsonl", "w", encoding="utf-8") as fh:
        for i in range(1000):
            text = " ".join(f"{' '.join(rng.choices(words, k=12)).capitalize()}." for _ in range(4))
            fh.write(json.dumps({"_id": f"r{i}", "title": f"Record {i}", "text": text}) + "\n")
    return corpus_dir


def test_kill_9_at_any_moment_leaves_the_previous_index_answering(big_corpus: Path, index_dir: Path) -> None:
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    proc = start(big_corpus, index_dir, "first")
    build_seconds = finish(proc)
    previous = check_answers(index_dir, {read_manifest(index_dir).build_id})  # type: ignore[union-attr]
    plans = [("random", rng.uniform(0.0, build_seconds * 1.1)) for _ in range(RANDOM_KILLS)]
    plans += [(step, 0.0) for step in STEPS]
    outcomes = []
    for n, (how, delay) in enumerate(plans):
        builds_before = {p.name for p in (index_dir / BUILDS).iterdir()}
        proc = start(big_corpus, index_dir, f"run{n}", None if how == "random" else how)
        if how == "random":
            assert proc.stdout is not None and proc.stdout.readline().strip() == "building"
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=120)
        killed = proc.returncode == -signal.SIGKILL
        new_builds = {p.name for p in (index_dir / BUILDS).iterdir()} - builds_before
        current = check_answers(index_dir, {previous} | new_builds)
        outcomes.append((how, round(delay, 2), killed, current != previous))
        context = f"seed {seed}, {how} after {delay:.2f}s"
        assert killed or current != previous, context  # a build that was not killed switched over
        previous = current
    # the lock died with the process: the next build runs, and prunes what the kills left behind
    finish(start(big_corpus, index_dir, "after"))
    final = check_answers(index_dir, {p.name for p in (index_dir / BUILDS).iterdir()})
    left = {p.name for p in (index_dir / BUILDS).iterdir()}
    assert final in left and len(left) <= 2 and not any(name.startswith(".") for name in left)
    killed_steps = [o for o in outcomes if o[0] in STEPS]
    assert all(o[2] for o in killed_steps), outcomes  # every targeted step was really hit
    assert [o[3] for o in killed_steps] == [False, False, False, True, True], outcomes
    shutil.rmtree(index_dir)
