"""The batch ledger: one SQLite file in ``OUT_DIR`` that remembers what each file's state is.

Per source file (keyed by its path relative to the batch's input folder) it records the
content hash, the settings hash, the status (``queued``, ``running``, ``done``, ``failed``),
timings, the output path and the output's SHA-256, the error of a failed file and where its
report is. Only the batch's main process writes it, in autocommit mode with ``synchronous=FULL``,
so a crash or SIGKILL of the batch loses at most the file(s) in flight, which a rerun redoes
(a file is *done* only when its output was committed and hashed).

A file is skipped by a rerun exactly when :meth:`Ledger.is_done` holds: same input hash, same
settings hash, status ``done``, and the output exists with the recorded hash.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.batch.worker import file_sha256

LEDGER_NAME = "roomtone-batch.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS files (
    rel TEXT PRIMARY KEY,
    input_path TEXT NOT NULL,
    input_hash TEXT,
    input_size INTEGER,
    settings_hash TEXT,
    status TEXT NOT NULL,
    output_path TEXT,
    output_rel TEXT,
    output_hash TEXT,
    slug TEXT,
    report_json TEXT,
    error TEXT,
    error_kind TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    queued_at REAL,
    started_at REAL,
    finished_at REAL,
    seconds REAL,
    worker TEXT,
    run_id INTEGER
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL,
    finished_at REAL,
    in_dir TEXT,
    options TEXT,
    settings_hash TEXT,
    executor TEXT,
    planned INTEGER,
    skipped INTEGER,
    done INTEGER,
    failed INTEGER,
    status TEXT
);
"""


@dataclass(frozen=True)
class FileRow:
    """One file's ledger entry."""

    rel: str
    input_path: str
    input_hash: str | None
    input_size: int | None
    settings_hash: str | None
    status: str
    output_path: str | None
    output_rel: str | None
    output_hash: str | None
    slug: str | None
    report_json: str | None
    error: str | None
    error_kind: str | None
    attempts: int
    queued_at: float | None
    started_at: float | None
    finished_at: float | None
    seconds: float | None
    worker: str | None
    run_id: int | None


class Ledger:
    """The SQLite ledger of a batch output folder.

    Parameters
    ----------
    path : path
        The database file (created if missing).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30.0, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------
    def get(self, rel: str) -> FileRow | None:
        row = self._db.execute("SELECT * FROM files WHERE rel = ?", (rel,)).fetchone()
        return FileRow(**dict(row)) if row is not None else None

    def rows(self) -> list[FileRow]:
        return [FileRow(**dict(r)) for r in self._db.execute("SELECT * FROM files ORDER BY rel")]

    def is_done(self, rel: str, input_hash: str, settings_hash: str, *, verify: bool = True) -> bool:
        """True when ``rel`` was finished with this input and these settings and its output is intact."""
        row = self.get(rel)
        if row is None or row.status != "done" or row.input_hash != input_hash or row.settings_hash != settings_hash:
            return False
        if not row.output_path or not Path(row.output_path).is_file():
            return False
        if verify:
            try:
                return file_sha256(row.output_path) == row.output_hash
            except OSError:
                return False
        return True

    # -- writing -------------------------------------------------------------------------------
    def begin_run(self, *, in_dir: str, options: dict, settings_hash: str, executor: str) -> int:
        cur = self._db.execute(
            "INSERT INTO runs(started_at, in_dir, options, settings_hash, executor, status) VALUES (?, ?, ?, ?, ?, 'running')",
            (time.time(), in_dir, json.dumps(options, default=str), settings_hash, executor),
        )
        return int(cur.lastrowid)

    def end_run(self, run_id: int, *, planned: int, skipped: int, done: int, failed: int, status: str) -> None:
        self._db.execute(
            "UPDATE runs SET finished_at=?, planned=?, skipped=?, done=?, failed=?, status=? WHERE id=?",
            (time.time(), planned, skipped, done, failed, status, run_id),
        )

    def runs(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute("SELECT * FROM runs ORDER BY id")]

    def queue(self, rel: str, *, input_path: str, input_hash: str | None, input_size: int | None,
              settings_hash: str, output_path: str | None, output_rel: str | None, slug: str, run_id: int) -> None:
        """Record ``rel`` as queued for this run (clearing a previous result)."""
        self._db.execute(
            """INSERT INTO files(rel, input_path, input_hash, input_size, settings_hash, status, output_path, output_rel,
                                 slug, queued_at, run_id)
               VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)
               ON CONFLICT(rel) DO UPDATE SET input_path=excluded.input_path, input_hash=excluded.input_hash,
                 input_size=excluded.input_size, settings_hash=excluded.settings_hash, status='queued',
                 output_path=excluded.output_path, output_rel=excluded.output_rel, slug=excluded.slug,
                 output_hash=NULL, report_json=NULL, error=NULL, error_kind=NULL, started_at=NULL, finished_at=NULL,
                 seconds=NULL, worker=NULL, queued_at=excluded.queued_at, run_id=excluded.run_id""",
            (rel, input_path, input_hash, input_size, settings_hash, output_path, output_rel, slug, time.time(), run_id),
        )

    def mark_running(self, rel: str, *, worker: str | None = None) -> None:
        self._db.execute(
            "UPDATE files SET status='running', started_at=?, attempts=attempts+1, worker=COALESCE(?, worker) "
            "WHERE rel=? AND status IN ('queued', 'running')",
            (time.time(), worker, rel),
        )

    def requeue(self, rel: str) -> None:
        """Put a file that was stopped before it finished back to ``queued`` (nothing of it was written)."""
        self._db.execute(
            "UPDATE files SET status='queued', started_at=NULL, worker=NULL WHERE rel=? AND status IN ('queued', 'running')",
            (rel,),
        )

    def mark_done(self, rel: str, *, output_hash: str, report_json: str | None, seconds: float, worker: str | None) -> None:
        self._db.execute(
            "UPDATE files SET status='done', output_hash=?, report_json=?, seconds=?, finished_at=?, worker=?, error=NULL, "
            "error_kind=NULL WHERE rel=?",
            (output_hash, report_json, seconds, time.time(), worker, rel),
        )

    def mark_failed(self, rel: str, *, error: str, error_kind: str | None, seconds: float | None = None,
                    worker: str | None = None, input_path: str | None = None, settings_hash: str | None = None,
                    input_hash: str | None = None, run_id: int | None = None) -> None:
        """Record a failure (inserting the row if the file failed before it was queued)."""
        self._db.execute(
            """INSERT INTO files(rel, input_path, input_hash, settings_hash, status, error, error_kind, seconds,
                                 finished_at, worker, run_id)
               VALUES (?, ?, ?, ?, 'failed', ?, ?, ?, ?, ?, ?)
               ON CONFLICT(rel) DO UPDATE SET status='failed', error=excluded.error, error_kind=excluded.error_kind,
                 seconds=excluded.seconds, finished_at=excluded.finished_at,
                 worker=COALESCE(excluded.worker, worker), output_hash=NULL, report_json=NULL,
                 run_id=COALESCE(excluded.run_id, run_id)""",
            (rel, input_path or "", input_hash, settings_hash, error, error_kind, seconds, time.time(), worker, run_id),
        )
