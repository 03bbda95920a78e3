"""Property: any offline edits and any sync interleaving converge everywhere.

Several devices record events while online or offline; frames are delivered
in any order between devices, and may be dropped, duplicated or reordered;
connections drop and time passes. After everyone syncs over a clean link,
every device and the server hold the same event set, fold to the same state,
and no event was lost or stored twice.
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from careerlog.shared.protocol import Limits
from tests.shared.protocol.harness import World

DEVICES = ["laptop", "phone", "tablet"]
DEVICE_STEPS = {"record", "connect", "disconnect", "deliver"}
LIMITS = Limits(max_batch=3, page_size=2, ping_interval_ms=5_000, timeout_ms=5_000)

device = st.sampled_from(DEVICES)
#: Kinds of step, repeated to weight them: mostly edits and deliveries.
KINDS = ["record"] * 4 + ["deliver"] * 6 + ["connect", "connect", "disconnect", "advance"]
KINDS += ["pump", "pump", "wipe"]
step = st.tuples(
    st.sampled_from(KINDS),
    device,
    st.booleans(),
    st.sampled_from(["none", "none", "none", "drop", "dup", "reorder"]),
    st.integers(1, 8_000),
).map(
    lambda t: {
        "record": (t[0], t[1]),
        "connect": (t[0], t[1]),
        "disconnect": (t[0], t[1]),
        "deliver": t[:4],
        "advance": (t[0], t[4]),
    }.get(t[0], (t[0],))
)


def run(world: World, steps: list[tuple[object, ...]]) -> None:
    # A real server mints a random epoch on every wipe; two wipes in the same
    # millisecond must not share one, or the world models an impossible server.
    wipes = 0
    for s in steps:
        match s:
            case ("record", str(name)):
                world.record(name)
            case ("connect", str(name)):
                world.connect(name)
            case ("disconnect", str(name)):
                world.disconnect(name)
            case ("deliver", str(name), bool(to_server), fault):
                world.deliver(name, to_server, fault)  # type: ignore[arg-type]
            case ("advance", int(ms)):
                world.advance(ms)
            case ("pump",):
                world.pump()
            case ("wipe",):
                wipes += 1
                world.store.wipe(f"epoch-{world.now_ms}-{wipes}")
                for name in list(world.connections):
                    world.disconnect(name)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    n=st.integers(2, 3),
    steps=st.lists(step, min_size=10, max_size=80),
)
def test_every_interleaving_converges(n: int, steps: list[tuple[object, ...]]) -> None:
    # Mixed windows: page-by-page, and pages taken ahead of the Ack.
    world = World(DEVICES[:n], LIMITS, windows={"phone": 2, "tablet": 3})
    names = set(world.devices)
    run(world, [s for s in steps if s[0] not in DEVICE_STEPS or s[1] in names])
    assert world.store.head <= sum(len(d.own) for d in world.devices.values())
    recorded = sum(len(d.own) for d in world.devices.values())
    event(f"events recorded: {min(recorded // 4 * 4, 16)}+")
    world.sync_all()
    world.assert_converged()
