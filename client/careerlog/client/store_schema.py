"""The local store's schema, as numbered migrations applied in order.

A migration is never edited once released; a change is a new migration.
``PRAGMA user_version`` records how many have been applied.

Layout, chosen for size (a lifetime of events on a laptop) and for the two
orders the store needs:
- ``events`` is keyed by the canonical order ``(hlc, device, dseq)`` in a
  WITHOUT ROWID table, so a fold is a primary-key range scan. The event itself
  is stored once, as the MessagePack bytes it was minted or received as.
- ``outbox`` lists this device's events not yet acknowledged by a server.
- ``snapshots`` holds folded states at points of the canonical order; see
  :mod:`careerlog.client.store` for when one is valid.
- ``retractions`` indexes retractions by the key of their target, because a
  retraction changes what every snapshot after its target means.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE events (
        hlc         INTEGER NOT NULL,
        device      TEXT    NOT NULL,
        dseq        INTEGER NOT NULL,
        id          BLOB    NOT NULL,
        occurred_ms INTEGER NOT NULL,
        body        BLOB    NOT NULL,
        pos         INTEGER,
        PRIMARY KEY (hlc, device, dseq)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX events_by_id ON events (id);
    CREATE INDEX events_by_occurred ON events (occurred_ms);
    CREATE TABLE outbox (
        dseq INTEGER PRIMARY KEY,
        hlc  INTEGER NOT NULL
    );
    CREATE TABLE rejected (
        id     BLOB PRIMARY KEY,
        dseq   INTEGER NOT NULL,
        code   TEXT NOT NULL,
        reason TEXT NOT NULL,
        at_ms  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE snapshots (
        hlc    INTEGER NOT NULL,
        device TEXT    NOT NULL,
        dseq   INTEGER NOT NULL,
        count  INTEGER NOT NULL,
        body   BLOB    NOT NULL,
        PRIMARY KEY (hlc, device, dseq)
    ) WITHOUT ROWID;
    CREATE TABLE retractions (
        id        BLOB PRIMARY KEY,
        hlc       INTEGER NOT NULL,
        device    TEXT    NOT NULL,
        dseq      INTEGER NOT NULL,
        target_id BLOB    NOT NULL
    ) WITHOUT ROWID;
    """,
)
