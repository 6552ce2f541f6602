"""Download folders (transcripts) never outlive the server that made them, and are private.

A server stopped by SIGTERM removes its own; one killed outright leaves them, and the next server
to start removes them. The last test runs a real `chatbot serve` (the real model, a one-page
corpus) and stops it the way a service manager does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from webserver import serve_process

from chatbot.web.downloads import private_file, private_folder

PREFIX = "chatbot-transcripts-"


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    code = "import os; print(os.getpid())"
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout)


@pytest.fixture
def tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_a_folder_is_private_and_named_for_its_process(tmp: Path) -> None:
    folder = private_folder(PREFIX)
    assert folder.parent == tmp and folder.is_dir()
    assert folder.name.startswith(f"{PREFIX}{os.getpid()}-")
    assert folder.stat().st_mode & 0o777 == 0o700


def test_a_file_offered_for_download_is_private(tmp: Path) -> None:
    before = os.umask(0o022)  # the usual umask: a plain write would make it 0644
    try:
        path = private_file(private_folder(PREFIX), "conversation.md", "a patient's questions")
    finally:
        os.umask(before)
    assert path.read_text(encoding="utf-8") == "a patient's questions"
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert private_file(path.parent.parent, "conversation.md", "next").parent != path.parent


def test_folders_of_exited_servers_are_removed_and_live_ones_kept(tmp: Path) -> None:
    orphan = tmp / f"{PREFIX}{dead_pid()}-abc"
    (orphan / "x").mkdir(parents=True)
    (orphan / "x" / "conversation.md").write_text("a patient's questions", encoding="utf-8")
    live = tmp / f"{PREFIX}{os.getppid()}-def"  # the test runner's parent is running
    live.mkdir()
    other_kind = tmp / f"chatbot-other-{dead_pid()}-ghi"  # cleaned by its own kind's start
    other_kind.mkdir()
    retired = tmp / f"chatbot-staff-exports-{dead_pid()}-jkl"  # staff exports of an older version
    (retired / "x").mkdir(parents=True)
    (retired / "x" / "gaps.csv").write_text("patients' questions", encoding="utf-8")
    unnamed = tmp / f"{PREFIX}abcdefgh"  # not named for a process: not ours to judge
    unnamed.mkdir()

    private_folder(PREFIX)

    assert not orphan.exists() and not retired.exists()
    assert live.is_dir() and other_kind.is_dir() and unnamed.is_dir()


@pytest.mark.slow
def test_serve_stopped_by_sigterm_cleans_up_after_itself_and_a_crashed_server(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    crashed = scratch / f"chatbot-staff-exports-{dead_pid()}-old"  # a server killed with SIGKILL
    crashed.mkdir()
    with serve_process(tmp_path, tmpdir=scratch) as (proc, _):
        made = list(scratch.glob("chatbot-*"))
        assert made and not crashed.exists()
        assert all(f"-{proc.pid}-" in f.name for f in made)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err
    assert list(scratch.glob("chatbot-*")) == []
