"""The local store's schema, as numbered migrations applied in order.

A migration is never edited once released; a change is a new migration.
``PRAGMA user_version`` records how many have been applied.

Layout, chosen for size (a lifetime of events on a laptop) and for the two
orders the store needs:
- ``events`` is keyed by the canonical order ``(hlc, device, dseq)`` in a
  WITHOUT ROWID table, so a fold is a primary-key range scan. The event itself
  is stored once, as the MessagePack bytes it was minted or received as.
- The push queue is the partial index ``own_unacked``: this device's events
  without a server position (migration 3; before it, an ``outbox`` table).
- ``snapshots`` holds folded states at points of the canonical order; see
  :mod:`careerlog.client.store` for when one is valid.
- ``retractions`` indexes retractions by the key of their target, because a
  retraction changes what every snapshot after its target means.
"""

from __future__ import annotations

import re

__all__ = ["DEVICE_ID", "MIGRATIONS", "own_device_index"]

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
        """CREATE TABLE events (
            hlc         INTEGER NOT NULL,
            device      TEXT    NOT NULL,
            dseq        INTEGER NOT NULL,
            id          BLOB    NOT NULL,
            occurred_ms INTEGER NOT NULL,
            body        BLOB    NOT NULL,
            pos         INTEGER,
            PRIMARY KEY (hlc, device, dseq)
        ) WITHOUT ROWID""",
        "CREATE UNIQUE INDEX events_by_id ON events (id)",
        "CREATE INDEX events_by_occurred ON events (occurred_ms)",
        "CREATE TABLE outbox (dseq INTEGER PRIMARY KEY, hlc INTEGER NOT NULL)",
        """CREATE TABLE rejected (
            id     BLOB PRIMARY KEY,
            dseq   INTEGER NOT NULL,
            code   TEXT NOT NULL,
            reason TEXT NOT NULL,
            at_ms  INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE snapshots (
            hlc    INTEGER NOT NULL,
            device TEXT    NOT NULL,
            dseq   INTEGER NOT NULL,
            count  INTEGER NOT NULL,
            body   BLOB    NOT NULL,
            PRIMARY KEY (hlc, device, dseq)
        ) WITHOUT ROWID""",
        """CREATE TABLE retractions (
            id        BLOB PRIMARY KEY,
            hlc       INTEGER NOT NULL,
            device    TEXT    NOT NULL,
            dseq      INTEGER NOT NULL,
            target_id BLOB    NOT NULL
        ) WITHOUT ROWID""",
    ),
    # 2: smaller and faster (a lifetime of events should stay well under
    # 400 bytes an event on disk).
    # - Events are identified by (device, dseq): each device's sequence is
    #   kept gapless here (see the store), so "already have it" is
    #   ``dseq <= devices.last_dseq`` and the id column and its index (~70
    #   bytes an event) go. The id stays in the body.
    # - "Occurred by" views scan the log anyway: the occurred index goes too.
    # - ``devices`` keeps each device's highest dseq (also a sync high-water
    #   mark). This device's head moves with the server's verdicts; its
    #   unacknowledged events are in the push queue (``own_device_index``).
    # - Retractions keep their target's key, resolved when the target is here.
    # - Snapshots are now zlib-compressed; the old ones go (they are caches).
    (
        """CREATE TABLE devices (
            device    TEXT PRIMARY KEY,
            last_dseq INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """INSERT INTO devices (device, last_dseq)
            SELECT device, max(dseq) FROM events GROUP BY device""",
        "ALTER TABLE retractions ADD COLUMN target_hlc INTEGER",
        "ALTER TABLE retractions ADD COLUMN target_device TEXT",
        "ALTER TABLE retractions ADD COLUMN target_dseq INTEGER",
        """UPDATE retractions SET (target_hlc, target_device, target_dseq) =
            (SELECT hlc, device, dseq FROM events WHERE events.id = retractions.target_id)""",
        """CREATE TABLE events_v2 (
            hlc    INTEGER NOT NULL,
            device TEXT    NOT NULL,
            dseq   INTEGER NOT NULL,
            body   BLOB    NOT NULL,
            pos    INTEGER,
            PRIMARY KEY (hlc, device, dseq)
        ) WITHOUT ROWID""",
        "INSERT INTO events_v2 SELECT hlc, device, dseq, body, pos FROM events",
        "DROP TABLE events",
        "ALTER TABLE events_v2 RENAME TO events",
        "DELETE FROM snapshots",
    ),
    # 3: the push queue becomes a partial index of this device's events that
    # have no server position (``own_device_index``): rejected events get
    # position 0 (a server position is never 0) and leave the queue.
    (
        "DROP TRIGGER IF EXISTS own_events_queued",
        "DROP TRIGGER IF EXISTS own_events_in_sequence",
        """UPDATE events SET pos = 0
            WHERE pos IS NULL
            AND device = (SELECT value FROM meta WHERE key = 'device')
            AND dseq IN (SELECT dseq FROM rejected)""",
        "DROP TABLE outbox",
    ),
    # 4: a repair. A pull that gave positions to this device's own events took
    # them off the push queue without raising the device's head, so a process
    # loading then could pick a dseq already used, and the store's measure of
    # the log's size (``LocalStore._size_query``) missed them. The store now
    # raises the head there too; the head covers them from now on.
    (
        """INSERT INTO devices (device, last_dseq)
            SELECT device, max(dseq) FROM events
            WHERE device = (SELECT value FROM meta WHERE key = 'device') AND pos IS NOT NULL
            GROUP BY device
            ON CONFLICT (device) DO UPDATE SET last_dseq = max(last_dseq, excluded.last_dseq)""",
    ),
)

#: What ``new_device_id`` mints; only such an id is written into SQL as a literal.
DEVICE_ID = re.compile(r"[0-9a-z]{1,64}")


def own_device_index(device: str) -> tuple[str, ...]:
    """The push queue: this device's events without a server position.

    A partial index, not a table or a trigger: an append stays one plain
    INSERT, and a bulk import of other devices' rows pays only the index's
    WHERE test (a trigger cost a third of the insert rate). The device id is
    written into the index as a literal, and queries that use the queue must
    spell the same literal (see ``LocalStore._queued``), because SQLite uses a
    partial index only when the query's WHERE implies the index's.
    """
    if not DEVICE_ID.fullmatch(device):
        raise ValueError(f"not a device id: {device!r}")
    return (
        f"CREATE INDEX IF NOT EXISTS own_unacked ON events (dseq) "
        f"WHERE device = '{device}' AND pos IS NULL",
    )
