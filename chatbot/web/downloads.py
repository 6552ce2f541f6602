"""Private temporary folders for files the app offers for download (transcripts, staff exports).

Each folder is removed when the server exits. A server stopped by SIGTERM (how a service manager
stops it) exits through `serve`'s handler, so that removal runs; a server killed outright (SIGKILL,
the out-of-memory killer) cannot clean up, so its folders carry its process id and the next server
to start removes those whose process is gone.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _remove_orphans(prefix: str) -> None:
    """Remove folders of this kind left by servers that no longer run."""
    for old in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        pid = old.name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)) and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def private_folder(prefix: str) -> Path:
    """A new folder only this user can read (`prefix` + process id), removed at exit."""
    _remove_orphans(prefix)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder
