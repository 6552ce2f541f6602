"""The site's settings, checked before anything loads: address, passwords, data folder, and
where the staff pages live.

Apart from the app so that `chatbot serve` can refuse a bad address or an exposed, password-less
site in one line, before the model loads, and so that the security layers can read them without
importing the server.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chatbot.errors import AddressError, ChatbotError, ExposureError

STAFF_PATH = "/staff"


def check_address(host: str, port: int) -> None:
    """Refuse an address that cannot be served on, in one line, before the model loads.

    Otherwise the server loads the model and warms up (seconds), says it is serving, and only
    then fails to bind with a server log line of its own.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            sock.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise AddressError(
                f"port {port} on {host} is already in use (another `chatbot serve`?). Stop the "
                "program using it, or choose another port with --port N."
            ) from None
        raise AddressError(
            f"cannot serve on {host}:{port} ({exc.strerror or exc}). Check --host (an address of this "
            "machine, such as 127.0.0.1) and --port."
        ) from None


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)


def parse_credentials(text: str, where: str) -> Credentials:
    user, sep, password = text.partition(":")
    if not sep or not user.strip() or not password:
        raise ChatbotError(f"{where} must look like USER:PASSWORD, both non-empty.")
    return Credentials(user.strip(), password)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 7860
    auth: Credentials | None = None  # for the whole site
    staff_password: str | None = field(default=None, repr=False)
    data_dir: Path = Path("data")

    @property
    def staff_enabled(self) -> bool:
        """Staff data never reaches a network without its own password."""
        return bool(self.staff_password) or is_loopback(self.host)

    def check(self) -> None:
        if not is_loopback(self.host) and self.auth is None:
            raise ExposureError(
                f"refusing to serve on {self.host} without a password: anyone who can reach it could "
                "read patients' questions. Pass --auth USER:PASSWORD (or set CHATBOT_AUTH), or serve "
                "on 127.0.0.1."
            )


def settings_from(
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: str | None = None,
    staff_password: str | None = None,
    data_dir: Path | None = None,
    environ: Mapping[str, str] = os.environ,
) -> WebSettings:
    """Settings from command-line values, falling back to CHATBOT_AUTH, CHATBOT_STAFF_PASSWORD
    and CHATBOT_DATA_DIR."""
    from chatbot.feedback.store import default_data_dir

    if auth is not None:
        credentials: Credentials | None = parse_credentials(auth, "--auth")
    elif environ.get("CHATBOT_AUTH"):
        credentials = parse_credentials(environ["CHATBOT_AUTH"], "CHATBOT_AUTH")
    else:
        credentials = None
    staff = staff_password or environ.get("CHATBOT_STAFF_PASSWORD") or None
    folder = data_dir or (Path(environ["CHATBOT_DATA_DIR"]) if environ.get("CHATBOT_DATA_DIR") else None)
    return WebSettings(host, port, credentials, staff, folder or default_data_dir())
