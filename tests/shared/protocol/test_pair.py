"""A ClientSession and a ServerSession as a pair, no sockets, over a faulty link."""

from __future__ import annotations

import pytest

from careerlog.shared.protocol import Limits
from tests.shared.protocol.harness import Fault, World

SMALL = Limits(max_batch=3, page_size=4, ping_interval_ms=1_000, timeout_ms=2_000)


@pytest.mark.parametrize("window", [1, 2, 3])
def test_offline_edits_sync_both_ways(window: int) -> None:
    world = World(["laptop", "phone"], SMALL, windows={"laptop": window, "phone": window})
    for i in range(7):
        world.record("laptop", f"laptop {i}")
    for i in range(5):
        world.record("phone", f"phone {i}")
    world.sync_all()
    world.assert_converged()
    assert world.store.head == 12


def test_live_tail_reaches_connected_devices() -> None:
    world = World(["laptop", "phone"], SMALL)
    world.sync_all()
    world.record("laptop", "live")
    world.pump()
    world.assert_converged()
    assert len(world.devices["phone"].known) == 1


def test_pushes_while_in_flight_are_coalesced() -> None:
    world = World(["laptop"], SMALL)
    world.sync_all()
    for _ in range(5):
        world.record("laptop")  # one batch goes out, four wait
    conn = world.connections["laptop"]
    assert len(conn.to_server) == 1
    world.pump()
    world.assert_converged()


def test_dropped_frames_recover_on_reconnect() -> None:
    world = World(["laptop", "phone"], SMALL)
    for _ in range(6):
        world.record("laptop")
    world.connect("laptop")
    world.deliver("laptop", to_server=True)  # hello
    world.deliver("laptop", to_server=False)  # welcome
    world.deliver("laptop", to_server=True)  # first push: stored...
    world.deliver("laptop", to_server=False, fault="drop")  # ...its result is lost
    world.disconnect("laptop")
    world.sync_all()
    world.assert_converged()
    assert world.store.head == 6  # no retry duplicated anything


def test_duplicated_and_reordered_frames_end_in_a_clean_retry() -> None:
    world = World(["laptop", "phone"], SMALL)
    for _ in range(5):
        world.record("laptop")
        world.record("phone")
    world.connect("laptop")
    world.connect("phone")
    for step in range(40):
        faults: tuple[Fault, ...] = ("dup", "reorder", "none", "none")
        fault = faults[step % 4]
        world.deliver("laptop", to_server=step % 2 == 0, fault=fault)
        world.deliver("phone", to_server=step % 3 == 0, fault=fault)
    world.sync_all()
    world.assert_converged()


def test_heartbeat_timeout_closes_a_silent_link() -> None:
    world = World(["laptop"], SMALL)
    world.sync_all()
    world.advance(1_000)  # both sides ping
    assert "laptop" in world.connections
    world.advance(2_000)  # nobody delivered the pongs
    assert "laptop" not in world.connections
    world.record("laptop")
    world.sync_all()
    world.assert_converged()


def test_wiped_server_resets_clients_who_resend_everything() -> None:
    world = World(["laptop", "phone"], SMALL)
    for _ in range(4):
        world.record("laptop")
        world.record("phone")
    world.sync_all()
    world.assert_converged()
    world.store.wipe("epoch-2")
    for name in world.devices:
        world.disconnect(name)
    world.record("phone", "after the wipe")
    world.sync_all()
    world.assert_converged()
    assert all(d.epoch == "epoch-2" for d in world.devices.values())
    assert world.store.head == 9


def test_restored_server_behind_the_cursor_resets_the_client() -> None:
    world = World(["laptop"], SMALL)
    for _ in range(3):
        world.record("laptop")
    world.sync_all()
    world.disconnect("laptop")
    world.store.wipe("epoch-1")  # same epoch, lost data: the cursor is beyond head
    world.sync_all()
    world.assert_converged()
    assert world.store.head == 3
