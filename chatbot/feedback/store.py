"""Durable store of patients' votes on answers and of questions the corpus missed.

Support staff can only fix what they can see: every like/dislike (with the passages
shown and the index build that chose them) and every "not covered" question is kept
in one SQLite file, outside `index/` so rebuilding the index never wipes it. WAL mode
lets many chat sessions (threads or processes) write while staff read. Writing is
best effort by design: a locked, read-only or full database is logged and reported
as `False`, never raised, because a failed vote must not break the patient's chat.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, Literal, TextIO

from chatbot.errors import FeedbackStoreError
from chatbot.feedback.records import (
    CSV_COLUMNS,
    REASONS,
    FeedbackRecord,
    GapCount,
    GapRecord,
    ShownPassage,
    check_choice,
    normalise_question,
)

# 1: feedback and gaps. 2: gaps.alert (the safety card shown), added to older files on their
# next write (`_MIGRATIONS`); a file not yet migrated is still read, its gaps without an alert.
SCHEMA_VERSION = 2
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
        index_build TEXT NOT NULL, vote TEXT NOT NULL, reason TEXT, comment TEXT)""",
    """CREATE TABLE IF NOT EXISTS gaps (
        id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL,
        question TEXT NOT NULL, question_key TEXT NOT NULL,
        history TEXT NOT NULL, query TEXT NOT NULL,
        index_build TEXT NOT NULL, closest_sections TEXT NOT NULL, alert TEXT)""",
    "CREATE INDEX IF NOT EXISTS gaps_by_key ON gaps (question_key)",
)
# Columns added since schema 1, as (table, column, definition): added to a file that lacks them,
# after the CREATE statements above (which leave an existing table as it is).
_MIGRATIONS = (("gaps", "alert", "alert TEXT"),)
_FEEDBACK_COLS = "time, question, history, query, passages, index_build, vote, reason, comment"
_GAP_COLS = "time, question, history, query, index_build, closest_sections"
_GAP_INSERT_COLS = "time, question, question_key, history, query, index_build, closest_sections, alert"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _feedback_from_row(row: tuple[Any, ...]) -> FeedbackRecord:
    when, question, history, query, passages, index_build, vote, reason, comment = row
    shown = tuple(ShownPassage(id=p["id"], section=p["section"]) for p in json.loads(passages))
    return FeedbackRecord(
        question,
        tuple(json.loads(history)),
        query,
        shown,
        index_build,
        vote,
        reason,
        comment,
        when,
    )


def _gap_from_row(row: tuple[Any, ...]) -> GapRecord:
    when, question, history, query, index_build, closest, alert = row
    return GapRecord(
        question,
        tuple(json.loads(history)),
        query,
        index_build,
        tuple(json.loads(closest)),
        when,
        alert,
    )


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _gap_alert(conn: sqlite3.Connection, table: str = "gaps") -> str:
    """The gaps' alert column (of `table`, a name for gaps in the query), or NULL in a schema-1
    file not yet migrated (read-only, or only read since the upgrade): reading never changes a file."""
    return f"{table}.alert" if "alert" in _columns(conn, "gaps") else "NULL"


SqlFor = Callable[[sqlite3.Connection], str]


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
        self._schema_ready = False

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
        if self._schema_ready:
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
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._schema_ready = True

    def _write(self, what: str, sql: str, values: tuple[Any, ...]) -> bool:
        try:
            if not self.read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect("rwc")) as conn:
                self._ensure_schema(conn)
                conn.execute("BEGIN IMMEDIATE")
                try:
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
                "Could not save %s to %s (%s: %s). The chat goes on; make the "
                "folder writable, free disk space or set CHATBOT_DATA_DIR to a "
                "writable folder.",
                what,
                self.path,
                type(exc).__name__,
                exc,
            )
            return False

    def record_feedback(self, rec: FeedbackRecord) -> bool:
        passages = [{"id": p.id, "section": p.section} for p in rec.passages]
        values = (
            rec.time,
            rec.question,
            _json(list(rec.history)),
            rec.query,
            _json(passages),
            rec.index_build,
            rec.vote,
            rec.reason,
            rec.comment,
        )
        sql = f"INSERT INTO feedback ({_FEEDBACK_COLS}) VALUES ({', '.join('?' * 9)})"
        return self._write("feedback", sql, values)

    def add_reason(self, rec: FeedbackRecord, reason: str | None, comment: str | None = None) -> bool:
        """Attach a reason given after the vote to the row `record_feedback(rec)` wrote.

        The chat stores a vote the moment it is clicked (so nothing is lost if the tab is
        closed) and offers the reason afterwards; the row is found by its time, question
        and vote. Like every write, a failure is logged and reported as `False`.
        """
        check_choice("reason", reason, REASONS, optional=True)
        comment = comment if comment is not None and comment.strip() else None
        sql = """UPDATE feedback SET reason = ?, comment = ? WHERE id = (
            SELECT MAX(id) FROM feedback WHERE time = ? AND question = ? AND vote = ?)"""
        return self._write("a feedback reason", sql, (reason, comment, rec.time, rec.question, rec.vote))

    def record_gap(self, rec: GapRecord) -> bool:
        values = (
            rec.time,
            rec.question,
            normalise_question(rec.question),
            _json(list(rec.history)),
            rec.query,
            rec.index_build,
            _json(list(rec.closest_sections)),
            rec.alert,
        )
        sql = f"INSERT INTO gaps ({_GAP_INSERT_COLS}) VALUES ({', '.join('?' * 8)})"
        return self._write("a content gap", sql, values)

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
            raise FeedbackStoreError(
                f"Cannot read {self.path} ({exc}); check it is a readable feedback "
                "database, or set CHATBOT_DATA_DIR to the folder that holds it."
            ) from exc

    def recent_feedback(self, limit: int = 50) -> list[FeedbackRecord]:
        """Most recent first."""
        sql = f"SELECT {_FEEDBACK_COLS} FROM feedback ORDER BY id DESC LIMIT ?"
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
        `passage_sections`); an empty store gives the header only. JSONL gives one
        record per line, shaped like the dataclass, and nothing for an empty store.
        """
        check_choice("kind", kind, ("feedback", "gaps"), optional=False)
        check_choice("format", fmt, ("csv", "jsonl"), optional=False)
        convert: Callable[[tuple[Any, ...]], FeedbackRecord | GapRecord]
        sql: str | SqlFor
        if kind == "feedback":
            sql = f"SELECT {_FEEDBACK_COLS} FROM feedback ORDER BY id"
            convert = _feedback_from_row
        else:
            sql = _select_gaps("ORDER BY id")
            convert = _gap_from_row
        writer = csv.writer(out) if fmt == "csv" else None
        if writer is not None:
            writer.writerow(CSV_COLUMNS[kind])
        count = 0
        for row in self._rows(sql):
            rec = convert(row)
            if writer is None:
                out.write(_json(dataclasses.asdict(rec)) + "\n")
            else:
                writer.writerow(_csv_cells(rec))
            count += 1
        return count


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
    ]
