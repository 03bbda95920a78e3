"""Fault injection against real components: the sync rules hold when things break.

1. A ``careerlog-server serve`` process is SIGKILLed in the middle of a large
   push and started again on the same store (SQLite, then PostgreSQL): no
   acknowledged event is lost, none is stored twice, the outbox drains.
2. A proxy cuts the connections of three devices hundreds of times while
   they record and sync concurrently: afterwards every home and the server
   hold the same events and every home the same read model.
3. Bad input at the socket gets its documented error and close code, stores
   nothing, and never disturbs another device pushing at the same time.

Randomness is seeded; timeouts are generous but bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from websockets.exceptions import InvalidStatus

from careerlog.client.commands import log_activity, record_progress, set_goal
from careerlog.client.enrollment import enroll
from careerlog.client.store import LocalStore
from careerlog.client.sync import SyncEngine, SyncError
from careerlog.server.settings import Settings
from careerlog.server.store import open_store
from careerlog.server.store.base import Stored
from careerlog.shared import hlc
from careerlog.shared.codec import encode_event
from careerlog.shared.events import ActivityLogged
from careerlog.shared.ids import record_id, uuid7
from careerlog.shared.projections import encode_state
from careerlog.shared.protocol import (
    DEFAULT_LIMITS,
    Ack,
    Error,
    Events,
    Hello,
    Ping,
    Pong,
    Push,
    PushResult,
    Welcome,
    codes,
    encode_frame,
)
from tests.e2e.faults_proxy import CuttingProxy
from tests.e2e.faults_server import ServerProcess, admin
from tests.server.conftest import LiveServer, expire_token, running
from tests.server.wire import Peer, activity, now_ms

TIMEOUT_S = 10.0


# --- shared checks ---------------------------------------------------------------------


def assert_log_is_sound(stored: list[Stored], *, dseqs_gapless: bool = True) -> None:
    """Per-user ``pos`` gapless from 1; each (device, dseq) and each body once.

    ``dseqs_gapless``: no event was rejected, so each device's dseqs run 1..n.
    """
    assert [s.pos for s in stored] == list(range(1, len(stored) + 1)), "pos has a gap"
    keys = [(s.device, s.dseq) for s in stored]
    assert len(set(keys)) == len(keys), "an event is stored twice"
    assert len({s.body for s in stored}) == len(stored), "an event body is stored twice"
    by_device: dict[str, list[int]] = {}
    for s in stored:
        by_device.setdefault(s.device, []).append(s.dseq)
    for device, dseqs in by_device.items():
        assert not dseqs_gapless or sorted(dseqs) == list(range(1, len(dseqs) + 1)), (
            f"{device} has a dseq gap"
        )


def own_positions(home: Path, device: str) -> dict[int, int]:
    """dseq -> pos of the device's own events it has marked acknowledged (read on the side)."""
    with contextlib.closing(
        sqlite3.connect(f"file:{home / 'careerlog.db'}?mode=ro", uri=True)
    ) as db:
        rows = db.execute(
            "SELECT dseq, pos FROM events WHERE device = ? AND pos IS NOT NULL", (device,)
        ).fetchall()
    return {int(dseq): int(pos) for dseq, pos in rows}


def home_bodies(home: Path) -> set[bytes]:
    with contextlib.closing(
        sqlite3.connect(f"file:{home / 'careerlog.db'}?mode=ro", uri=True)
    ) as db:
        return {bytes(row[0]) for row in db.execute("SELECT body FROM events")}


def offline_events(device: str, count: int, seed: int) -> list[ActivityLogged]:
    rng = random.Random(seed)
    start = now_ms() - 60_000
    return [
        ActivityLogged(
            id=uuid7(start + dseq, rng.randbytes(10)),
            device=device,
            dseq=dseq,
            hlc=hlc.pack(start + dseq, 0),
            occurred_at=datetime.fromtimestamp((start + dseq) / 1000, UTC),
            activity_id=record_id(rng.randbytes(8)),
            text=f"offline work item {dseq} " + "x" * rng.randint(0, 200),
        )
        for dseq in range(1, count + 1)
    ]


# --- 1. SIGKILL in the middle of a push --------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'server.db'}"
    return str(request.getfixturevalue("database"))  # fails, not skips, under CI=true


PUSHED = 5_000


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11])
async def test_a_server_killed_mid_push_loses_and_duplicates_nothing(
    server_db: str, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    enrollment_token = admin(server_db, "user", "add", "ada")
    node = ServerProcess(server_db, tmp_path)
    home = tmp_path / "laptop"
    store = await LocalStore.open(home)
    try:
        node.start()
        await node.wait_ready()
        device = store.device
        enrolled = await asyncio.to_thread(
            enroll, node.http_url, enrollment_token, device, "laptop"
        )
        await store.import_events(offline_events(device, PUSHED, seed))
        assert await store.pending_count() == PUSHED

        # Batches of 100, not the server's 1,000: the push takes 50 round trips,
        # so the kill lands inside it however fast this machine commits.
        engine = SyncEngine(
            store,
            node.http_url,
            enrolled.token,
            random_float=lambda: 0.2 * rng.random(),
            max_batch=100,
        )
        first = asyncio.create_task(engine.run_once())
        # Kill at a random point of the push: once the device holds this many acks.
        kill_at = rng.randint(PUSHED // 20, PUSHED - PUSHED // 10)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while len(own_positions(home, device)) < kill_at:
            assert not first.done(), "the sync ended before the kill"
            assert loop.time() < deadline, "the push made no progress"
            await asyncio.sleep(0.002)
        node.kill()
        # The engine notices, retries against a dead server, and gives up.
        with pytest.raises(SyncError) as failed:
            await asyncio.wait_for(first, 30)
        assert not failed.value.fatal
        acked = own_positions(home, device)
        assert kill_at <= len(acked) < PUSHED, "the kill did not land in the push"

        # With the server down: every acknowledged event is durably on the server.
        async with await open_store(server_db) as server_store:
            user = await server_store.user_by_name("ada")
            assert user is not None
            stored = await server_store.read(user, 0, 2 * PUSHED)
            assert_log_is_sound(stored)
            on_server = {s.dseq: s.pos for s in stored if s.device == device}
            lost = {d: p for d, p in acked.items() if on_server.get(d) != p}
            assert not lost, f"acknowledged events lost or moved: {sorted(lost)[:10]}"

            # Restart on the same store; the client retries and drains its outbox.
            node.start()
            await node.wait_ready()
            retry = SyncEngine(
                store, node.http_url, enrolled.token, random_float=lambda: 0.2 * rng.random()
            )
            report = await asyncio.wait_for(retry.run_once(), 60)
            assert report.rejected == 0
            assert await store.pending_count() == 0
            stored = await server_store.read(user, 0, 2 * PUSHED)
            assert_log_is_sound(stored)
            assert len(stored) == PUSHED
            assert {s.body for s in stored} == {encode_event(e) for e in await store.events()}
            final = own_positions(home, device)
            assert final == {s.dseq: s.pos for s in stored}
            assert all(final[d] == p for d, p in acked.items())
            assert report.cursor == PUSHED
    finally:
        await store.close()
        node.stop()


# --- 2. connections cut hundreds of times during concurrent edits ------------------------

CHAOS_S = 12.0
MIN_CUTS = 200


async def record_randomly(
    store: LocalStore, rng: random.Random, stop: asyncio.Event, tag: str
) -> int:
    """Record activities and progress on random goals (its own or synced ones) until stopped."""
    today = datetime.now(UTC).date()
    await store.record(
        lambda s, env: set_goal(
            s, env, title=f"Goal of {tag}", due_on=today + timedelta(days=90), target=10.0
        )
    )
    recorded = 1
    while not stop.is_set():
        roll = rng.random()
        goals = sorted(g for g, goal in store.state.goals.items() if goal.status != "paused")
        if roll < 0.35 and goals:
            goal = rng.choice(goals)
            value = round(rng.uniform(0, 10), 2)
            await store.record(
                lambda s, env, g=goal, v=value: record_progress(s, env, goal=g, value=v)
            )
        else:
            text = f"{tag} did thing {recorded} ({rng.randrange(10**6)})"
            linked = rng.choice(goals) if goals and roll < 0.6 else None
            await store.record(
                lambda s, env, t=text, g=linked: log_activity(s, env, text=t, goal=g)
            )
        recorded += 1
        await asyncio.sleep(rng.uniform(0.005, 0.06))
    return recorded


def shrunk_jitter(rng: random.Random) -> Callable[[], float]:
    """Full jitter scaled to 3 %: delays short enough to reconnect hundreds of times."""
    return lambda: 0.03 * rng.random()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2024])
async def test_hundreds_of_cut_connections_during_concurrent_edits_converge(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'server.db'}", port=0, node="chaos")
    async with running(settings) as server:
        user = await server.user("ada")
        port = int(server.http_url.rsplit(":", 1)[1])
        proxy = CuttingProxy(port, random.Random(rng.random()), max_bytes=6_000)
        proxy_url = f"http://127.0.0.1:{await proxy.start()}"
        stores: list[LocalStore] = []
        try:
            for name in ("laptop", "phone", "tablet"):
                stores.append(await LocalStore.open(tmp_path / name))
            tokens = [await server.device(user, s.device) for s in stores]
            # Backoff delays shrunk (the engine's own jitter knob) so that a
            # dozen seconds hold hundreds of reconnects.
            engines = [
                SyncEngine(s, proxy_url, t, random_float=shrunk_jitter(random.Random(rng.random())))
                for s, t in zip(stores, tokens, strict=True)
            ]
            watchers = [asyncio.create_task(e.watch()) for e in engines]
            stop = asyncio.Event()
            recorders = [
                asyncio.create_task(record_randomly(s, random.Random(rng.random()), stop, name))
                for s, name in zip(stores, ("laptop", "phone", "tablet"), strict=True)
            ]
            loop = asyncio.get_running_loop()
            until = loop.time() + CHAOS_S
            while loop.time() < until:
                for task in (*watchers, *recorders):
                    if task.done():
                        task.result()  # a watcher or recorder died: show why
                        raise AssertionError(f"{task} ended early")
                await asyncio.sleep(0.1)
            stop.set()
            recorded = sum(await asyncio.gather(*recorders))
            proxy.cutting = False
            for engine in engines:
                engine.stop()
            await asyncio.wait_for(asyncio.gather(*watchers), TIMEOUT_S)
            assert proxy.cuts >= MIN_CUTS, f"only {proxy.cuts} cuts"

            # Calm: each device syncs once, then once more to pull what the others pushed.
            for _round in range(2):
                for store, token in zip(stores, tokens, strict=True):
                    calm = SyncEngine(store, proxy_url, token, random_float=rng.random)
                    await asyncio.wait_for(calm.run_once(), 30)

            stored = await server.store.read(user, 0, 100_000)
            assert_log_is_sound(stored)
            assert len(stored) == recorded
            server_bodies = {s.body for s in stored}
            for store in stores:
                assert await store.pending_count() == 0
                assert await store.rejected() == []
                assert home_bodies(store.home) == server_bodies, store.device
                own = own_positions(store.home, store.device)
                assert own == {s.dseq: s.pos for s in stored if s.device == store.device}
            states = [encode_state(s.state) for s in stores]
            assert states[0] == states[1] == states[2]
            # And a fresh fold from disk agrees with the state kept up incrementally.
            fresh = await LocalStore.open(stores[0].home, create=False)
            try:
                assert encode_state(fresh.state) == states[0]
            finally:
                await fresh.close()
        finally:
            for store in stores:
                await store.close()
            await proxy.close()


# --- 3. bad input at the socket, with an innocent device pushing alongside ---------------


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveServer]:
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'server.db'}", port=0, node="bad-input")
    async with running(settings) as server:
        yield server


class Bystander:
    """A device of the same user pushing one event every ``every_s`` on its own connection.

    Slow enough to stay far below the rate limit (a push and an ack per round).
    """

    def __init__(self, peer: Peer, every_s: float = 0.08) -> None:
        self.peer = peer
        self.every_s = every_s
        self.positions: list[int] = []
        self.bodies: list[bytes] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        dseq = 0
        while not self._stop.is_set():
            dseq += 1
            body = activity(self.peer.device, dseq, f"innocent push {dseq}")
            await self.peer.push([body])
            [result] = (await self.peer.answer(PushResult)).results
            assert result.status == "accepted", result
            assert result.pos is not None
            self.positions.append(result.pos)
            self.bodies.append(body)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.every_s)

    async def finish(self) -> None:
        """Stop pushing; prove the connection is alive; return what it stored."""
        assert self._task is not None
        await asyncio.sleep(3 * self.every_s)  # keep pushing after the offence, too
        assert not self._task.done() or self._task.exception() is None
        self._stop.set()
        await asyncio.wait_for(self._task, TIMEOUT_S)
        assert len(self.positions) >= 3, "the bystander barely pushed"
        await self.peer.socket.send(encode_frame(Ping(nonce=4242)))
        assert await self.peer.answer(Pong) == Pong(nonce=4242)
        await self.peer.close()


async def expect_error(peer: Peer, code: str) -> None:
    """``Error(code)`` (after any pongs, pages or results), then the code's close code."""
    while True:
        message = await peer.receive()
        if isinstance(message, Error):
            break
        assert isinstance(message, Pong | Events | PushResult | Welcome), message
    assert message.code == code, message
    close = await peer.closed()
    assert close[0] == codes.close_code(code), close


async def send_all(peer: Peer, frames: list[bytes | str]) -> None:
    """Send frames as fast as possible; the server may hang up halfway."""
    with contextlib.suppress(Exception):
        for frame in frames:
            await peer.socket.send(frame)


def event_map(device: str, dseq: int, /, **changes: object) -> bytes:
    """A valid ActivityLogged event, as a map, with some fields changed or removed."""
    fields = msgspec.msgpack.decode(activity(device, dseq))
    for key, value in changes.items():
        if value is ...:
            del fields[key]
        else:
            fields[key] = value
    return msgspec.msgpack.encode(fields)


def push_frame(events: list[bytes], batch: int = 1) -> bytes:
    return encode_frame(Push(batch=batch, events=[msgspec.Raw(e) for e in events]))


def hello_frame(device: str, protocol: int = 1) -> bytes:
    return encode_frame(
        Hello(protocol=protocol, device=device, cursor=0, epoch=None, client_time_ms=now_ms())
    )


#: (frames sent after the upgrade, whether a valid Hello goes first, the expected error).
OFFENCES: dict[str, tuple[Callable[[], list[bytes | str]], bool, str]] = {
    "garbage-first": (lambda: [b"\x93\xc1\xff\x00"], False, codes.MALFORMED_FRAME),
    "text-first": (lambda: ['{"t": "hello"}'], False, codes.MALFORMED_FRAME),
    "empty-frame": (lambda: [b""], True, codes.MALFORMED_FRAME),
    "truncated-push": (
        lambda: [push_frame([activity("tablet", 1), activity("tablet", 2)])[:-30]],
        True,
        codes.MALFORMED_FRAME,
    ),
    "hello-missing-device": (
        lambda: [msgspec.msgpack.encode({"t": "hello", "protocol": 1, "cursor": 0})],
        False,
        codes.MALFORMED_FRAME,
    ),
    "push-wrong-field-type": (
        lambda: [msgspec.msgpack.encode({"t": "push", "batch": "one", "events": []})],
        True,
        codes.MALFORMED_FRAME,
    ),
    "push-event-without-envelope": (
        # One unreadable event spoils the frame: the valid one beside it is not stored.
        lambda: [push_frame([activity("tablet", 1), event_map("tablet", 2, dseq=..., hlc=...)])],
        True,
        codes.MALFORMED_FRAME,
    ),
    "push-event-not-a-map": (
        lambda: [push_frame([msgspec.msgpack.encode([1, 2, 3])])],
        True,
        codes.MALFORMED_FRAME,
    ),
    "oversized-first": (
        lambda: [b"\x00" * (DEFAULT_LIMITS.max_frame_bytes + 1)],
        False,
        codes.FRAME_TOO_LARGE,
    ),
    "oversized-push": (
        lambda: [
            push_frame([activity("tablet", 1), msgspec.msgpack.encode({"pad": "x" * (1 << 20)})])
        ],
        True,
        codes.FRAME_TOO_LARGE,
    ),
    "batch-too-large": (
        lambda: [
            push_frame([activity("tablet", d) for d in range(1, DEFAULT_LIMITS.max_batch + 2)])
        ],
        True,
        codes.BATCH_TOO_LARGE,
    ),
    "server-message-from-client": (
        lambda: [msgspec.msgpack.encode({"t": "welcome", "protocol": 1})],
        True,
        codes.UNKNOWN_MESSAGE,
    ),
    "unknown-type-first": (
        lambda: [msgspec.msgpack.encode({"t": "subscribe", "user": 1})],
        False,
        codes.UNKNOWN_MESSAGE,
    ),
    "push-before-hello": (
        lambda: [push_frame([activity("tablet", 1)])],
        False,
        codes.UNEXPECTED_MESSAGE,
    ),
    "second-hello": (lambda: [hello_frame("tablet")], True, codes.UNEXPECTED_MESSAGE),
    "ack-of-another-pos": (
        lambda: [encode_frame(Ack(cursor=10**9))],
        True,
        codes.UNEXPECTED_MESSAGE,
    ),
    "protocol-0": (lambda: [hello_frame("tablet", protocol=0)], False, codes.UNSUPPORTED_PROTOCOL),
    "protocol-2": (lambda: [hello_frame("tablet", protocol=2)], False, codes.UNSUPPORTED_PROTOCOL),
    "hello-as-the-bystander": (
        # The tablet's token claiming the laptop: refused, and the laptop's live
        # connection is not replaced by the impostor.
        lambda: [hello_frame("laptop")],
        False,
        codes.WRONG_DEVICE,
    ),
    "flood": (
        lambda: [encode_frame(Ping(nonce=n)) for n in range(2 * DEFAULT_LIMITS.frame_burst)],
        True,
        codes.RATE_LIMITED,
    ),
}


@pytest.mark.parametrize("offence", list(OFFENCES))
async def test_bad_input_gets_its_error_stores_nothing_and_disturbs_nobody(
    live: LiveServer, offence: str
) -> None:
    frames, hello_first, code = OFFENCES[offence]
    user = await live.user("ada")
    laptop_token = await live.device(user, "laptop")
    tablet_token = await live.device(user, "tablet")
    bystander = Bystander(await Peer.open(live.ws_url, laptop_token, "laptop"))
    bystander.start()
    await asyncio.sleep(0.2)

    offender = await Peer.connect(live.ws_url, tablet_token, "tablet")
    if hello_first:
        await offender.hello()
        await offender.expect(Welcome)
    await send_all(offender, frames())
    await expect_error(offender, code)

    await bystander.finish()
    stored = await live.store.read(user, 0, 1000)
    assert_log_is_sound(stored)
    assert [s.body for s in stored] == bystander.bodies
    assert [s.pos for s in stored] == bystander.positions
    assert await live.store.device_head(user, "tablet") == 0
    # The offender may come back with a proper session and push from the start.
    back = await Peer.open(live.ws_url, tablet_token, "tablet")
    assert back.welcome is not None
    assert back.welcome.device_head == 0
    await back.push([activity("tablet", 1)])
    assert (await back.answer(PushResult)).results[0].status == "accepted"
    await back.close()


async def test_bad_events_are_rejected_one_by_one_and_fill_only_the_pushers_slots(
    live: LiveServer,
) -> None:
    ada = await live.user("ada")
    bob = await live.user("bob")
    bystander = Bystander(await Peer.open(live.ws_url, await live.device(ada, "laptop"), "laptop"))
    bystander.start()
    tablet = await Peer.open(live.ws_url, await live.device(ada, "tablet"), "tablet")
    # Bob also has a device called "laptop": ids are scoped by user.
    bobs_laptop = await Peer.open(live.ws_url, await live.device(bob, "laptop"), "laptop")
    await asyncio.sleep(0.3)

    # Events claiming Ada's laptop (at dseqs it already holds: they must not
    # come back "duplicate") from her own tablet fill the tablet's slots 1, 2.
    bad = [
        event_map("laptop", 1),
        event_map("laptop", 2),
        event_map("tablet", 3, text="x" * (DEFAULT_LIMITS.max_event_bytes + 1)),
        event_map("tablet", 4, type="Teleported"),
        event_map("tablet", 5, v=99),
        event_map("tablet", 6, text=12345),
        event_map("tablet", 7, hlc=hlc.pack(now_ms() + 3_600_000, 0)),
    ]
    expected = [
        codes.WRONG_DEVICE,
        codes.WRONG_DEVICE,
        codes.EVENT_TOO_LARGE,
        codes.UNKNOWN_EVENT_TYPE,
        codes.UNSUPPORTED_EVENT_VERSION,
        codes.INVALID_EVENT,
        codes.CLOCK_SKEW,
    ]
    await tablet.push(bad)
    results = (await tablet.answer(PushResult)).results
    assert [(r.status, r.code, r.pos) for r in results] == [("rejected", c, None) for c in expected]
    assert all(r.reason for r in results)
    # The same again: the same answers (not stored, not "duplicate").
    await tablet.push(bad)
    again = (await tablet.answer(PushResult)).results
    assert [(r.status, r.code) for r in again] == [("rejected", c) for c in expected]
    # The tablet's queue is not wedged: its next event is accepted.
    await tablet.push([activity("tablet", 8)])
    [good] = (await tablet.answer(PushResult)).results
    assert good.status == "accepted"

    # Bob's "laptop" writes into Bob's log only, at dseqs Ada's laptop also uses.
    await bobs_laptop.push([activity("laptop", d) for d in range(1, 4)])
    assert [r.status for r in (await bobs_laptop.answer(PushResult)).results] == ["accepted"] * 3
    # And Bob's device claiming Ada's tablet is refused.
    await bobs_laptop.push([event_map("tablet", 4)])
    [forged] = (await bobs_laptop.answer(PushResult)).results
    assert (forged.status, forged.code) == ("rejected", codes.WRONG_DEVICE)

    await bystander.finish()
    assert await live.store.device_head(bob, "laptop") == 4  # the forged event took slot 4
    stored = await live.store.read(ada, 0, 1000)
    assert_log_is_sound(stored, dseqs_gapless=False)  # the rejected ones took tablet's 1-7
    assert [s.body for s in stored if s.device == "laptop"] == bystander.bodies
    assert [(s.device, s.dseq) for s in stored if s.device != "laptop"] == [("tablet", 8)]
    assert await live.store.device_head(ada, "laptop") == len(bystander.bodies)
    assert [s.dseq for s in await live.store.read(bob, 0, 1000)] == [1, 2, 3]
    await tablet.close()
    await bobs_laptop.close()


async def test_bad_tokens_fail_the_upgrade_and_a_revoked_device_stops_mid_push(
    live: LiveServer, tmp_path: Path
) -> None:
    ada = await live.user("ada")
    bob = await live.user("bob")
    laptop_token = await live.device(ada, "laptop")
    bystander = Bystander(await Peer.open(live.ws_url, laptop_token, "laptop"))
    bystander.start()
    bobs_token = await live.device(bob, "desktop")
    prefix = laptop_token.split("_", 1)[0]
    forged = [
        f"{prefix}_{os.urandom(32).hex()}",  # well formed, never issued
        laptop_token[:-1],  # truncated
        laptop_token.upper(),
        "",
    ]
    for token in forged:
        with pytest.raises(InvalidStatus) as refused:
            await Peer.connect(live.ws_url, token, "laptop")
        assert refused.value.response.status_code == 401, token
    # A deleted user's token no longer opens anything.
    assert await live.store.delete_user(bob)
    with pytest.raises(InvalidStatus) as refused:
        await Peer.connect(live.ws_url, bobs_token, "desktop")
    assert refused.value.response.status_code == 401
    # An expired token is refused with its own code, the bystander unaffected.
    phone_token = await live.device(ada, "phone")
    expire_token(live.settings, ada, "phone")
    with pytest.raises(InvalidStatus) as refused:
        await Peer.connect(live.ws_url, phone_token, "phone")
    assert refused.value.response.status_code == 401
    assert msgspec.json.decode(refused.value.response.body)["code"] == codes.TOKEN_EXPIRED

    # A device revoked while it pushes is closed with `revoked` (4009) ...
    home = tmp_path / "tablet-home"
    store = await LocalStore.open(home)
    try:
        tablet_token = await live.device(ada, store.device)
        tablet = await Peer.open(live.ws_url, tablet_token, store.device)
        await tablet.push([activity(store.device, 1)])
        await tablet.answer(PushResult)
        import httpx

        async with httpx.AsyncClient(base_url=live.http_url) as http:
            response = await http.delete(
                f"/v1/devices/{store.device}",
                headers={"Authorization": f"Bearer {laptop_token}"},
            )
        assert response.status_code == 204
        await send_all(tablet, [push_frame([activity(store.device, 2)])])
        await expect_error(tablet, codes.REVOKED)
        # ... and its sync engine stops for good, keeping its outbox.
        for n in range(3):
            await store.record(lambda s, env, n=n: log_activity(s, env, text=f"after revoke {n}"))
        with pytest.raises(SyncError) as stopped:
            await SyncEngine(store, live.http_url, tablet_token).run_once()
        assert stopped.value.fatal
        assert stopped.value.code == codes.REVOKED
        assert await store.pending_count() == 3
    finally:
        await store.close()

    await bystander.finish()
    stored = await live.store.read(ada, 0, 1000)
    assert_log_is_sound(stored)
    tablet_dseqs = [s.dseq for s in stored if s.device != "laptop"]
    assert tablet_dseqs in ([1], [1, 2])  # 2 only if it was stored before the revocation
    assert [s.body for s in stored if s.device == "laptop"] == bystander.bodies
