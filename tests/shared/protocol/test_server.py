"""ServerSession transitions, one at a time."""

from __future__ import annotations

import msgspec
import pytest

from careerlog.shared import hlc
from careerlog.shared.codec import encode_event
from careerlog.shared.protocol import (
    PROTOCOL_VERSION,
    Ack,
    Append,
    Close,
    Error,
    Events,
    Gap,
    Hello,
    Item,
    Limits,
    Ping,
    Pong,
    Push,
    PushResult,
    Read,
    Reset,
    Result,
    Send,
    ServerAction,
    ServerSession,
    Welcome,
    codes,
)
from careerlog.shared.protocol import server as server_module
from tests.shared.protocol.harness import T0, activity

LIMITS = Limits(
    max_batch=3, page_size=2, max_event_bytes=2_000, frames_per_second=10, frame_burst=5
)


def hello(**overrides: object) -> Hello:
    fields: dict[str, object] = {
        "protocol": PROTOCOL_VERSION,
        "device": "laptop",
        "cursor": 0,
        "epoch": None,
        "client_time_ms": T0,
    }
    fields.update(overrides)
    return Hello(**fields)  # type: ignore[arg-type]


def session(head: int = 0, device_head: int = 0) -> ServerSession:
    return ServerSession("laptop", "e1", head, device_head, T0, LIMITS)


def opened(head: int = 0, device_head: int = 0) -> ServerSession:
    s = session(head, device_head)
    s.receive(hello(), T0)
    return s


def sent(actions: list[ServerAction]) -> list[object]:
    return [a.message for a in actions if isinstance(a, Send)]


def error_code(actions: list[ServerAction]) -> str:
    assert isinstance(actions[-1], Close)
    (error,) = sent(actions)
    assert isinstance(error, Error)
    assert actions[-1].code == codes.close_code(error.code)
    return error.code


def raw(device: str, dseq: int, wall: int = T0) -> msgspec.Raw:
    return msgspec.Raw(encode_event(activity(device, dseq, hlc.pack(wall))))


def test_hello_is_welcomed_with_limits_and_heads() -> None:
    s = session(head=0, device_head=4)
    (welcome,) = sent(s.receive(hello(), T0 + 5))
    assert welcome == Welcome(
        protocol=PROTOCOL_VERSION,
        server_time_ms=T0 + 5,
        epoch="e1",
        head=0,
        device_head=4,
        max_frame_bytes=LIMITS.max_frame_bytes,
        max_batch=3,
        max_event_bytes=2_000,
        ping_interval_ms=LIMITS.ping_interval_ms,
        window=1,
        frames_per_second=10,
        frame_burst=5,
        events_per_second=LIMITS.events_per_second,
        event_burst=LIMITS.event_burst,
    )


def test_window_is_granted_up_to_the_servers_limit() -> None:
    for asked, granted in [(1, 1), (3, 3), (99, LIMITS.max_window), (0, 1)]:
        (welcome,) = sent(session().receive(hello(window=asked), T0))
        assert isinstance(welcome, Welcome)
        assert welcome.window == granted


def test_hello_behind_head_starts_a_read_from_the_cursor() -> None:
    s = session(head=10)
    actions = s.receive(hello(cursor=4, epoch="e1"), T0)
    assert actions[-1] == Read(after=4, limit=2)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"protocol": 99}, codes.UNSUPPORTED_PROTOCOL),
        ({"device": "phone"}, codes.WRONG_DEVICE),
        ({"cursor": -1}, codes.MALFORMED_FRAME),
    ],
)
def test_bad_hello_is_an_error_and_a_close(overrides: dict[str, object], code: str) -> None:
    s = session()
    assert error_code(s.receive(hello(**overrides), T0)) == code
    assert s.closed
    assert s.receive(hello(), T0) == []  # closed stays closed


@pytest.mark.parametrize(
    ("epoch", "cursor", "head"),
    [("e0", 3, 10), (None, 3, 10), ("e1", 11, 10)],
)
def test_other_epoch_or_cursor_beyond_head_resets(
    epoch: str | None, cursor: int, head: int
) -> None:
    s = session(head=head)
    actions = s.receive(hello(epoch=epoch, cursor=cursor), T0)
    assert sent(actions)[0] == Reset(epoch="e1")
    assert isinstance(sent(actions)[1], Welcome)
    assert actions[-1] == Read(after=0, limit=2)
    assert s.cursor == 0


def test_anything_before_hello_is_unexpected() -> None:
    assert error_code(session().receive(Ack(cursor=0), T0)) == codes.UNEXPECTED_MESSAGE


def test_second_hello_is_unexpected() -> None:
    assert error_code(opened().receive(hello(), T0)) == codes.UNEXPECTED_MESSAGE


def test_garbage_frame_closes_with_malformed() -> None:
    assert error_code(opened().receive_frame(b"\xc1", T0)) == codes.MALFORMED_FRAME
    assert error_code(opened().receive_text()) == codes.MALFORMED_FRAME


def test_push_becomes_append_then_push_result() -> None:
    s = opened()
    actions = s.receive(Push(batch=1, events=[raw("laptop", 1), raw("laptop", 2)]), T0)
    (append,) = actions
    assert isinstance(append, Append)
    assert [(e.device, e.dseq, e.rejected) for e in append.events] == [
        ("laptop", 1, None),
        ("laptop", 2, None),
    ]
    assert append.events[0].event is not None
    results = [Result(status="accepted", pos=1), Result(status="accepted", pos=2)]
    actions = s.appended(results, head=2)
    assert sent(actions) == [PushResult(batch=1, results=results)]
    assert actions[-1] == Read(after=0, limit=2)  # its own events come back as the tail
    assert s.device_head == 2


def test_a_client_that_asks_is_spared_its_acknowledged_events() -> None:
    s = session()
    s.receive(hello(skip_acknowledged=True), T0)
    s.receive(Push(batch=1, events=[raw("laptop", 1), raw("laptop", 2)]), T0)
    results = [Result(status="accepted", pos=1), Result(status="accepted", pos=2)]
    actions = s.appended(results, head=2)
    # Nothing but its own events after the cursor: no read, the cursor moves.
    assert sent(actions) == [PushResult(batch=1, results=results), Events(items=[], head=2, upto=2)]
    assert not any(isinstance(a, Read) for a in actions)
    assert s.receive(Ack(cursor=2), T0) == []


def test_own_events_mixed_with_others_are_left_out_of_the_page() -> None:
    s = session(head=1)
    s.receive(hello(skip_acknowledged=True), T0)
    s.read_done([(1, b"\x81")], head=1)  # another device's event
    s.receive(Push(batch=1, events=[raw("laptop", 1), raw("laptop", 2)]), T0)
    # Another device committed pos 2 before this push got 3 and 4; then pos 5.
    results = [Result(status="accepted", pos=3), Result(status="accepted", pos=4)]
    actions = s.appended(results, head=5)
    assert sent(actions) == [PushResult(batch=1, results=results)]
    assert s.receive(Ack(cursor=1), T0) == [Read(after=1, limit=2)]
    (page,) = sent(s.read_done([(2, b"\x82"), (3, b"\x83")], head=5))
    assert page == Events(items=[Item(pos=2, event=msgspec.Raw(b"\x82"))], head=5, upto=3)
    # The read after the cursor skips 4 (acknowledged, right after it).
    assert s.receive(Ack(cursor=3), T0) == [Read(after=4, limit=2)]
    (page,) = sent(s.read_done([(5, b"\x85")], head=5))
    assert page == Events(items=[Item(pos=5, event=msgspec.Raw(b"\x85"))], head=5)


def test_a_duplicate_already_sent_is_not_skipped_again_and_others_get_everything() -> None:
    s = session(head=2)
    s.receive(hello(skip_acknowledged=True), T0)
    s.read_done([(1, b"\x81"), (2, b"\x82")], head=2)
    s.receive(Ack(cursor=2), T0)
    # A resend after a lost answer: pos 2 was sent in a page already.
    s.receive(Push(batch=1, events=[raw("laptop", 1)]), T0)
    actions = s.appended([Result(status="duplicate", pos=2)], head=2)
    assert sent(actions) == [PushResult(batch=1, results=[Result(status="duplicate", pos=2)])]
    # Without the flag, the pusher's own events come back like any other.
    s = opened()
    s.receive(Push(batch=1, events=[raw("laptop", 1)]), T0)
    actions = s.appended([Result(status="accepted", pos=1)], head=1)
    assert actions[-1] == Read(after=0, limit=2)
    (page,) = sent(s.read_done([(1, b"\x81")], head=1))
    assert page == Events(items=[Item(pos=1, event=msgspec.Raw(b"\x81"))], head=1)


def test_a_client_that_never_acks_cannot_grow_what_the_server_remembers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server_module, "_MAX_ACKNOWLEDGED", 3)
    s = session()
    s.receive(hello(skip_acknowledged=True), T0)
    for batch, (first, second) in enumerate([(1, 2), (3, 4), (5, 6), (7, 8)], start=1):
        push = Push(batch=batch, events=[raw("laptop", first), raw("laptop", second)])
        s.receive(push, T0 + batch * 1000)  # (slow enough for the frame budget)
        results = [Result(status="accepted", pos=first), Result(status="accepted", pos=second)]
        s.appended(results, head=second)  # the first page (upto 2) is never acked meanwhile
    # 3-6 were remembered; 7 and 8 came past the bound: they are read and sent.
    assert s.receive(Ack(cursor=2), T0 + 5000) == [Read(after=6, limit=2)]
    (page,) = sent(s.read_done([(7, b"\x87"), (8, b"\x88")], head=8))
    assert [item.pos for item in page.items] == [7, 8]  # type: ignore[attr-defined]


def test_second_push_before_the_answer_is_unexpected() -> None:
    s = opened()
    s.receive(Push(batch=1, events=[raw("laptop", 1)]), T0)
    assert error_code(s.receive(Push(batch=2, events=[raw("laptop", 2)]), T0)) == (
        codes.UNEXPECTED_MESSAGE
    )


def test_empty_push_is_answered_at_once() -> None:
    assert sent(opened().receive(Push(batch=4, events=[]), T0)) == [PushResult(batch=4, results=[])]


def test_batch_too_large() -> None:
    events = [raw("laptop", n) for n in range(1, 5)]
    assert error_code(opened().receive(Push(batch=1, events=events), T0)) == codes.BATCH_TOO_LARGE


def test_store_gap_is_relayed() -> None:
    s = opened()
    s.receive(Push(batch=3, events=[raw("laptop", 5)]), T0)
    assert sent(s.gap(3, expected=2)) == [Gap(batch=3, device="laptop", expected=2)]
    assert s.device_head == 1


def test_hole_inside_a_batch_is_a_gap_without_the_store() -> None:
    s = opened(device_head=1)
    actions = s.receive(Push(batch=1, events=[raw("laptop", 2), raw("laptop", 4)]), T0)
    assert sent(actions) == [Gap(batch=1, device="laptop", expected=2)]


def judged(body: bytes, now: int = T0) -> tuple[str | None, int]:
    s = opened()
    (append,) = s.receive(Push(batch=1, events=[msgspec.Raw(body)]), now)
    assert isinstance(append, Append)
    (incoming,) = append.events
    assert incoming.device == "laptop"  # always the authenticated device
    return (incoming.rejected.code if incoming.rejected else None), incoming.dseq


def test_event_of_another_device_is_rejected_in_this_devices_slot() -> None:
    assert judged(bytes(raw("phone", 3))) == (codes.WRONG_DEVICE, 3)


def test_event_too_far_ahead_is_clock_skew() -> None:
    body = bytes(raw("laptop", 1, wall=T0 + LIMITS.max_clock_skew_ms + 1))
    assert judged(body) == (codes.CLOCK_SKEW, 1)
    assert judged(bytes(raw("laptop", 1, wall=T0 + LIMITS.max_clock_skew_ms))) == (None, 1)


def test_unknown_type_newer_version_invalid_and_oversized() -> None:
    base = msgspec.msgpack.decode(bytes(raw("laptop", 1)))
    unknown = msgspec.msgpack.encode({**base, "type": "Teleported"})
    newer = msgspec.msgpack.encode({**base, "v": 99})
    invalid = msgspec.msgpack.encode({**base, "text": ""})
    huge = msgspec.msgpack.encode({**base, "text": "x" * 3_000})
    assert judged(unknown) == (codes.UNKNOWN_EVENT_TYPE, 1)
    assert judged(newer) == (codes.UNSUPPORTED_EVENT_VERSION, 1)
    assert judged(invalid) == (codes.INVALID_EVENT, 1)
    assert judged(huge) == (codes.EVENT_TOO_LARGE, 1)


def test_the_events_id_goes_to_the_store_valid_or_not() -> None:
    """The store tells a re-push from a reused dseq by the id, so every judged
    event carries it: 16 bytes, from the typed decode or the lenient one."""

    def incoming_id(body: bytes) -> bytes | None:
        (append,) = opened().receive(Push(batch=1, events=[msgspec.Raw(body)]), T0)
        assert isinstance(append, Append)
        return append.events[0].id

    event = activity("laptop", 1, hlc.pack(T0))
    base = msgspec.msgpack.decode(encode_event(event))
    assert incoming_id(encode_event(event)) == event.id.bytes
    unknown = msgspec.msgpack.encode({**base, "type": "Teleported"})
    assert incoming_id(unknown) == event.id.bytes
    as_text = msgspec.msgpack.encode({**base, "type": "Teleported", "id": str(event.id)})
    assert incoming_id(as_text) == event.id.bytes
    # An unreadable id is the event's fault, not the frame's: judged, no id.
    (append,) = opened().receive(
        Push(batch=1, events=[msgspec.Raw(msgspec.msgpack.encode({**base, "id": 7}))]), T0
    )
    assert isinstance(append, Append)
    assert append.events[0].id is None
    assert append.events[0].rejected is not None
    assert append.events[0].rejected.code == codes.INVALID_EVENT


def test_event_without_an_envelope_makes_the_frame_malformed() -> None:
    s = opened()
    actions = s.receive(Push(batch=1, events=[msgspec.Raw(msgspec.msgpack.encode([1]))]), T0)
    assert error_code(actions) == codes.MALFORMED_FRAME


def test_pages_wait_for_the_ack() -> None:
    s = opened(head=3)
    assert s.read_done([(1, b"\x80"), (2, b"\x80")], head=3) != []
    assert s.woken(5) == []  # page in flight: no read, no buffering
    assert s.receive(Ack(cursor=2), T0) == [Read(after=2, limit=2)]
    (page,) = sent(s.read_done([(3, b"\x80")], head=5))
    assert isinstance(page, Events)
    assert [i.pos for i in page.items] == [3]
    assert page.head == 5


def test_a_window_sends_pages_ahead_of_the_ack_and_reads_on() -> None:
    s = session(head=7)
    s.receive(hello(window=2), T0)
    actions = s.read_done([(1, b"\x80"), (2, b"\x80")], head=7)
    assert [i.pos for i in sent(actions)[0].items] == [1, 2]  # type: ignore[attr-defined]
    assert actions[-1] == Read(after=2, limit=2)  # the next page, before any Ack
    actions = s.read_done([(3, b"\x80"), (4, b"\x80")], head=7)
    assert len(sent(actions)) == 1
    assert not any(isinstance(a, Read) for a in actions)  # the window is full
    assert s.woken(9) == []  # still full: nothing read, nothing buffered
    assert s.receive(Ack(cursor=2), T0) == [Read(after=4, limit=2)]
    assert s.cursor == 2
    s.read_done([(5, b"\x80"), (6, b"\x80")], head=9)
    # An Ack is cumulative: it covers every page up to the one it names.
    assert s.receive(Ack(cursor=6), T0) == [Read(after=6, limit=2)]
    assert s.cursor == 6


def test_ack_of_a_page_never_sent_is_unexpected_with_a_window() -> None:
    s = session(head=4)
    s.receive(hello(window=2), T0)
    s.read_done([(1, b"\x80"), (2, b"\x80")], head=4)
    s.read_done([(3, b"\x80"), (4, b"\x80")], head=4)
    assert error_code(s.receive(Ack(cursor=3), T0)) == codes.UNEXPECTED_MESSAGE


def test_page_is_cut_to_the_frame_limit() -> None:
    s = ServerSession("laptop", "e1", 3, 0, T0, Limits(max_frame_bytes=300))
    s.receive(hello(), T0)
    (page,) = sent(s.read_done([(1, b"\x80" * 150), (2, b"\x80" * 150)], head=2))
    assert isinstance(page, Events)
    assert [i.pos for i in page.items] == [1]


def test_wrong_ack_is_unexpected() -> None:
    s = opened(head=2)
    s.read_done([(1, b"\x80"), (2, b"\x80")], head=2)
    assert error_code(s.receive(Ack(cursor=1), T0)) == codes.UNEXPECTED_MESSAGE


def test_woken_when_idle_reads() -> None:
    s = opened()
    assert s.woken(1) == [Read(after=0, limit=2)]
    assert s.woken(2) == []  # a read is already pending


def test_ping_is_answered_and_silence_is_probed_then_timed_out() -> None:
    s = opened()
    assert sent(s.receive(Ping(nonce=9), T0)) == [Pong(nonce=9)]
    assert s.tick(T0 + LIMITS.ping_interval_ms) == [Send(Ping(nonce=1))]
    assert s.tick(T0 + LIMITS.ping_interval_ms + 1) == []
    later = T0 + LIMITS.ping_interval_ms + LIMITS.timeout_ms
    assert error_code(s.tick(later)) == codes.TIMEOUT


def test_pong_keeps_the_connection() -> None:
    s = opened()
    s.tick(T0 + LIMITS.ping_interval_ms)
    now = T0 + LIMITS.ping_interval_ms + 10
    assert s.receive(Pong(nonce=1), now) == []
    assert s.tick(now + LIMITS.timeout_ms - 1) == []


def test_no_hello_in_time() -> None:
    assert error_code(session().tick(T0 + LIMITS.timeout_ms)) == codes.TIMEOUT


def test_flood_is_rate_limited() -> None:
    s = opened()
    for _ in range(LIMITS.frame_burst - 1):  # the hello took one token
        assert sent(s.receive(Ping(nonce=1), T0)) == [Pong(nonce=1)]
    assert error_code(s.receive(Ping(nonce=1), T0)) == codes.RATE_LIMITED


def test_pushed_events_have_their_own_budget() -> None:
    limits = Limits(max_batch=3, events_per_second=1.0, event_burst=5)
    s = ServerSession("laptop", "e1", 0, 0, T0, limits)
    s.receive(hello(), T0)
    s.receive(Push(batch=1, events=[raw("laptop", n) for n in (1, 2, 3)]), T0)
    s.appended([Result(status="accepted", pos=n) for n in (1, 2, 3)], head=3)
    # Two events left in the bucket; a batch of three is over the budget.
    actions = s.receive(Push(batch=2, events=[raw("laptop", n) for n in (4, 5, 6)]), T0 + 10)
    assert error_code(actions) == codes.RATE_LIMITED


def test_event_budget_refills_over_time() -> None:
    limits = Limits(max_batch=3, events_per_second=1_000.0, event_burst=3)
    s = ServerSession("laptop", "e1", 0, 0, T0, limits)
    s.receive(hello(), T0)
    for batch in range(1, 6):  # 3 events every 3 ms: the sustained rate
        dseqs = range(3 * batch - 2, 3 * batch + 1)
        actions = s.receive(
            Push(batch=batch, events=[raw("laptop", n) for n in dseqs]), T0 + 3 * batch
        )
        assert isinstance(actions[0], Append)
        s.appended([Result(status="accepted", pos=n) for n in dseqs], head=3 * batch)
    assert not s.closed


def test_tokens_refill_over_time() -> None:
    s = opened()
    for n in range(40):  # 10 frames a second is the sustained rate
        assert not s.closed
        s.receive(Ping(nonce=1), T0 + n * 100)
    assert not s.closed


def test_revoke_expire_replace_internal_and_shutdown() -> None:
    assert error_code(opened().revoke()) == codes.REVOKED
    expired = opened().expire()
    assert error_code(expired) == codes.TOKEN_EXPIRED
    assert expired[-1] == Close(4013, codes.TOKEN_EXPIRED)
    assert error_code(opened().replace()) == codes.REPLACED
    assert error_code(opened().internal_error("db down")) == codes.INTERNAL
    s = opened()
    assert s.shutdown() == [Close(codes.GOING_AWAY, "server shutting down")]
    assert s.revoke() == []


def test_adapter_misuse_raises() -> None:
    s = opened()
    with pytest.raises(RuntimeError):
        s.appended([], head=0)
    with pytest.raises(RuntimeError):
        s.read_done([], head=0)
