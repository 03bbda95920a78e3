"""The SQLite event store's own ways: appends on the event loop, and its checkpoints.

(What every backend must do is in tests/contract; this is what only SQLite does.)
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from careerlog.server.sqlitethread import WAL_SIZE_LIMIT, SqliteThread
from careerlog.server.store import AppendResult
from careerlog.server.store import sqlite as sqlite_module
from careerlog.server.store.sqlite import SqliteStore
from tests.contract.pushes import events
from tests.lockholder import other_connection, release_later

NOW = 1_772_442_000_000


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "server.db"


@pytest.fixture
async def store(path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(path)
    try:
        await opened.migrate()
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def holder(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection to the store's file: another process, as far as SQLite can tell."""
    with other_connection(path) as other:
        yield other


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _size(path: Path) -> int:
    return path.stat().st_size


async def test_a_small_append_waits_for_another_connections_write_lock_off_the_loop(
    store: SqliteStore, holder: sqlite3.Connection
) -> None:
    user = await store.create_user("ada")
    await store.append(user, "laptop", events("laptop", 1, 1), NOW)  # opens the appender
    holder.execute("BEGIN IMMEDIATE")

    pending = asyncio.ensure_future(store.append(user, "laptop", events("laptop", 2, 3), NOW))
    await release_later(holder, pending)
    results, head = await asyncio.wait_for(pending, 5)

    assert results == [AppendResult("accepted", 2), AppendResult("accepted", 3)]
    assert head == 3
    stored = await store.read(user, 0, 10)
    assert [(item.pos, item.dseq) for item in stored] == [(1, 1), (2, 2), (3, 3)]
    # The next small one commits on the loop again (the connection was left as it was).
    results, head = await store.append(user, "laptop", events("laptop", 4, 4), NOW)
    assert (results, head) == ([AppendResult("accepted", 4)], 4)


async def test_a_first_append_waits_for_the_lock_too(
    store: SqliteStore, holder: sqlite3.Connection
) -> None:
    user = await store.create_user("ada")
    holder.execute("BEGIN IMMEDIATE")

    pending = asyncio.ensure_future(store.append(user, "laptop", events("laptop", 1, 2), NOW))
    await release_later(holder, pending)
    results, head = await asyncio.wait_for(pending, 5)

    assert results == [AppendResult("accepted", 1), AppendResult("accepted", 2)]
    assert head == 2
    assert [item.pos for item in await store.read(user, 0, 10)] == [1, 2]


async def test_a_lone_small_append_commits_on_the_loop_and_a_big_one_on_the_thread(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await store.create_user("ada")
    await store.append(user, "laptop", events("laptop", 1, 1), NOW)  # opens the appender
    to_thread: list[Callable[..., Any]] = []
    run = store._appender.run

    async def refused(work: Callable[..., Any], *args: Any) -> Any:
        raise AssertionError("a lone small append went to the appender thread")

    monkeypatch.setattr(store._appender, "run", refused)
    assert await store.append(user, "laptop", events("laptop", 2, 2), NOW) == (
        [AppendResult("accepted", 2)],
        2,
    )
    small = max(1, sqlite_module._INLINE_APPEND)  # the most that commits on the loop
    results, head = await store.append(user, "laptop", events("laptop", 3, 2 + small), NOW)
    assert head == 2 + small
    assert [result.pos for result in results] == list(range(3, 3 + small))

    async def counted(work: Callable[..., Any], *args: Any) -> Any:
        to_thread.append(work)
        return await run(work, *args)

    monkeypatch.setattr(store._appender, "run", counted)
    first = 3 + small
    results, head = await store.append(user, "laptop", events("laptop", first, first + 99), NOW)
    assert head == first + 99
    assert [result.pos for result in results] == list(range(first, first + 100))
    assert to_thread == [sqlite_module._append_group]
    assert [item.pos for item in await store.read(user, 0, 1000)] == list(range(1, first + 100))


async def test_appends_waiting_behind_a_commit_never_run_on_the_loop_beside_it(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = await store.create_user("ada")
    bob = await store.create_user("bob")
    await store.append(ada, "laptop", events("laptop", 1, 1), NOW)  # opens the appender
    here: list[object] = []
    run_here = store._appender.run_here

    def watched(work: Callable[..., Any], *args: Any) -> Any:
        here.append(work)
        return run_here(work, *args)

    monkeypatch.setattr(store._appender, "run_here", watched)
    big = store.append(ada, "laptop", events("laptop", 2, 101), NOW)  # to the thread
    small = [store.append(bob, f"phone-{n}", events(f"phone-{n}", 1, 1), NOW) for n in range(5)]

    outcomes = await asyncio.gather(big, *small)

    # (The thread's connection is never used from two threads at once.)
    assert here == []
    assert outcomes[0][1] == 101
    assert sorted(head for _, head in outcomes[1:]) == [1, 2, 3, 4, 5]
    assert await store.head(bob) == 5


async def _append_many(store: SqliteStore, user: int, count: int) -> None:
    """``count`` events in appends of 16 (each small enough for the loop)."""
    for first in range(1, count + 1, 16):
        await store.append(user, "laptop", events("laptop", first, first + 15), NOW)
    if store._checkpointing is not None:
        await store._checkpointing


async def test_appended_events_are_checkpointed_into_the_database_file(
    store: SqliteStore, path: Path
) -> None:
    user = await store.create_user("ada")
    count = 8_000  # two of the store's intervals

    await _append_many(store, user, count)

    # The events' bodies alone take this much: only a checkpoint puts them in the file.
    bodies = sum(len(item.body) for item in events("laptop", 1, count))
    assert _size(path) > bodies
    assert await store.head(user) == count


async def test_commits_never_checkpoint_on_their_own(
    store: SqliteStore, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "_CHECKPOINT_EVENTS", 10**9)
    monkeypatch.setattr(sqlite_module, "_CHECKPOINT_COMMITS", 10**9)
    user = await store.create_user("ada")
    count = 4_000  # well over SQLite's own automatic checkpoint (1,000 WAL pages)

    await _append_many(store, user, count)

    bodies = sum(len(item.body) for item in events("laptop", 1, count))
    assert _size(_wal(path)) > 4 * bodies  # it is all in the WAL ...
    assert _size(path) < bodies  # ... and none of it copied yet
    assert await store.head(user) == count


async def test_the_wal_stays_bounded_under_a_steady_stream_of_appends(
    store: SqliteStore, path: Path
) -> None:
    user = await store.create_user("ada")
    every = 4_000  # 250 appends: one interval of the store's, by commits and by events
    first_interval = 0
    for first in range(1, 5 * every + 1, 16):
        await store.append(user, "laptop", events("laptop", first, first + 15), NOW)
        if first + 15 == every:
            first_interval = _size(_wal(path))  # all of it, nothing checkpointed yet
        await asyncio.sleep(0)  # other tasks (pushes, reads, the checkpoint) go on between
    if store._checkpointing is not None:
        await store._checkpointing

    # Restarted after each checkpoint, the WAL holds about one interval's
    # commits (a little more, those made while it ran); never restarted, all five.
    assert first_interval > 0
    assert _size(_wal(path)) < 2.5 * first_interval


async def test_the_wal_is_cut_back_beside_another_writer_that_checkpoints(
    store: SqliteStore, path: Path
) -> None:
    """As with the read models' writer in the same process: a second connection
    committing big transactions, each followed by SQLite's own checkpoint,
    which the store's checkpoints find running and must wait out. The WAL
    then starts again from its beginning after the store's checkpoints, and a
    file grown past the limit is cut back; never restarted, it only grows."""
    other = SqliteThread(path, "test-other-writer")
    await other.run(lambda db: db.execute("CREATE TABLE blobs (n INTEGER, b BLOB)"))
    user = await store.create_user("ada")
    stop = asyncio.Event()

    def write_blob(db: sqlite3.Connection, n: int) -> None:
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM blobs")
        db.execute("INSERT INTO blobs VALUES (?, ?)", (n, bytes(256 << 10)))
        db.execute("COMMIT")

    async def keep_writing() -> int:
        n = 0
        while not stop.is_set():
            await other.run(write_blob, n)
            n += 1
            await asyncio.sleep(0.002)
        return n

    sizes: list[int] = []
    writer = asyncio.create_task(keep_writing())
    try:
        for first in range(1, 20_000, 16):
            await store.append(user, "laptop", events("laptop", first, first + 15), NOW)
            sizes.append(_size(_wal(path)))
            await asyncio.sleep(0.001)  # both writers busy for a second or two
        if store._checkpointing is not None:
            await store._checkpointing
    finally:
        stop.set()
        blobs = await writer
        await other.close()

    # A quarter of a megabyte a blob: unchecked, the WAL would hold them all.
    assert blobs * (256 << 10) > 2 * WAL_SIZE_LIMIT
    cuts = [(a, b) for a, b in itertools.pairwise(sizes) if b < a]
    assert cuts, f"the WAL only grew, to {max(sizes):,} bytes"
    assert all(b <= WAL_SIZE_LIMIT + (1 << 20) for _, b in cuts)
    assert await store.head(user) == 20_000


async def test_one_event_appends_are_checkpointed_by_their_commits(
    store: SqliteStore, path: Path
) -> None:
    """However small, each commit adds whole pages to the WAL: a stream of
    one-event appends (a live device) is checkpointed every so many commits,
    long before it reaches the interval counted in events."""
    user = await store.create_user("ada")
    count = 600  # over two intervals of commits, far from one of events
    for dseq in range(1, count + 1):
        await store.append(user, "laptop", events("laptop", dseq, dseq), NOW)
    if store._checkpointing is not None:
        await store._checkpointing

    bodies = sum(len(item.body) for item in events("laptop", 1, count))
    assert _size(path) > bodies  # copied into the file
    assert await store.head(user) == count


async def test_a_long_reader_never_holds_appends_for_long(store: SqliteStore, path: Path) -> None:
    """An online backup (``sqlite3 … .backup``) keeps a read transaction open
    for as long as it copies. The checkpoints that fall due meanwhile give up
    on starting the WAL again after a short wait instead of holding every
    append for the whole busy timeout."""
    user = await store.create_user("ada")
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM events").fetchone()  # holds its snapshot
        slowest = 0.0
        for dseq in range(1, 301):  # past one interval of commits: a checkpoint falls due
            started = time.monotonic()
            await store.append(user, "laptop", events("laptop", dseq, dseq), NOW)
            slowest = max(slowest, time.monotonic() - started)
            await asyncio.sleep(0.001)  # a device's pace: the checkpoint runs meanwhile
        if store._checkpointing is not None:
            await store._checkpointing
        assert slowest < 1.0
    finally:
        reader.execute("ROLLBACK")
        reader.close()
    assert await store.head(user) == 300
