"""The site's settings, checked before anything loads: address, the names it answers to,
passwords, data folder, and where the staff pages live.

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
MIN_PASSWORD_CHARS = 12  # a shorter one falls to guessing, even at the gate's few tries a minute
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


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


def read_secret(path: Path, flag: str) -> str:
    """A password file's first line (a trailing newline is not part of the password)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ChatbotError(f"cannot read {flag} {path} ({reason}). Give a readable file.") from None
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise ChatbotError(f"{flag} {path} is empty: put the password on its first line.")
    return lines[0]


def parse_names(text: str) -> tuple[str, ...]:
    """Public names from a comma-separated list (CHATBOT_PUBLIC_NAMES), lower case."""
    return tuple(name.strip().lower().rstrip(".") for name in text.split(",") if name.strip())


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
    public_names: tuple[str, ...] = ()  # host names the site is reached by (a proxy's, a DNS name)
    # A postgresql:// URL for a feedback store shared by several replicas; None: SQLite in data_dir.
    feedback_db: str | None = field(default=None, repr=False)
    replica: str = ""  # this server's name in the rows it writes (hostname:port when empty)

    def host_allowed(self, name: str) -> bool:
        """Whether a request's Host (its name, without port) is one this server answers to: the
        address it is bound to, a loopback name when bound to loopback or to every address, any
        IP address when bound to every address (DNS rebinding needs a name), or a public name."""
        bound = self.host.strip("[]").lower()
        if name == bound or name in self.public_names:
            return True
        if (bound in WILDCARD_HOSTS or is_loopback(bound)) and name in LOOPBACK_NAMES:
            return True
        if bound in WILDCARD_HOSTS:
            try:
                ipaddress.ip_address(name)
            except ValueError:
                return False
            return True
        return False

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
        if self.feedback_db:
            from chatbot.feedback.protocol import is_postgres

            if not is_postgres(self.feedback_db):
                raise ChatbotError(
                    f"--feedback-db {self.feedback_db.split('://', 1)[0]}://... is not a PostgreSQL "
                    "URL: give postgresql://USER@HOST/DB, or leave it out to keep votes in SQLite."
                )
        if self.auth is not None and len(self.auth.password) < MIN_PASSWORD_CHARS:
            raise ChatbotError(
                f"the site password is {len(self.auth.password)} characters: use at least "
                f"{MIN_PASSWORD_CHARS} (in --auth-file FILE or CHATBOT_AUTH)."
            )
        if self.staff_password and len(self.staff_password) < MIN_PASSWORD_CHARS:
            raise ChatbotError(
                f"the staff password is {len(self.staff_password)} characters: use at least "
                f"{MIN_PASSWORD_CHARS} (in --staff-password-file FILE or CHATBOT_STAFF_PASSWORD)."
            )


def settings_from(
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: str | None = None,
    staff_password: str | None = None,
    data_dir: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    *,
    auth_file: Path | None = None,
    staff_password_file: Path | None = None,
    public_names: tuple[str, ...] = (),
    feedback_db: str | None = None,
    replica: str | None = None,
) -> WebSettings:
    """Settings from command-line values (a value, then a file), falling back to CHATBOT_AUTH,
    CHATBOT_STAFF_PASSWORD, CHATBOT_DATA_DIR, CHATBOT_PUBLIC_NAMES, CHATBOT_FEEDBACK_DB and
    CHATBOT_REPLICA (else the replica is named hostname:port)."""
    from chatbot.feedback.store import default_data_dir

    if auth is not None:
        credentials: Credentials | None = parse_credentials(auth, "--auth")
    elif auth_file is not None:
        credentials = parse_credentials(read_secret(auth_file, "--auth-file"), f"--auth-file {auth_file}")
    elif environ.get("CHATBOT_AUTH"):
        credentials = parse_credentials(environ["CHATBOT_AUTH"], "CHATBOT_AUTH")
    else:
        credentials = None
    if staff_password is None and staff_password_file is not None:
        staff_password = read_secret(staff_password_file, "--staff-password-file")
    staff = staff_password or environ.get("CHATBOT_STAFF_PASSWORD") or None
    folder = data_dir or (Path(environ["CHATBOT_DATA_DIR"]) if environ.get("CHATBOT_DATA_DIR") else None)
    names = parse_names(",".join(public_names)) or parse_names(environ.get("CHATBOT_PUBLIC_NAMES", ""))
    database = feedback_db or environ.get("CHATBOT_FEEDBACK_DB") or None
    name = (replica or environ.get("CHATBOT_REPLICA") or "").strip() or f"{socket.gethostname()}:{port}"
    return WebSettings(host, port, credentials, staff, folder or default_data_dir(), names, database, name)
