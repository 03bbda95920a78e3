"""The server store's schema, as numbered migrations for each backend, side by side.

A released migration is never edited; a change is a new migration, appended
to both tuples (version N is entry N - 1). The ``schema_version`` table records
which versions a database has.

Layout:
- Per-user tables lead every key with ``user_id``, so that under Citus they
  are distributed by user and co-located, and every transaction stays on one
  shard: ``user_heads`` (the per-user ``pos`` counter, whose row is the
  per-user append lock), ``events``, ``device_heads`` (each device's
  high-water ``dseq``), ``rejections`` (remembered refusals), ``devices``.
- Directory tables map what a caller holds *before* it knows the user to a
  user id: ``users`` (by name), ``device_tokens`` and ``enrollments`` (by token
  hash). They are small and rarely written; under Citus they would be
  reference tables. This is why a user's ``head`` lives in ``user_heads`` and
  not in ``users``: it is written by every append.
- ``meta`` holds the store's epoch, minted by the first migration.
- There are no foreign keys: existence is checked under the per-user lock,
  ``delete_user`` deletes every table explicitly, and an append does not pay a
  key check per event.
"""

from __future__ import annotations

from careerlog.server.store.base import StoreError

__all__ = ["POSTGRES_MIGRATIONS", "SQLITE_MIGRATIONS", "check_not_newer"]


def check_not_newer(current: int, known: int) -> None:
    """Refuse a database migrated by a newer server: this one would misread it."""
    if current > known:
        raise StoreError(
            f"the database schema is at version {current}, newer than this server's {known}:"
            " upgrade the server"
        )


SQLITE_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
        "INSERT INTO meta (key, value) VALUES ('epoch', lower(hex(randomblob(16))))",
        # AUTOINCREMENT: a deleted user's id is never handed out again, so a
        # stale token or cursor can never land on somebody else's account.
        """CREATE TABLE users (
            id   INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE
        )""",
        """CREATE TABLE user_heads (
            user_id INTEGER PRIMARY KEY,
            head    INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE events (
            user_id     INTEGER NOT NULL,
            pos         INTEGER NOT NULL,
            device      TEXT    NOT NULL,
            dseq        INTEGER NOT NULL,
            hlc         INTEGER NOT NULL,
            body        BLOB    NOT NULL,
            received_ms INTEGER NOT NULL,
            PRIMARY KEY (user_id, pos)
        ) WITHOUT ROWID""",
        "CREATE UNIQUE INDEX events_by_device ON events (user_id, device, dseq)",
        """CREATE TABLE device_heads (
            user_id   INTEGER NOT NULL,
            device    TEXT    NOT NULL,
            last_dseq INTEGER NOT NULL,
            PRIMARY KEY (user_id, device)
        ) WITHOUT ROWID""",
        """CREATE TABLE rejections (
            user_id     INTEGER NOT NULL,
            device      TEXT    NOT NULL,
            dseq        INTEGER NOT NULL,
            code        TEXT    NOT NULL,
            reason      TEXT    NOT NULL,
            received_ms INTEGER NOT NULL,
            PRIMARY KEY (user_id, device, dseq)
        ) WITHOUT ROWID""",
        """CREATE TABLE devices (
            user_id    INTEGER NOT NULL,
            device     TEXT    NOT NULL,
            name       TEXT    NOT NULL,
            created_ms INTEGER NOT NULL,
            revoked_ms INTEGER,
            PRIMARY KEY (user_id, device)
        ) WITHOUT ROWID""",
        """CREATE TABLE device_tokens (
            token_hash BLOB    PRIMARY KEY,
            user_id    INTEGER NOT NULL,
            device     TEXT    NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX device_tokens_by_user ON device_tokens (user_id)",
        """CREATE TABLE enrollments (
            token_hash BLOB    PRIMARY KEY,
            user_id    INTEGER NOT NULL,
            expires_ms INTEGER NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX enrollments_by_user ON enrollments (user_id)",
    ),
)

POSTGRES_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)",
        "INSERT INTO meta (key, value) VALUES ('epoch', replace(gen_random_uuid()::text, '-', ''))",
        # An identity never hands a deleted user's id out again.
        """CREATE TABLE users (
            id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text   NOT NULL UNIQUE
        )""",
        """CREATE TABLE user_heads (
            user_id bigint PRIMARY KEY,
            head    bigint NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE events (
            user_id     bigint NOT NULL,
            pos         bigint NOT NULL,
            device      text   NOT NULL,
            dseq        bigint NOT NULL,
            hlc         bigint NOT NULL,
            body        bytea  NOT NULL,
            received_ms bigint NOT NULL,
            PRIMARY KEY (user_id, pos),
            UNIQUE (user_id, device, dseq)
        )""",
        """CREATE TABLE device_heads (
            user_id   bigint NOT NULL,
            device    text   NOT NULL,
            last_dseq bigint NOT NULL,
            PRIMARY KEY (user_id, device)
        )""",
        """CREATE TABLE rejections (
            user_id     bigint NOT NULL,
            device      text   NOT NULL,
            dseq        bigint NOT NULL,
            code        text   NOT NULL,
            reason      text   NOT NULL,
            received_ms bigint NOT NULL,
            PRIMARY KEY (user_id, device, dseq)
        )""",
        """CREATE TABLE devices (
            user_id    bigint NOT NULL,
            device     text   NOT NULL,
            name       text   NOT NULL,
            created_ms bigint NOT NULL,
            revoked_ms bigint,
            PRIMARY KEY (user_id, device)
        )""",
        """CREATE TABLE device_tokens (
            token_hash bytea  PRIMARY KEY,
            user_id    bigint NOT NULL,
            device     text   NOT NULL
        )""",
        "CREATE INDEX device_tokens_by_user ON device_tokens (user_id)",
        """CREATE TABLE enrollments (
            token_hash bytea  PRIMARY KEY,
            user_id    bigint NOT NULL,
            expires_ms bigint NOT NULL
        )""",
        "CREATE INDEX enrollments_by_user ON enrollments (user_id)",
    ),
)
