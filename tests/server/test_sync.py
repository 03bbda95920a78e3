"""The sync websocket end to end: a real server, real sockets, raw protocol frames."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import msgspec
import pytest
from websockets.exceptions import InvalidStatus

from careerlog.server.settings import Settings
from careerlog.shared.protocol import (
    DEFAULT_LIMITS,
    Ack,
    Error,
    Events,
    Gap,
    Hello,
    Ping,
    PushResult,
    Result,
    Welcome,
    codes,
)
from tests.server.conftest import LiveServer, expire_token, running
from tests.server.wire import Peer, activity, now_ms


async def two_devices(server: LiveServer, name: str = "ada") -> tuple[int, Peer, Peer]:
    user = await server.user(name)
    laptop = await Peer.open(server.ws_url, await server.device(user, "laptop"), "laptop")
    phone = await Peer.open(server.ws_url, await server.device(user, "phone"), "phone")
    return user, laptop, phone


async def expect_error(peer: Peer, code: str) -> None:
    """The server sends ``Error(code)`` and closes with the code's close code."""
    error = await peer.expect(Error)
    assert error.code == code, error
    close_code, _ = await peer.closed()
    assert close_code == codes.close_code(code)


async def assert_silent(peer: Peer, seconds: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(peer.socket.recv(), seconds)


async def test_a_push_is_acknowledged_and_reaches_the_other_device_live(
    server: LiveServer,
) -> None:
    _, laptop, phone = await two_devices(server)
    assert laptop.welcome is not None
    assert laptop.welcome.head == 0
    assert laptop.welcome.device_head == 0
    first = activity("laptop", 1, "called a recruiter")

    await laptop.push([first])
    assert (await laptop.expect(PushResult)).results == [Result(status="accepted", pos=1)]

    page = await phone.expect(Events)
    assert [item.pos for item in page.items] == [1]
    assert bytes(page.items[0].event) == first  # the device's own bytes, unchanged
    assert page.head == 1
    await phone.send(Ack(cursor=1))
    # The pusher's own events come back too: that is how it learns every pos.
    assert [item.pos for item in (await laptop.expect(Events)).items] == [1]
    await laptop.send(Ack(cursor=1))

    # Retrying is safe: the same event again is a duplicate with the same pos.
    await laptop.push([first])
    assert (await laptop.expect(PushResult)).results == [Result(status="duplicate", pos=1)]
    # Skipping dseq 2 would leave a hole: refused whole, resend from 2.
    await laptop.push([activity("laptop", 3)], batch=7)
    assert await laptop.expect(Gap) == Gap(batch=7, device="laptop", expected=2)
    await laptop.push([activity("laptop", 2), activity("laptop", 3)])
    results = (await laptop.expect(PushResult)).results
    assert [(r.status, r.pos) for r in results] == [("accepted", 2), ("accepted", 3)]
    assert [item.pos for item in (await phone.expect(Events)).items] == [2, 3]
    assert [item.pos for item in (await laptop.expect(Events)).items] == [2, 3]
    await laptop.close()
    await phone.close()


async def test_a_pusher_that_asks_is_not_sent_back_what_it_pushed(server: LiveServer) -> None:
    user = await server.user("ada")
    token = await server.device(user, "laptop")
    laptop = await Peer.open(server.ws_url, token, "laptop", skip_acknowledged=True)
    phone = await Peer.open(server.ws_url, await server.device(user, "phone"), "phone")
    await laptop.push([activity("laptop", 1), activity("laptop", 2)])
    assert [r.pos for r in (await laptop.expect(PushResult)).results] == [1, 2]
    # Only the cursor's move: none of its own bytes come back.
    assert await laptop.expect(Events) == Events(items=[], head=2, upto=2)
    await laptop.send(Ack(cursor=2))
    assert [item.pos for item in (await phone.expect(Events)).items] == [1, 2]
    await phone.send(Ack(cursor=2))
    # Another device's event between the laptop's is sent; the laptop's are not.
    phones = activity("phone", 1)
    await phone.push([phones])
    assert (await phone.expect(PushResult)).results == [Result(status="accepted", pos=3)]
    page = await laptop.expect(Events)
    assert [bytes(item.event) for item in page.items] == [phones]
    assert page.upto == 0  # its items say where it ends
    await laptop.send(Ack(cursor=3))
    await laptop.push([activity("laptop", 3)])
    assert (await laptop.expect(PushResult)).results == [Result(status="accepted", pos=4)]
    assert await laptop.expect(Events) == Events(items=[], head=4, upto=4)
    await laptop.send(Ack(cursor=4))
    await assert_silent(laptop)
    # On a new connection, events pushed on the old one come back like any other.
    await laptop.close()
    assert laptop.welcome is not None
    epoch = laptop.welcome.epoch
    laptop = await Peer.open(server.ws_url, token, "laptop", 2, epoch, skip_acknowledged=True)
    assert [item.pos for item in (await laptop.expect(Events)).items] == [3, 4]
    await laptop.close()
    await phone.close()


async def test_a_device_catches_up_in_acked_pages(settings: Settings) -> None:
    limits = msgspec.structs.replace(DEFAULT_LIMITS, page_size=2)
    async with running(dataclasses.replace(settings, limits=limits)) as server:
        user = await server.user("ada")
        laptop = await Peer.open(server.ws_url, await server.device(user, "laptop"), "laptop")
        await laptop.push([activity("laptop", dseq) for dseq in range(1, 6)])
        assert len((await laptop.expect(PushResult)).results) == 5
        await laptop.close()

        phone_token = await server.device(user, "phone")
        phone = await Peer.open(server.ws_url, phone_token, "phone")
        seen: list[int] = []
        while len(seen) < 5:
            page = await phone.expect(Events)
            assert len(page.items) <= 2
            seen += [item.pos for item in page.items]
            # No next page before this one is acked: the server buffers nothing.
            await assert_silent(phone, 0.1)
            await phone.send(Ack(cursor=seen[-1]))
        assert seen == [1, 2, 3, 4, 5]
        await assert_silent(phone, 0.1)

        # Reconnecting from the acked cursor resends nothing already held.
        assert phone.welcome is not None
        epoch = phone.welcome.epoch
        await phone.close()
        resumed = await Peer.open(server.ws_url, phone_token, "phone", cursor=5, epoch=epoch)
        await assert_silent(resumed, 0.2)
        await resumed.close()


async def test_a_window_of_pages_is_sent_ahead_of_the_ack(settings: Settings) -> None:
    limits = msgspec.structs.replace(DEFAULT_LIMITS, page_size=2)
    async with running(dataclasses.replace(settings, limits=limits)) as server:
        user = await server.user("ada")
        laptop = await Peer.open(server.ws_url, await server.device(user, "laptop"), "laptop")
        await laptop.push([activity("laptop", dseq) for dseq in range(1, 8)])
        assert len((await laptop.expect(PushResult)).results) == 7
        await laptop.close()

        phone = await Peer.connect(server.ws_url, await server.device(user, "phone"), "phone")
        await phone.send(
            Hello(protocol=1, device="phone", cursor=0, client_time_ms=now_ms(), window=2)
        )
        welcome = await phone.expect(Welcome)
        assert welcome.window == 2
        assert (welcome.events_per_second, welcome.event_burst) == (
            limits.events_per_second,
            limits.event_burst,
        )
        # Two pages arrive before any Ack, then nothing more: the window is full.
        first, second = await phone.expect(Events), await phone.expect(Events)
        assert [i.pos for i in first.items + second.items] == [1, 2, 3, 4]
        await assert_silent(phone, 0.1)
        await phone.send(Ack(cursor=2))
        assert [i.pos for i in (await phone.expect(Events)).items] == [5, 6]
        await assert_silent(phone, 0.1)
        await phone.send(Ack(cursor=6))  # cumulative: pages 3-4 and 5-6
        assert [i.pos for i in (await phone.expect(Events)).items] == [7]
        await phone.send(Ack(cursor=7))
        await assert_silent(phone, 0.1)
        await phone.close()


async def test_pushing_more_events_than_the_budget_is_rate_limited(settings: Settings) -> None:
    limits = msgspec.structs.replace(
        DEFAULT_LIMITS, max_batch=5, events_per_second=1.0, event_burst=8
    )
    async with running(dataclasses.replace(settings, limits=limits)) as server:
        user = await server.user("ada")
        laptop = await Peer.open(server.ws_url, await server.device(user, "laptop"), "laptop")
        await laptop.push([activity("laptop", dseq) for dseq in range(1, 6)])
        assert len((await laptop.expect(PushResult)).results) == 5
        await laptop.push([activity("laptop", dseq) for dseq in range(6, 11)])
        message = await laptop.receive()
        if isinstance(message, Events):  # its own events, sent back before the push
            message = await laptop.receive()
        assert isinstance(message, Error)
        assert message.code == codes.RATE_LIMITED
        assert await server.store.head(user) == 5  # nothing of the refused push was stored


async def test_users_never_see_or_write_each_others_logs(server: LiveServer) -> None:
    ada, laptop, _phone = await two_devices(server, "ada")
    bob = await server.user("bob")
    bob_token = await server.device(bob, "desktop")
    desktop = await Peer.open(server.ws_url, bob_token, "desktop")

    # Events claiming Ada's device are refused one by one; nothing reaches Ada.
    await desktop.push([activity("laptop", 1), activity("laptop", 2)])
    results = (await desktop.expect(PushResult)).results
    assert [r.code for r in results] == [codes.WRONG_DEVICE, codes.WRONG_DEVICE]
    assert all(r.pos is None for r in results)
    await assert_silent(laptop)
    assert await server.store.head(ada) == 0
    assert await server.store.head(bob) == 0

    # Ada's events never reach Bob.
    await laptop.push([activity("laptop", 1)])
    await laptop.expect(PushResult)
    await assert_silent(desktop)

    # Bob's token cannot open a session as Ada's device.
    impostor = await Peer.connect(server.ws_url, bob_token, "laptop")
    await impostor.hello()
    await expect_error(impostor, codes.WRONG_DEVICE)
    await desktop.close()
    await laptop.close()


async def refusal(server: LiveServer, token: str | None) -> tuple[int, str]:
    """The HTTP status and the body's ``code`` of a refused upgrade."""
    with pytest.raises(InvalidStatus) as refused:
        await Peer.connect(server.ws_url, token, "laptop")
    response = refused.value.response
    return response.status_code, msgspec.json.decode(response.body)["code"]


async def test_missing_forged_expired_and_revoked_tokens_fail_the_upgrade(
    server: LiveServer,
) -> None:
    user = await server.user("ada")
    token = await server.device(user, "laptop")
    assert await refusal(server, None) == (401, "missing_token")
    for bad in ("cld_forged", token + "x"):
        assert await refusal(server, bad) == (401, "unknown_token")

    expire_token(server.settings, user, "laptop")
    assert await refusal(server, token) == (401, codes.TOKEN_EXPIRED)
    await server.store.revoke_device(user, "laptop", now_ms())
    assert await refusal(server, token) == (401, codes.REVOKED)


async def test_revoking_a_device_closes_its_live_socket(server: LiveServer) -> None:
    user = await server.user("ada")
    laptop_token = await server.device(user, "laptop")
    phone = await Peer.open(server.ws_url, await server.device(user, "phone"), "phone")
    laptop = await Peer.open(server.ws_url, laptop_token, "laptop")

    async with httpx.AsyncClient(base_url=server.http_url) as http:
        response = await http.delete(
            "/v1/devices/phone", headers={"Authorization": f"Bearer {laptop_token}"}
        )
    assert response.status_code == 204
    await expect_error(phone, codes.REVOKED)
    # The revoker's own connection carries on.
    await laptop.push([activity("laptop", 1)])
    await laptop.expect(PushResult)
    await laptop.close()


async def test_a_revocation_from_another_process_closes_the_socket_too(
    settings: Settings,
) -> None:
    # The admin CLI on the same SQLite file cannot wake this process: the
    # connection's periodic token check is what closes the socket.
    async with running(dataclasses.replace(settings, revocation_check_ms=200)) as server:
        user = await server.user("ada")
        laptop = await Peer.open(server.ws_url, await server.device(user, "laptop"), "laptop")
        await server.store.revoke_device(user, "laptop", now_ms())
        await expect_error(laptop, codes.REVOKED)


async def test_a_token_that_expires_closes_its_live_socket(settings: Settings) -> None:
    async with running(dataclasses.replace(settings, revocation_check_ms=200)) as server:
        user = await server.user("ada")
        laptop = await Peer.open(server.ws_url, await server.device(user, "laptop"), "laptop")
        phone = await Peer.open(server.ws_url, await server.device(user, "phone"), "phone")
        expire_token(server.settings, user, "laptop")
        await expect_error(laptop, codes.TOKEN_EXPIRED)
        # Another device of the user, whose token has not expired, carries on.
        await phone.push([activity("phone", 1)])
        assert (await phone.expect(PushResult)).results[0].status == "accepted"
        await phone.close()


async def test_a_newer_connection_of_a_device_replaces_the_older(server: LiveServer) -> None:
    user = await server.user("ada")
    token = await server.device(user, "laptop")
    older = await Peer.open(server.ws_url, token, "laptop")
    newer = await Peer.open(server.ws_url, token, "laptop")
    await expect_error(older, codes.REPLACED)
    await newer.push([activity("laptop", 1)])
    assert (await newer.expect(PushResult)).results[0].status == "accepted"
    await newer.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param(b"\xc1 not msgpack", codes.MALFORMED_FRAME, id="garbage"),
        pytest.param("a text frame", codes.MALFORMED_FRAME, id="text"),
        pytest.param(msgspec.msgpack.encode([1, 2]), codes.MALFORMED_FRAME, id="not-a-map"),
        pytest.param(msgspec.msgpack.encode({"t": "launch"}), codes.UNKNOWN_MESSAGE, id="unknown"),
        pytest.param(
            b"\x00" * (DEFAULT_LIMITS.max_frame_bytes + 1), codes.FRAME_TOO_LARGE, id="oversized"
        ),
        pytest.param(
            msgspec.msgpack.encode(Hello(protocol=99, device="laptop", cursor=0, client_time_ms=0)),
            codes.UNSUPPORTED_PROTOCOL,
            id="protocol-99",
        ),
    ],
)
async def test_bad_frames_get_their_error_and_a_close_and_disturb_nobody(
    server: LiveServer, frame: bytes | str, code: str
) -> None:
    user, laptop, phone = await two_devices(server)
    tablet_token = await server.device(user, "tablet")
    offender = await Peer.connect(server.ws_url, tablet_token, "tablet")
    if code == codes.UNSUPPORTED_PROTOCOL:
        await offender.socket.send(frame)  # the very first frame
    else:
        await offender.hello()
        await offender.expect(Welcome)
        await offender.socket.send(frame)
    await expect_error(offender, code)

    # Everyone else carries on.
    await laptop.push([activity("laptop", 1)])
    assert (await laptop.expect(PushResult)).results[0].pos == 1
    assert [item.pos for item in (await phone.expect(Events)).items] == [1]
    # And the offender may come back with a proper session.
    back = await Peer.open(server.ws_url, tablet_token, "tablet")
    assert back.welcome is not None
    assert back.welcome.head == 1
    await back.close()
    await laptop.close()
    await phone.close()


async def test_a_silent_client_is_pinged_then_timed_out(settings: Settings) -> None:
    limits = msgspec.structs.replace(DEFAULT_LIMITS, ping_interval_ms=200, timeout_ms=400)
    async with running(dataclasses.replace(settings, limits=limits)) as server:
        user = await server.user("ada")
        laptop = await Peer.open(server.ws_url, await server.device(user, "laptop"), "laptop")
        assert isinstance(await laptop.receive(), Ping)
        await expect_error(laptop, codes.TIMEOUT)


async def test_an_event_from_the_future_is_rejected_but_fills_its_slot(
    server: LiveServer,
) -> None:
    user = await server.user("ada")
    laptop = await Peer.open(server.ws_url, await server.device(user, "laptop"), "laptop")
    ahead = now_ms() + 3_600_000
    await laptop.push([activity("laptop", 1, hlc_ms=ahead), activity("laptop", 2)])
    first, second = (await laptop.expect(PushResult)).results
    assert first.status == "rejected"
    assert first.code == codes.CLOCK_SKEW
    assert (second.status, second.pos) == ("accepted", 1)
    await laptop.close()


async def test_another_event_on_a_held_dseq_is_dseq_reused_not_duplicate(
    server: LiveServer,
) -> None:
    """A device restored from a backup mints a dseq again: the server says so
    instead of answering ``duplicate`` for an event it never held."""
    user = await server.user("ada")
    laptop = await Peer.open(server.ws_url, await server.device(user, "laptop"), "laptop")
    held = [activity("laptop", 1, "before the backup"), activity("laptop", 2, "after it")]
    await laptop.push(held)
    await laptop.answer(PushResult)

    await laptop.push([held[0], activity("laptop", 2, "after the restore")])
    same, other = (await laptop.answer(PushResult)).results

    assert (same.status, same.pos) == ("duplicate", 1)
    assert (other.status, other.pos, other.code) == ("rejected", None, codes.DSEQ_REUSED)
    assert other.reason is not None
    assert "reused a sequence number" in other.reason
    stored = await server.store.read(user, 0, 10)
    assert [s.body for s in stored] == held
    await laptop.close()


async def test_a_stopping_server_closes_sockets_with_going_away(settings: Settings) -> None:
    async with running(settings) as server:
        user = await server.user("ada")
        laptop = await Peer.open(server.ws_url, await server.device(user, "laptop"), "laptop")
    assert (await laptop.closed())[0] == codes.GOING_AWAY
