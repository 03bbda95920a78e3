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
- Migration 2 adds the read models (``rm_*``, written by the projector, see
  :mod:`careerlog.server.readmodels`), every one keyed by ``user_id`` first,
  and ``events_by_key``: a user's events in canonical order, for re-folding
  after a late event and for time travel.
- Migration 3 adds organisations (``orgs``, ``org_members``): membership
  only, keyed by ``org_id`` first, directory-like (reference tables under
  Citus); :mod:`careerlog.server.orgs` reads and writes them.
- Migration 4 gives a device's token an expiry (``devices.token_expires_ms``,
  NULL for a token that never expires).
- Migration 5 keeps the id (``event_id``, 16 bytes) of each remembered
  rejection, which has no body to read it from, so that a push of a
  ``dseq`` already held tells a re-push (same id: answered as before) from
  another event on a reused ``dseq`` (``dseq_reused``). A stored event's id
  is read from its body on that (rare) path instead: a column would cost
  every append 16 bytes. Nullable without a default: no table rewrite; an
  older rejection (NULL) is taken as re-pushed.
- There are no foreign keys: existence is checked under the per-user lock,
  ``delete_user`` deletes every table explicitly, and an append does not pay a
  key check per event.
"""

from __future__ import annotations

from careerlog.server.store.base import StoreError

__all__ = ["POSTGRES_MIGRATIONS", "READ_MODEL_TABLES", "SQLITE_MIGRATIONS", "check_not_newer"]

#: The read models' per-user tables: ``delete_user`` empties them in the same
#: transaction as the log, so a deleted account leaves no derived trace either.
READ_MODEL_TABLES = (
    "rm_checkpoints",
    "rm_states",
    "rm_snapshots",
    "rm_retractions",
    "rm_timeline",
    "rm_goals",
    "rm_grants",
    "rm_member_facts",
)


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
    (
        "CREATE INDEX events_by_key ON events (user_id, hlc, device, dseq)",
        # One row per user: how far the read models have folded the log, and
        # where the snapshot chain stands (events since the last snapshot and
        # its size), so that incremental folding places snapshots exactly
        # where a rebuild would.
        """CREATE TABLE rm_checkpoints (
            user_id    INTEGER PRIMARY KEY,
            pos        INTEGER NOT NULL,
            hlc        INTEGER NOT NULL,
            device     TEXT    NOT NULL,
            dseq       INTEGER NOT NULL,
            events     INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL,
            snap_since INTEGER NOT NULL,
            snap_bytes INTEGER NOT NULL
        )""",
        "CREATE TABLE rm_states (user_id INTEGER PRIMARY KEY, body BLOB NOT NULL)",
        """CREATE TABLE rm_snapshots (
            user_id INTEGER NOT NULL,
            hlc     INTEGER NOT NULL,
            device  TEXT    NOT NULL,
            dseq    INTEGER NOT NULL,
            events  INTEGER NOT NULL,
            body    BLOB    NOT NULL,
            PRIMARY KEY (user_id, hlc, device, dseq)
        ) WITHOUT ROWID""",
        """CREATE TABLE rm_retractions (
            user_id       INTEGER NOT NULL,
            hlc           INTEGER NOT NULL,
            device        TEXT    NOT NULL,
            dseq          INTEGER NOT NULL,
            target_hlc    INTEGER,
            target_device TEXT,
            target_dseq   INTEGER,
            PRIMARY KEY (user_id, hlc, device, dseq)
        ) WITHOUT ROWID""",
        """CREATE TABLE rm_timeline (
            user_id     INTEGER NOT NULL,
            hlc         INTEGER NOT NULL,
            device      TEXT    NOT NULL,
            dseq        INTEGER NOT NULL,
            event_id    BLOB    NOT NULL,
            type        TEXT    NOT NULL,
            occurred_us INTEGER NOT NULL,
            record_id   TEXT,
            summary     TEXT    NOT NULL,
            retracted   INTEGER NOT NULL,
            PRIMARY KEY (user_id, hlc, device, dseq)
        ) WITHOUT ROWID""",
        """CREATE TABLE rm_goals (
            user_id            INTEGER NOT NULL,
            goal_id            TEXT    NOT NULL,
            status             TEXT    NOT NULL,
            horizon            TEXT    NOT NULL,
            parent_id          TEXT,
            start_on           TEXT    NOT NULL,
            due_on             TEXT    NOT NULL,
            original_due_on    TEXT    NOT NULL,
            set_on             TEXT    NOT NULL,
            closed_on          TEXT,
            baseline           REAL    NOT NULL,
            target             REAL    NOT NULL,
            last_value         REAL,
            percent_done       REAL    NOT NULL,
            milestones_total   INTEGER NOT NULL,
            milestones_reached INTEGER NOT NULL,
            tasks_open         INTEGER NOT NULL,
            tasks_done         INTEGER NOT NULL,
            corrections        INTEGER NOT NULL,
            slip_days          INTEGER NOT NULL,
            last_progress_on   TEXT,
            PRIMARY KEY (user_id, goal_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE rm_grants (
            user_id    INTEGER NOT NULL,
            grantee    TEXT    NOT NULL,
            scopes     TEXT    NOT NULL,
            granted_on TEXT    NOT NULL,
            expires_on TEXT,
            PRIMARY KEY (user_id, grantee)
        ) WITHOUT ROWID""",
        # The one cross-user read (a coach's people): see the PostgreSQL twin.
        "CREATE INDEX rm_grants_by_grantee ON rm_grants (grantee, user_id)",
        "CREATE TABLE rm_member_facts (user_id INTEGER PRIMARY KEY, body BLOB NOT NULL)",
    ),
    # 3: organisations (membership only; see careerlog.server.orgs). Keyed by
    # org first; the index by user serves account deletion.
    (
        "CREATE TABLE orgs (org_id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL) WITHOUT ROWID",
        """CREATE TABLE org_members (
            org_id   TEXT    NOT NULL,
            user_id  INTEGER NOT NULL,
            member   INTEGER NOT NULL,
            admin    INTEGER NOT NULL,
            added_ms INTEGER NOT NULL,
            PRIMARY KEY (org_id, user_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX org_members_by_user ON org_members (user_id, org_id)",
    ),
    # 4: when a device's current token expires (NULL: never).
    ("ALTER TABLE devices ADD COLUMN token_expires_ms INTEGER",),
    # 5: the event ids of remembered rejections.
    ("ALTER TABLE rejections ADD COLUMN event_id BLOB",),
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
    (
        "CREATE INDEX events_by_key ON events (user_id, hlc, device, dseq)",
        """CREATE TABLE rm_checkpoints (
            user_id    bigint PRIMARY KEY,
            pos        bigint NOT NULL,
            hlc        bigint NOT NULL,
            device     text   NOT NULL,
            dseq       bigint NOT NULL,
            events     bigint NOT NULL,
            updated_ms bigint NOT NULL,
            snap_since bigint NOT NULL,
            snap_bytes bigint NOT NULL
        )""",
        "CREATE TABLE rm_states (user_id bigint PRIMARY KEY, body bytea NOT NULL)",
        # Stored out of line but not compressed again: a big state is read on
        # every goal-progress request and rewritten by every projector step,
        # and pglz would cost more than the bytes it saves (snapshots are
        # zlib-compressed already).
        "ALTER TABLE rm_states ALTER COLUMN body SET STORAGE EXTERNAL",
        """CREATE TABLE rm_snapshots (
            user_id bigint NOT NULL,
            hlc     bigint NOT NULL,
            device  text   NOT NULL,
            dseq    bigint NOT NULL,
            events  bigint NOT NULL,
            body    bytea  NOT NULL,
            PRIMARY KEY (user_id, hlc, device, dseq)
        )""",
        "ALTER TABLE rm_snapshots ALTER COLUMN body SET STORAGE EXTERNAL",
        """CREATE TABLE rm_retractions (
            user_id       bigint NOT NULL,
            hlc           bigint NOT NULL,
            device        text   NOT NULL,
            dseq          bigint NOT NULL,
            target_hlc    bigint,
            target_device text,
            target_dseq   bigint,
            PRIMARY KEY (user_id, hlc, device, dseq)
        )""",
        """CREATE TABLE rm_timeline (
            user_id     bigint  NOT NULL,
            hlc         bigint  NOT NULL,
            device      text    NOT NULL,
            dseq        bigint  NOT NULL,
            event_id    bytea   NOT NULL,
            type        text    NOT NULL,
            occurred_us bigint  NOT NULL,
            record_id   text,
            summary     text    NOT NULL,
            retracted   boolean NOT NULL,
            PRIMARY KEY (user_id, hlc, device, dseq)
        )""",
        """CREATE TABLE rm_goals (
            user_id            bigint           NOT NULL,
            goal_id            text             NOT NULL,
            status             text             NOT NULL,
            horizon            text             NOT NULL,
            parent_id          text,
            start_on           date             NOT NULL,
            due_on             date             NOT NULL,
            original_due_on    date             NOT NULL,
            set_on             date             NOT NULL,
            closed_on          date,
            baseline           double precision NOT NULL,
            target             double precision NOT NULL,
            last_value         double precision,
            percent_done       double precision NOT NULL,
            milestones_total   integer          NOT NULL,
            milestones_reached integer          NOT NULL,
            tasks_open         integer          NOT NULL,
            tasks_done         integer          NOT NULL,
            corrections        integer          NOT NULL,
            slip_days          integer          NOT NULL,
            last_progress_on   date,
            PRIMARY KEY (user_id, goal_id)
        )""",
        """CREATE TABLE rm_grants (
            user_id    bigint NOT NULL,
            grantee    text   NOT NULL,
            scopes     text[] NOT NULL,
            granted_on date   NOT NULL,
            expires_on date,
            PRIMARY KEY (user_id, grantee)
        )""",
        # ``grants_to`` is the one read across users (a coach's people), so it
        # cannot lead with user_id. Under Citus, rm_grants is distributed by
        # user_id like every rm_* table and this index exists on each shard:
        # the query fans out to every shard (fine for a rare, small read), or,
        # if that ever costs too much, the grantee index becomes a reference
        # table written in the same transaction as the grant rows.
        "CREATE INDEX rm_grants_by_grantee ON rm_grants (grantee, user_id)",
        "CREATE TABLE rm_member_facts (user_id bigint PRIMARY KEY, body bytea NOT NULL)",
    ),
    # 3: organisations, as in SQLite.
    (
        "CREATE TABLE orgs (org_id text PRIMARY KEY, created_ms bigint NOT NULL)",
        """CREATE TABLE org_members (
            org_id   text    NOT NULL,
            user_id  bigint  NOT NULL,
            member   boolean NOT NULL,
            admin    boolean NOT NULL,
            added_ms bigint  NOT NULL,
            PRIMARY KEY (org_id, user_id)
        )""",
        "CREATE INDEX org_members_by_user ON org_members (user_id, org_id)",
    ),
    # 4: as in SQLite.
    ("ALTER TABLE devices ADD COLUMN token_expires_ms bigint",),
    # 5: as in SQLite.
    ("ALTER TABLE rejections ADD COLUMN event_id bytea",),
)
