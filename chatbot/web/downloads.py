"""Private temporary folders for files the app offers for download (a conversation's transcript).

Only the server's user can read them: folders 0700, files 0600, whatever the umask (a patient's
questions must not be readable by every account on the machine). Staff exports are never files:
they are computed for each request behind the staff password (`chatbot.web.staff_exports`).

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


# Folders of kinds no longer made, removed by any server's start: staff exports were files in
# these before they were computed per request, patients' words included.
RETIRED_PREFIXES = ("chatbot-staff-exports-",)


def private_folder(prefix: str) -> Path:
    """A new folder only this user can read (`prefix` + process id), removed at exit."""
    for kind in (prefix, *RETIRED_PREFIXES):
        _remove_orphans(kind)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))  # mkdtemp: 0700
    atexit.register(shutil.rmtree, folder, True)
    return folder


def private_file(folder: Path, name: str, text: str) -> Path:
    """`text` as `name` in a new subfolder of `folder` (0700), the file 0600: each download gets a
    path of its own, which Gradio copies into its cache."""
    path = Path(tempfile.mkdtemp(dir=folder)) / name
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as fh:
        fh.write(text)
    return path
