"""ClientSession transitions, one at a time."""

from __future__ import annotations

import msgspec
import pytest

from careerlog.shared.protocol import (
    PROTOCOL_VERSION,
    Ack,
    ClientAction,
    ClientSession,
    ClockOffset,
    Close,
    Error,
    Events,
    Fatal,
    Gap,
    Hello,
    Item,
    Ping,
    Pong,
    Push,
    PushOutcome,
    PushResult,
    Ready,
    ResendFrom,
    Reset,
    ResetLocal,
    Result,
    Send,
    StoreRemote,
    Welcome,
    codes,
)
from tests.shared.protocol.harness import T0


def welcome(**overrides: object) -> Welcome:
    fields: dict[str, object] = {
        "protocol": PROTOCOL_VERSION,
        "server_time_ms": T0 + 1_050,
        "epoch": "e1",
        "head": 0,
        "device_head": 0,
        "max_frame_bytes": 1 << 20,
        "max_batch": 2,
        "max_event_bytes": 1 << 16,
        "ping_interval_ms": 1_000,
    }
    fields.update(overrides)
    return Welcome(**fields)  # type: ignore[arg-type]


def opened(**overrides: object) -> ClientSession:
    c = ClientSession("laptop", 0, None, T0)
    c.start()
    c.receive(welcome(**overrides), T0 + 100)
    return c


def sent(actions: list[ClientAction]) -> list[object]:
    return [a.message for a in actions if isinstance(a, Send)]


def closed_with(actions: list[ClientAction]) -> str | None:
    assert isinstance(actions[-1], Close)
    return codes.code_for_close(actions[-1].code)


def item(pos: int) -> Item:
    return Item(pos=pos, event=msgspec.Raw(b"\x80"))


def test_start_sends_hello_with_cursor_epoch_and_time() -> None:
    c = ClientSession("laptop", 12, "e1", T0)
    assert c.start() == [
        Send(
            Hello(
                protocol=PROTOCOL_VERSION,
                device="laptop",
                cursor=12,
                epoch="e1",
                client_time_ms=T0,
                skip_acknowledged=True,
            )
        )
    ]
    with pytest.raises(RuntimeError):
        c.start()


def test_welcome_corrects_the_clock_and_asks_for_pushes() -> None:
    c = ClientSession("laptop", 0, None, T0)
    c.start()
    actions = c.receive(welcome(device_head=7, head=3), T0 + 100)
    assert actions == [
        Ready("e1", 3, 7),
        # The server read its clock halfway through the round trip: T0 + 50 local.
        ClockOffset(offset_ms=1_000, rtt_ms=100),
        ResendFrom(8),
    ]
    assert c.epoch == "e1"
    assert not c.synced  # head 3, cursor 0


def test_reset_then_welcome() -> None:
    c = ClientSession("laptop", 40, "e0", T0)
    c.start()
    assert c.receive(Reset(epoch="e1"), T0) == [ResetLocal("e1")]
    assert c.cursor == 0
    assert isinstance(c.receive(welcome(), T0)[0], Ready)
    assert c.synced


def test_second_reset_is_unexpected() -> None:
    c = ClientSession("laptop", 0, "e0", T0)
    c.start()
    c.receive(Reset(epoch="e1"), T0)
    assert closed_with(c.receive(Reset(epoch="e2"), T0)) == codes.UNEXPECTED_MESSAGE


def test_epoch_change_without_reset_resets_and_reconnects() -> None:
    c = ClientSession("laptop", 5, "e0", T0)
    c.start()
    actions = c.receive(welcome(head=9), T0)
    assert actions[0] == ResetLocal("e1")
    assert closed_with(actions) == codes.UNEXPECTED_MESSAGE


def test_welcome_speaking_another_protocol_is_fatal() -> None:
    c = ClientSession("laptop", 0, None, T0)
    c.start()
    (fatal,) = c.receive(welcome(protocol=PROTOCOL_VERSION + 1), T0)
    assert isinstance(fatal, Fatal)
    assert fatal.code == codes.UNSUPPORTED_PROTOCOL


def test_push_before_welcome_is_dropped() -> None:
    c = ClientSession("laptop", 0, None, T0)
    c.start()
    assert c.push([b"\x80"]) == []


def test_one_batch_in_flight_and_the_rest_coalesced() -> None:
    c = opened()
    (first,) = sent(c.push([b"\x81", b"\x82", b"\x83"]))
    assert isinstance(first, Push)
    assert (first.batch, len(first.events)) == (1, 2)  # max_batch from Welcome
    assert c.push([b"\x84"]) == []  # queued behind the batch in flight
    results = [Result(status="accepted", pos=1), Result(status="duplicate", pos=2)]
    actions = c.receive(PushResult(batch=1, results=results), T0)
    assert actions[0] == PushOutcome(1, [b"\x81", b"\x82"], results)
    (second,) = sent(actions)
    assert isinstance(second, Push)
    assert (second.batch, [bytes(e) for e in second.events]) == (2, [b"\x83", b"\x84"])


def test_batches_respect_the_frame_limit() -> None:
    c = opened(max_frame_bytes=200, max_batch=10)
    (push,) = sent(c.push([b"\x80" * 100, b"\x80" * 100]))
    assert isinstance(push, Push)
    assert len(push.events) == 1


def test_gap_discards_the_queue_and_asks_for_a_resend() -> None:
    c = opened()
    c.push([b"\x81", b"\x82", b"\x83"])
    assert c.receive(Gap(batch=1, device="laptop", expected=4), T0) == [ResendFrom(4)]
    assert c.synced


@pytest.mark.parametrize(
    "message",
    [
        PushResult(batch=9, results=[]),
        Gap(batch=9, device="laptop", expected=1),
        Events(items=[], head=0),
        welcome(),
        Reset(epoch="e1"),
    ],
)
def test_messages_out_of_place_close_the_connection(message: object) -> None:
    c = opened()
    assert closed_with(c.receive(message, T0)) == codes.UNEXPECTED_MESSAGE  # type: ignore[arg-type]
    assert c.closed


def test_result_count_must_match_the_batch() -> None:
    c = opened()
    c.push([b"\x81"])
    actions = c.receive(PushResult(batch=1, results=[]), T0)
    assert closed_with(actions) == codes.UNEXPECTED_MESSAGE


def test_pages_are_stored_before_they_are_acked() -> None:
    c = opened(head=3)
    actions = c.receive(Events(items=[item(1), item(2)], head=3), T0)
    assert actions == [StoreRemote([item(1), item(2)], 3, 2)]
    assert c.cursor == 0  # nothing acknowledged until stored
    assert c.stored(2) == [Send(Ack(cursor=2))]
    assert c.cursor == 2
    c.receive(Events(items=[item(3)], head=3), T0)
    c.stored(3)
    assert c.synced


def test_a_second_page_before_the_ack_or_a_page_going_backwards_is_unexpected() -> None:
    c = opened()
    c.receive(Events(items=[item(1)], head=1), T0)
    assert closed_with(c.receive(Events(items=[item(2)], head=2), T0)) == codes.UNEXPECTED_MESSAGE
    c = ClientSession("laptop", 5, "e1", T0)
    c.start()
    c.receive(welcome(head=5), T0)
    assert closed_with(c.receive(Events(items=[item(5)], head=5), T0)) == codes.UNEXPECTED_MESSAGE


def test_a_window_takes_pages_ahead_and_stores_them_in_order() -> None:
    c = ClientSession("laptop", 0, None, T0, window=2)
    (hello,) = sent(c.start())
    assert isinstance(hello, Hello)
    assert hello.window == 2
    c.receive(welcome(head=5, window=2), T0)
    assert c.receive(Events(items=[item(1), item(2)], head=5), T0) == [
        StoreRemote([item(1), item(2)], 5, 2)
    ]
    assert c.receive(Events(items=[item(3), item(4)], head=5), T0) == [
        StoreRemote([item(3), item(4)], 5, 4)
    ]
    # A third page would exceed the window granted.
    with pytest.raises(RuntimeError):
        c.stored(4)  # pages are stored oldest first
    assert c.stored(2) == [Send(Ack(cursor=2))]
    assert c.stored(4) == [Send(Ack(cursor=4))]
    c.receive(Events(items=[item(5)], head=5), T0)
    c.stored(5)
    assert c.synced


def test_pages_beyond_the_granted_window_are_unexpected() -> None:
    c = ClientSession("laptop", 0, None, T0, window=2)
    c.start()
    c.receive(welcome(head=3, window=2), T0)
    c.receive(Events(items=[item(1)], head=3), T0)
    c.receive(Events(items=[item(2)], head=3), T0)
    assert closed_with(c.receive(Events(items=[item(3)], head=3), T0)) == codes.UNEXPECTED_MESSAGE
    # A server that grants less than asked (or says nothing: 1) sets the window.
    c = ClientSession("laptop", 0, None, T0, window=4)
    c.start()
    c.receive(welcome(head=3), T0)
    assert c.window == 1
    c.receive(Events(items=[item(1)], head=3), T0)
    assert closed_with(c.receive(Events(items=[item(2)], head=3), T0)) == codes.UNEXPECTED_MESSAGE


def test_a_page_that_left_out_acknowledged_events_moves_the_cursor_to_upto() -> None:
    c = opened(head=6)
    # 3 and 4 were this connection's pushes, 6 too: left out by the server.
    assert c.receive(Events(items=[item(1), item(2), item(5)], head=6, upto=6), T0) == [
        StoreRemote([item(1), item(2), item(5)], 6, 6)
    ]
    assert c.stored(6) == [Send(Ack(cursor=6))]
    # A page of nothing but left-out events still moves the cursor.
    c.receive(Events(items=[], head=8, upto=8), T0)
    assert c.stored(8) == [Send(Ack(cursor=8))]
    assert c.cursor == 8


@pytest.mark.parametrize(
    "page",
    [
        Events(items=[], head=2),  # nothing at all
        Events(items=[item(3)], head=3, upto=2),  # upto before its own items
        Events(items=[], head=4, upto=4),  # fine, but this client never asked
    ],
)
def test_pages_that_skip_what_they_may_not_are_unexpected(page: Events) -> None:
    asked = page.upto != 4
    c = ClientSession("laptop", 0, None, T0, skip_acknowledged=asked)
    c.start()
    c.receive(welcome(head=4), T0)
    assert closed_with(c.receive(page, T0)) == codes.UNEXPECTED_MESSAGE


def test_stored_must_match_the_page() -> None:
    c = opened()
    c.receive(Events(items=[item(1), item(2)], head=2), T0)
    with pytest.raises(RuntimeError):
        c.stored(1)


@pytest.mark.parametrize("code", sorted(codes.FATAL))
def test_fatal_errors_stop_reconnecting(code: str) -> None:
    assert opened().receive(Error(code=code, message="no"), T0) == [Fatal(code, "no")]


def test_other_errors_close_and_retry() -> None:
    actions = opened().receive(Error(code=codes.RATE_LIMITED, message="slow"), T0)
    assert closed_with(actions) == codes.RATE_LIMITED


def test_garbage_from_the_server_closes() -> None:
    assert closed_with(opened().receive_frame(b"\xc1", T0)) == codes.MALFORMED_FRAME


def test_heartbeat() -> None:
    c = opened()
    assert c.receive(Ping(nonce=4), T0) == [Send(Pong(nonce=4))]
    assert c.tick(T0 + 1_000) == [Send(Ping(nonce=1))]
    assert c.receive(Pong(nonce=1), T0 + 1_010) == []
    c.tick(T0 + 2_010)
    assert closed_with(c.tick(T0 + 2_010 + c.timeout_ms)) == codes.TIMEOUT


def test_no_welcome_in_time() -> None:
    c = ClientSession("laptop", 0, None, T0)
    c.start()
    assert closed_with(c.tick(T0 + c.timeout_ms)) == codes.TIMEOUT


def test_close_is_normal_and_final() -> None:
    c = opened()
    assert c.close() == [Close(1000, "bye")]
    assert c.receive(Ping(nonce=1), T0) == []
