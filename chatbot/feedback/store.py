"""Durable store of patients' votes on answers and of questions the corpus missed.

Support staff can only fix what they can see: every like/dislike (with the passages
shown and the index build that chose them) and every "not covered" question is kept
in one SQLite file, outside `index/` so rebuilding the index never wipes it. WAL mode
lets many chat sessions (threads or processes) write while staff read. Writing is
best effort by design: a locked, read-only or full database is logged and reported
as `False`, never raised, because a failed vote must not break the patient's chat.

Patients' data stays the server's: the file (and SQLite's -wal and -shm beside it, which take the
file's mode) is created 0600 in a folder created 0700. A vote carries an id made by the app: a
second vote on the same answer replaces the first, and a reason is attached by that id. A file
deleted or replaced while serving gets its schema again on the next write; `check` runs SQLite's
quick check and says, in one line, to move a damaged file aside. Answers given through the web
API are kept by their id too (`record_answer`, `answer`), so that a vote on one can reach any
server sharing the store.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, Literal, TextIO

from chatbot.errors import FeedbackStoreError
from chatbot.feedback.records import (
    CSV_COLUMNS,
    MAX_COMMENT_CHARS,
    MAX_HISTORY,
    MAX_LISTED,
    MAX_TEXT_CHARS,
    REASONS,
    AnswerRecord,
    FeedbackRecord,
    GapCount,
    GapRecord,
    ShownPassage,
    bounded,
    check_choice,
    check_text,
    check_vote_id,
    normalise_question,
)

# 1: feedback and gaps. 2: gaps.alert (the safety card shown). 3: feedback.vote_id (one row per
# vote, unique; older rows get a random id). Added to older files on their next write
# (`_MIGRATIONS`); a file not yet migrated is still read, its gaps without an alert and its votes
# with an id made from their row number. 4: answers (the web API's answers, kept by id so that a
# vote reaches any server sharing the store); a file from before holds none until its next write.
SCHEMA_VERSION = 4
DB_FILENAME = "feedback.sqlite3"

logger = logging.getLogger("chatbot.feedback")


def default_data_dir() -> Path:
    """The folder for user data, apart from `index/` so a rebuild never touches it."""
    return Path(os.environ.get("CHATBOT_DATA_DIR", "data"))


def default_db_path() -> Path:
    return default_data_dir() / DB_FILENAME


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL,
        question TEXT NOT NULL, history TEXT NOT NULL, query TEXT NOT NULL,
        passages TEXT NOT NULL,
        index_build TEXT NOT NULL, vote TEXT NOT NULL, reason TEXT, comment TEXT, vote_id TEXT)""",
    """CREATE TABLE IF NOT EXISTS gaps (
        id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL,
        question TEXT NOT NULL, question_key TEXT NOT NULL,
        history TEXT NOT NULL, query TEXT NOT NULL,
        index_build TEXT NOT NULL, closest_sections TEXT NOT NULL, alert TEXT)""",
    "CREATE INDEX IF NOT EXISTS gaps_by_key ON gaps (question_key)",
    # Plain types and a text primary key: the same statement works on PostgreSQL.
    """CREATE TABLE IF NOT EXISTS answers (
        answer_id TEXT PRIMARY KEY, time TEXT NOT NULL,
        question TEXT NOT NULL, history TEXT NOT NULL, query TEXT NOT NULL,
        passages TEXT NOT NULL, index_build TEXT NOT NULL)""",
)
# Columns added since schema 1, as (table, column, definition): added to a file that lacks them,
# after the CREATE statements above (which leave an existing table as it is).
_MIGRATIONS = (("gaps", "alert", "alert TEXT"), ("feedback", "vote_id", "vote_id TEXT"))
# Then, on every schema check: ids for rows stored before schema 3, and the index that makes a vote
# id unique (which a later vote on the same answer, and its reason, find their row by).
_AFTER_MIGRATIONS = (
    "UPDATE feedback SET vote_id = lower(hex(randomblob(16))) WHERE vote_id IS NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS feedback_by_vote ON feedback (vote_id)",
)
_FEEDBACK_COLS = "time, question, history, query, passages, index_build, vote, reason, comment"
_FEEDBACK_INSERT = f"INSERT INTO feedback ({_FEEDBACK_COLS}, vote_id) VALUES ({', '.join('?' * 10)})"
# Characters a spreadsheet reads as the start of a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_GAP_COLS = "time, question, history, query, index_build, closest_sections"
_GAP_INSERT_COLS = "time, question, question_key, history, query, index_build, closest_sections, alert"
_ANSWER_COLS = "answer_id, time, question, history, query, passages, index_build"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _fit(text: str | None, limit: int = MAX_TEXT_CHARS) -> Any:
    """A stored text within its record's bound: rows written before the bounds (a 10 MB comment
    from a spammer) are read cut, marked as cut, rather than making the staff page fail."""
    return text if text is None else bounded(text, limit)[0]


def _fit_list(values: list[str], count: int = MAX_HISTORY) -> tuple[str, ...]:
    return tuple(_fit(v) for v in values[-count:])


def _feedback_from_row(row: tuple[Any, ...]) -> FeedbackRecord:
    when, question, history, query, passages, index_build, vote, reason, comment, vote_id = row
    shown = tuple(ShownPassage(id=p["id"], section=p["section"]) for p in json.loads(passages))
    return FeedbackRecord(
        _fit(question),
        _fit_list(json.loads(history)),
        _fit(query),
        shown[:MAX_LISTED],
        index_build,
        vote,
        reason,
        _fit(comment, MAX_COMMENT_CHARS),
        when,
        vote_id,
    )


def _answer_from_row(row: tuple[Any, ...]) -> AnswerRecord:
    answer_id, when, question, history, query, passages, index_build = row
    shown = tuple(ShownPassage(id=p["id"], section=p["section"]) for p in json.loads(passages))
    return AnswerRecord(
        answer_id,
        _fit(question),
        _fit_list(json.loads(history)),
        _fit(query),
        shown[:MAX_LISTED],
        index_build,
        when,
    )


def _gap_from_row(row: tuple[Any, ...]) -> GapRecord:
    when, question, history, query, index_build, closest, alert = row
    return GapRecord(
        _fit(question),
        _fit_list(json.loads(history)),
        _fit(query),
        index_build,
        _fit_list(json.loads(closest), MAX_LISTED),
        when,
        alert,
    )


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _gap_alert(conn: sqlite3.Connection, table: str = "gaps") -> str:
    """The gaps' alert column (of `table`, a name for gaps in the query), or NULL in a schema-1
    file not yet migrated (read-only, or only read since the upgrade): reading never changes a file."""
    return f"{table}.alert" if "alert" in _columns(conn, "gaps") else "NULL"


def _vote_id(conn: sqlite3.Connection) -> str:
    """The feedback's vote id column, or one made from the row number in a file from before
    schema 3 not yet migrated (reading never changes a file)."""
    return "vote_id" if "vote_id" in _columns(conn, "feedback") else "'row-' || id"


SqlFor = Callable[[sqlite3.Connection], str]


def _select_feedback(tail: str) -> SqlFor:
    """Every feedback column and its vote id, then `tail` (ORDER BY ...)."""
    return lambda conn: f"SELECT {_FEEDBACK_COLS}, {_vote_id(conn)} FROM feedback {tail}"


def _select_gaps(tail: str) -> SqlFor:
    """Every gap column, `alert` as the file has it, then `tail` (ORDER BY ...)."""
    return lambda conn: f"SELECT {_GAP_COLS}, {_gap_alert(conn)} FROM gaps {tail}"


class FeedbackStore:
    """One SQLite file, a fresh connection per call: any thread or process may use it.

    Gradio runs handlers in threads and sqlite3 connections must not cross threads;
    opening one per call costs well under a millisecond and needs no locking here.
    """

    def __init__(self, path: Path, *, busy_timeout: float = 5.0, read_only: bool = False) -> None:
        self.path = Path(path)
        # Seconds a write waits for another writer's lock before giving up and logging.
        self.busy_timeout = busy_timeout
        # SQLite's mode=ro, for staff tools on a copy: every write fails and logs.
        self.read_only = read_only

    @property
    def where(self) -> str:
        """The file, for messages."""
        return str(self.path)

    def close(self) -> None:
        """Nothing to close: each call opens and closes its own connection."""

    def _connect(self, mode: str) -> sqlite3.Connection:
        uri = f"{self.path.absolute().as_uri()}?mode={'ro' if self.read_only else mode}"
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so each write is one
        # transaction, and BEGIN IMMEDIATE takes the write lock up front (a deferred
        # transaction that upgrades later can get SQLITE_BUSY without waiting).
        conn = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL (readers and one writer at once), retrying if busy.

        SQLite does not run the busy handler for this conversion, so processes
        opening a fresh file together get "database is locked" at once; retry
        within the busy timeout. WAL is stored in the file: once set, nothing to do.
        """
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.005
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
                if mode == "wal" or self.read_only:
                    return
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode != "wal":
                    # A refusal (e.g. no shared memory on this filesystem) returns
                    # the old mode; rows are still saved safely, just less concurrently.
                    logger.warning(
                        "%s stays in %r journal mode, not WAL; concurrent writers "
                        "will wait longer. Put CHATBOT_DATA_DIR on a local disk.",
                        self.path,
                        mode,
                    )
                return
            except sqlite3.OperationalError as exc:
                code = getattr(exc, "sqlite_errorcode", 0)
                if code & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        """Create or migrate the schema unless the file already has this code's.

        Asked on every write (one PRAGMA, microseconds), not once per process: a file deleted or
        replaced while the app serves gets its tables back on the next vote, without a restart.
        """
        if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        self._use_wal(conn)
        # Creating tables inside BEGIN IMMEDIATE makes concurrent first writers
        # (several processes on a fresh file) take turns.
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise FeedbackStoreError(
                    f"{self.path} has schema version {version}, newer than this "
                    f"code's {SCHEMA_VERSION}; upgrade chatbot or set "
                    "CHATBOT_DATA_DIR to another folder."
                )
            for statement in _SCHEMA:
                conn.execute(statement)
            for table, column, definition in _MIGRATIONS:
                if column not in _columns(conn, table):
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {definition}")
            for statement in _AFTER_MIGRATIONS:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _create_privately(self) -> None:
        """The folder (0700) and an empty file (0600) before SQLite opens it: SQLite would create
        the file 0644, readable by every local user, and gives its -wal and -shm the file's mode."""
        folder = self.path.parent
        if not folder.is_dir():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))

    def _fix_for(self, exc: BaseException) -> str:
        """The fix a failed write's log line names."""
        if isinstance(exc, sqlite3.DatabaseError) and _damaged(exc):
            return f"it is damaged: move it aside ({_move_aside(self.path)}); the next vote starts a new one"
        return "make the folder writable, free disk space or set CHATBOT_DATA_DIR to a writable folder"

    def _write(self, what: str, statements: list[tuple[str, tuple[Any, ...]]]) -> bool:
        """Run `statements` as one transaction; False (logged with its fix) when they cannot be."""
        try:
            if not self.read_only:
                self._create_privately()
            with closing(self._connect("rwc")) as conn:
                self._ensure_schema(conn)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for sql, values in statements:
                        conn.execute(sql, values)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            return True
        # ValueError: text SQLite cannot store (a lone surrogate from a malformed request).
        except (sqlite3.Error, OSError, ValueError, FeedbackStoreError) as exc:
            logger.error(
                "Could not save %s to %s (%s: %s). The chat goes on; %s.",
                what,
                self.path,
                type(exc).__name__,
                exc,
                self._fix_for(exc),
            )
            return False

    def problem(self) -> str | None:
        """Why the store cannot be used now, in one line with its fix, or None when it can.

        SQLite's quick check (the pages and their structure, not every index entry: fast enough
        for the start and each staff refresh), and modes tightened to 0600 on files an older
        version created readable by everyone. A missing file is no problem: a vote creates it.
        """
        if not self.path.exists():
            return None
        self._tighten_modes()
        try:
            with closing(self._connect("ro" if self.read_only else "rw")) as conn:
                found = [row[0] for row in conn.execute("PRAGMA quick_check(3)")]
                version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as exc:
            found = [str(exc)]
            version = 0
        if found != ["ok"]:
            detail = " ".join("; ".join(str(f) for f in found).split())[:200]  # one line, short
            return (
                f"{self.path} is damaged ({detail}), so votes and gaps cannot be saved or shown; move "
                f"it aside ({_move_aside(self.path)}) and the next vote starts a new, empty store."
            )
        if version > SCHEMA_VERSION:
            return (
                f"{self.path} has schema version {version}, newer than this code's {SCHEMA_VERSION}; "
                "upgrade chatbot or set CHATBOT_DATA_DIR to another folder."
            )
        return None

    def check(self) -> str | None:
        """`problem`, logged as one error line when there is one: for the server's start."""
        found = self.problem()
        if found:
            logger.error("The feedback store cannot be used: %s", found)
        return found

    def _tighten_modes(self) -> None:
        for path in (self.path, *(self.path.with_name(self.path.name + end) for end in ("-wal", "-shm"))):
            try:
                info = path.stat()
                if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
                    path.chmod(0o600)
            except OSError:  # gone, or not ours to change: the check itself says what matters
                pass

    def record_feedback(self, rec: FeedbackRecord) -> bool:
        """Store a vote; one with the vote id of a stored vote replaces it (one vote per answer).

        The old row is deleted and the new one added, so that it sorts as the newest; its reason
        and comment go with it (they were about the old vote).
        """
        delete = ("DELETE FROM feedback WHERE vote_id = ?", (rec.vote_id,))
        return self._write("feedback", [delete, (_FEEDBACK_INSERT, _feedback_values(rec))])

    def add_reason(self, rec: FeedbackRecord, reason: str | None, comment: str | None = None) -> bool:
        """Attach a reason given after the vote to the row `record_feedback(rec)` wrote.

        The chat stores a vote the moment it is clicked (so nothing is lost if the tab is
        closed) and offers the reason afterwards; the row is found by its vote id. A row that is
        gone (the file was replaced meanwhile) is stored again, with the reason: never a lost
        vote. Like every write, a failure is logged and reported as `False`.
        """
        check_choice("reason", reason, REASONS, optional=True)
        check_text("comment", comment, MAX_COMMENT_CHARS)
        check_vote_id(rec.vote_id)
        comment = comment if comment is not None and comment.strip() else None
        values = _feedback_values(dataclasses.replace(rec, reason=reason, comment=comment))
        sql = f"""{_FEEDBACK_INSERT}
            ON CONFLICT (vote_id) DO UPDATE SET reason = excluded.reason, comment = excluded.comment"""
        return self._write("a feedback reason", [(sql, values)])

    def record_answer(self, rec: AnswerRecord) -> bool:
        """Keep an answer under its id (a new id each time: an answer is never replaced)."""
        values = _answer_values(rec)
        sql = f"INSERT INTO answers ({_ANSWER_COLS}) VALUES ({', '.join('?' * 7)})"
        return self._write("an answer", [(sql, values)])

    def answer(self, answer_id: str) -> AnswerRecord | None:
        """The answer kept under `answer_id`, or None when there is none (never given, or the file
        was replaced since). A store that cannot be read raises FeedbackStoreError."""
        check_vote_id(answer_id)

        def sql(conn: sqlite3.Connection) -> str:
            if "answer_id" in _columns(conn, "answers"):
                return f"SELECT {_ANSWER_COLS} FROM answers WHERE answer_id = ?"
            return "SELECT NULL WHERE ? IS NULL AND 0"  # a file from before schema 4: no answers

        rows = list(self._rows(sql, (answer_id,)))  # read whole: the connection closes now
        return _answer_from_row(rows[0]) if rows else None

    def record_gap(self, rec: GapRecord) -> bool:
        values = _gap_values(rec)
        sql = f"INSERT INTO gaps ({_GAP_INSERT_COLS}) VALUES ({', '.join('?' * 8)})"
        return self._write("a content gap", [(sql, values)])

    def _rows(self, sql: str | SqlFor, params: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows of a query; `sql` may be a function of the connection (for the columns a file has)."""
        # Reading never creates the file: a fresh install shows empty staff tables.
        if not self.path.exists():
            return
        try:
            with closing(self._connect("rw")) as conn:
                if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                    return  # file exists but no write has created the schema yet
                yield from conn.execute(sql if isinstance(sql, str) else sql(conn), params)
        except sqlite3.Error as exc:
            fix = (
                f"move it aside ({_move_aside(self.path)}); the next vote starts a new, empty store"
                if _damaged(exc)
                else "check it is a readable feedback database, or set CHATBOT_DATA_DIR to the "
                "folder that holds it"
            )
            raise FeedbackStoreError(f"Cannot read {self.path} ({exc}); {fix}.") from exc

    def recent_feedback(self, limit: int = 50) -> list[FeedbackRecord]:
        """Most recent first."""
        sql = _select_feedback("ORDER BY id DESC LIMIT ?")
        return [_feedback_from_row(r) for r in self._rows(sql, (max(0, limit),))]

    def gaps(self, limit: int = 100) -> list[GapRecord]:
        """Most recent first."""
        sql = _select_gaps("ORDER BY id DESC LIMIT ?")
        return [_gap_from_row(r) for r in self._rows(sql, (max(0, limit),))]

    def gap_counts(self, limit: int = 100) -> list[GapCount]:
        """ "Not covered" questions grouped by normalised wording, most asked first."""

        # Each group shows its latest wording: join back on the group's newest row id.
        def sql(conn: sqlite3.Connection) -> str:
            return f"""SELECT g.question_key, latest.question, g.n, g.last_time, {_gap_alert(conn, "latest")}
                FROM (SELECT question_key, COUNT(*) AS n, MAX(id) AS last_id,
                             MAX(time) AS last_time FROM gaps GROUP BY question_key) AS g
                JOIN gaps AS latest ON latest.id = g.last_id
                ORDER BY g.n DESC, g.last_id DESC LIMIT ?"""

        return [GapCount(*row) for row in self._rows(sql, (max(0, limit),))]

    def export(
        self,
        kind: Literal["feedback", "gaps"],
        fmt: Literal["csv", "jsonl"],
        out: TextIO,
    ) -> int:
        """Write every row, oldest first, and return how many.

        CSV holds lists as JSON text cells (passages as `passage_ids` and
        `passage_sections`); an empty store gives the header only. A cell that a spreadsheet
        would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) starts with a `'` instead
        (`neutralise`). JSONL gives one record per line, shaped like the dataclass, exactly as
        stored, and nothing for an empty store.
        """
        check_choice("kind", kind, ("feedback", "gaps"), optional=False)
        check_choice("format", fmt, ("csv", "jsonl"), optional=False)
        convert: Callable[[tuple[Any, ...]], FeedbackRecord | GapRecord]
        sql: str | SqlFor
        if kind == "feedback":
            sql = _select_feedback("ORDER BY id")
            convert = _feedback_from_row
        else:
            sql = _select_gaps("ORDER BY id")
            convert = _gap_from_row
        return write_export(kind, fmt, (convert(row) for row in self._rows(sql)), out)


def write_export(
    kind: Literal["feedback", "gaps"],
    fmt: Literal["csv", "jsonl"],
    records: Iterable[FeedbackRecord | GapRecord],
    out: TextIO,
) -> int:
    """Write `records` (oldest first) as `export` describes, formulas neutralised in CSV, and
    return how many: shared by every store, so that each exports exactly alike."""
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS[kind])
    count = 0
    for rec in records:
        if writer is None:
            out.write(_json(dataclasses.asdict(rec)) + "\n")
        else:
            writer.writerow([neutralise(cell) for cell in _csv_cells(rec)])
        count += 1
    return count


def _answer_values(rec: AnswerRecord) -> tuple[Any, ...]:
    """The row `_ANSWER_COLS` stores for an answer given through the API."""
    return (
        rec.answer_id,
        rec.time,
        rec.question,
        _json(list(rec.history)),
        rec.query,
        _json([{"id": p.id, "section": p.section} for p in rec.passages]),
        rec.index_build,
    )


def _gap_values(rec: GapRecord) -> tuple[Any, ...]:
    """The row `_GAP_INSERT_COLS` stores for a content gap."""
    return (
        rec.time,
        rec.question,
        normalise_question(rec.question),
        _json(list(rec.history)),
        rec.query,
        rec.index_build,
        _json(list(rec.closest_sections)),
        rec.alert,
    )


def _feedback_values(rec: FeedbackRecord) -> tuple[Any, ...]:
    """The row `_FEEDBACK_INSERT` stores for a vote."""
    passages = [{"id": p.id, "section": p.section} for p in rec.passages]
    return (
        rec.time,
        rec.question,
        _json(list(rec.history)),
        rec.query,
        _json(passages),
        rec.index_build,
        rec.vote,
        rec.reason,
        rec.comment,
        rec.vote_id,
    )


def _damaged(exc: sqlite3.Error) -> bool:
    """SQLite's "file is not a database" and "database disk image is malformed"."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _move_aside(path: Path) -> str:
    return f"mv {path} {path}.broken"


def neutralise(cell: str) -> str:
    """A CSV cell a spreadsheet shows as text: one that would start a formula gets a `'` first."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _csv_cells(rec: FeedbackRecord | GapRecord) -> list[str]:
    if isinstance(rec, GapRecord):
        return [
            rec.time,
            rec.question,
            _json(list(rec.history)),
            rec.query,
            rec.index_build,
            _json(list(rec.closest_sections)),
            rec.alert or "",
        ]
    return [
        rec.time,
        rec.question,
        _json(list(rec.history)),
        rec.query,
        _json([p.id for p in rec.passages]),
        _json([p.section for p in rec.passages]),
        rec.index_build,
        rec.vote,
        rec.reason or "",
        rec.comment or "",
        rec.vote_id,
    ]
