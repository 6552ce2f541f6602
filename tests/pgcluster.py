"""A PostgreSQL server of the tests' own: initdb in a temporary folder, served on a Unix socket
there (no TCP), run as `nobody` when the tests run as root (initdb refuses root). Shared by the
store's tests (tests/feedback/test_postgres.py) and the replica test (tests/system/test_replicas.py).

Without the server binaries the tests skip and say why; under CI=true they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN_CANDIDATES = (
    os.environ.get("CHATBOT_PG_BIN", ""),
    *sorted((str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")), reverse=True),
)


def pg_bin() -> Path | None:
    """The folder of PostgreSQL's server binaries (initdb, pg_ctl), or None."""
    for folder in PG_BIN_CANDIDATES:
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@dataclass
class Cluster:
    """A PostgreSQL server on a Unix socket in `folder`."""

    bin: Path
    folder: Path
    user: str | None  # who runs the server (None: this user)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _run(self, *args: str) -> None:
        subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            check=True,
            user=self.user,
            capture_output=True,
            timeout=60,
            cwd=self.folder,
        )

    def _ctl(self, action: str) -> None:
        options = f"-k {self.folder} -c listen_addresses='' -c fsync=off"
        log = str(self.folder / "log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-m", "fast", "-w", action)

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop")

    def restart(self) -> None:
        self._ctl("restart")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@/{dbname}?host={self.folder}"


def running_cluster(prefix: str = "chatbot-pg-") -> Iterator[Cluster]:
    """A fixture's body (`yield from running_cluster()`): a new cluster, started, removed after."""
    found_bin = pg_bin()
    if found_bin is None:
        reason = "PostgreSQL's server binaries (initdb, pg_ctl) are not installed; set CHATBOT_PG_BIN"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL must be tested)")
        pytest.skip(reason)
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    user = "nobody" if os.geteuid() == 0 else None
    if user:
        shutil.chown(folder, user)
    cluster = Cluster(found_bin, folder, user)
    try:
        cluster._run(
            "initdb", "-D", str(cluster.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
        )
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
