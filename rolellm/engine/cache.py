"""Content-addressed reply cache: SQLite in WAL mode, one committed row per finished call.

Each reply is committed as soon as it arrives, so a crash (even kill -9) loses no completed
call; several processes may write at once (WAL + busy timeout). The file is created by the
first write (or `create()`), so a stage that fails before its first call leaves none behind.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    reply TEXT NOT NULL,
    created REAL NOT NULL
)
"""


class ReplyCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _open(self, create: bool) -> sqlite3.Connection | None:
        """The connection; None when the file does not exist and `create` is False."""
        if self._db is None and (create or self.path.is_file()):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, timeout=60, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=60000")
            db.execute(_SCHEMA)
            self._db = db
        return self._db

    def create(self) -> None:
        """Make sure the file exists (a stage's declared output, even with no call made)."""
        with self._lock:
            self._open(create=True)

    def get_many(self, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self._lock:
            if (db := self._open(create=False)) is None:
                return found
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT key, reply FROM replies WHERE key IN ({marks})", chunk
                ).fetchall()
                found.update(rows)
        return found

    def put(self, key: str, reply: str) -> None:
        with self._lock:
            self._open(create=True).execute(
                "INSERT OR IGNORE INTO replies (key, reply, created) VALUES (?, ?, ?)",
                (key, reply, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            db = self._open(create=False)
            return 0 if db is None else db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
