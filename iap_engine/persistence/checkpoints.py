"""SQLite WAL checkpoints in a background thread, off the request path.

In WAL mode commits append to the write-ahead log, and every 1000 pages the committing
writer copies the log back into the database file and syncs both (a checkpoint), while it
still holds the write lock. With webhook bodies of about 15 KB that was every ~150
deliveries, 5-10 ms each, stalling every writer of every process behind it. So processes
that write a lot (`serve`, `worker`) checkpoint from a thread of their own every
`INTERVAL` seconds, which waits for no writer and no writer waits for; the automatic
checkpoint stays as a backstop at `BACKSTOP_PAGES`, for when no such thread runs.

Durability is unchanged: a commit is in the log (synchronous=NORMAL) either way, and a
checkpoint only moves committed pages.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("iap_engine.database")

INTERVAL = 0.2
# About 40 MB of log: reached only when no background checkpointer keeps up.
BACKSTOP_PAGES = 10_000


class Checkpointer:
    """A daemon thread running `PRAGMA wal_checkpoint(PASSIVE)` on one database file."""

    def __init__(self, database: str, interval: float = INTERVAL) -> None:
        self._database = database
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)

    def start(self) -> Checkpointer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        connection = sqlite3.connect(self._database, timeout=5, isolation_level=None)
        try:
            while not self._stopped.wait(self._interval):
                try:
                    # PASSIVE: copies what it can without waiting for readers or writers.
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as error:
                    log.warning("background checkpoint failed: %s", error)
        finally:
            connection.close()
