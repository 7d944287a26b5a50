"""SQLite runs in WAL mode with a busy timeout; writers queue for the write lock (threads
and processes) instead of failing or sleeping in SQLite's busy handler; checkpoints can run
from a background thread."""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from iap_engine.persistence.checkpoints import BACKSTOP_PAGES
from iap_engine.persistence.database import SQLITE_BUSY_TIMEOUT_MS, create_database_engine
from iap_engine.persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.support.databases import sqlite_copy


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    return sqlite_copy(sqlite_template, tmp_path)


def _count(url: str) -> int:
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM cursors")).scalar_one())
    finally:
        engine.dispose()


def _insert(connection: Connection, name: str) -> None:
    connection.execute(
        text("INSERT INTO cursors (name, value, updated_at) VALUES (:n, 'v', '2026-01-01')"),
        {"n": name},
    )


def test_every_connection_runs_in_wal_mode_with_a_busy_timeout(sqlite_url: str) -> None:
    engine = create_database_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            pragmas = [
                connection.execute(text(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
            ]
    finally:
        engine.dispose()
    assert pragmas == ["wal", SQLITE_BUSY_TIMEOUT_MS, 1, 1]  # synchronous 1: NORMAL


def test_writer_threads_wait_their_turn(sqlite_url: str) -> None:
    engine = create_database_engine(sqlite_url)
    uow_factory = SqlUnitOfWorkFactory(engine)
    holding, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def first() -> None:
        with uow_factory() as uow:
            _insert(uow.connection, "first")
            holding.set()
            release.wait(10)
            uow.commit()

    def second() -> None:
        with uow_factory() as uow:
            # Runs only once `first` committed: its row is there.
            seen.append(uow.connection.execute(text("SELECT count(*) FROM cursors")).scalar_one())
            _insert(uow.connection, "second")
            uow.commit()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert holding.wait(10)
    threads[1].start()
    release.set()
    for thread in threads:
        thread.join(20)
    engine.dispose()
    assert seen == [1]
    assert _count(sqlite_url) == 2


def test_a_rolled_back_writer_gives_the_turn_back(sqlite_url: str) -> None:
    engine = create_database_engine(sqlite_url)
    uow_factory = SqlUnitOfWorkFactory(engine)
    with pytest.raises(RuntimeError), uow_factory() as uow:
        _insert(uow.connection, "lost")
        raise RuntimeError("the use case failed")
    with uow_factory() as uow:
        _insert(uow.connection, "kept")
        uow.commit()
    engine.dispose()
    assert _count(sqlite_url) == 1


def _hold_the_lock(url: str, holding: Event, release: Event) -> None:
    engine = create_database_engine(url)
    with SqlUnitOfWorkFactory(engine)() as uow:
        _insert(uow.connection, "child")
        holding.set()
        release.wait(10)
        uow.commit()
    engine.dispose()


def test_writer_processes_wait_their_turn(sqlite_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    holding, release = context.Event(), context.Event()
    child = context.Process(target=_hold_the_lock, args=(sqlite_url, holding, release))
    child.start()
    try:
        assert holding.wait(30)
        engine = create_database_engine(sqlite_url)
        uow_factory = SqlUnitOfWorkFactory(engine)
        result: list[int] = []

        def write() -> None:
            with uow_factory() as uow:
                count = uow.connection.execute(text("SELECT count(*) FROM cursors"))
                result.append(count.scalar_one())
                _insert(uow.connection, "parent")
                uow.commit()

        writer = threading.Thread(target=write)
        writer.start()
        release.set()
        writer.join(30)
        engine.dispose()
    finally:
        release.set()
        child.join(30)
    assert result == [1]  # the parent's transaction began after the child's commit
    assert _count(sqlite_url) == 2


def test_checkpoints_can_run_in_the_background(sqlite_url: str) -> None:
    engine = create_database_engine(sqlite_url, background_checkpoints=True)
    threads = [t for t in threading.enumerate() if t.name == "sqlite-checkpoints"]
    assert [t.is_alive() for t in threads] == [True]
    with SqlUnitOfWorkFactory(engine)() as uow:
        # Commits leave checkpoints to the thread; the automatic one is only a backstop.
        backstop = uow.connection.execute(text("PRAGMA wal_autocheckpoint")).scalar_one()
        _insert(uow.connection, "row")
        uow.commit()
    engine.dispose()
    assert backstop == BACKSTOP_PAGES
    assert not threads[0].is_alive()
    assert _count(sqlite_url) == 1
