"""Wake-ups from a recording process to a watching sync engine: a real Unix datagram socket."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from careerlog.client import wakeup
from careerlog.client.wakeup import WAKE_FILE, WakeListener, WakeSender


@pytest.fixture
def home(short_dir: Path) -> Path:
    return short_dir


class Wakes:
    def __init__(self) -> None:
        self.count = 0
        self.seen = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self.seen.set()


async def test_wake_ups_sent_together_reach_the_listener_as_one(home: Path) -> None:
    wakes = Wakes()
    listener = WakeListener.bind(home, wakes)
    assert listener is not None
    sender = WakeSender(home)
    try:
        for _ in range(5):
            sender.send()
        await asyncio.wait_for(wakes.seen.wait(), 5)
        await asyncio.sleep(0.05)
        assert wakes.count == 1
        sender.send()  # a later one is noticed again
        await asyncio.sleep(0.05)
        assert wakes.count == 2
    finally:
        sender.close()
        listener.close()
    assert not (home / WAKE_FILE).exists()


async def test_a_second_watcher_does_not_take_a_live_watchers_socket(home: Path) -> None:
    first, second = Wakes(), Wakes()
    listener = WakeListener.bind(home, first)
    assert listener is not None
    try:
        assert WakeListener.bind(home, second) is None
        WakeSender(home).send()
        await asyncio.wait_for(first.seen.wait(), 5)
        assert second.count == 0
    finally:
        listener.close()


async def test_a_socket_file_left_by_a_watcher_that_crashed_is_taken_over(home: Path) -> None:
    crashed = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    crashed.bind(str(home / WAKE_FILE))
    crashed.close()  # the file stays, nobody is bound to it
    wakes = Wakes()
    listener = WakeListener.bind(home, wakes)
    assert listener is not None
    try:
        WakeSender(home).send()
        await asyncio.wait_for(wakes.seen.wait(), 5)
    finally:
        listener.close()


async def test_closing_leaves_a_newer_watchers_socket_alone(home: Path) -> None:
    older = WakeListener.bind(home, Wakes())
    assert older is not None
    (home / WAKE_FILE).unlink()  # e.g. someone cleaned the home up
    wakes = Wakes()
    newer = WakeListener.bind(home, wakes)
    assert newer is not None
    older.close()
    try:
        assert (home / WAKE_FILE).exists()
        WakeSender(home).send()
        await asyncio.wait_for(wakes.seen.wait(), 5)
    finally:
        newer.close()


async def test_without_a_watcher_or_a_usable_address_sending_does_nothing(home: Path) -> None:
    WakeSender(home).send()  # no socket file
    (home / WAKE_FILE).write_text("not a socket")
    WakeSender(home).send()
    deep = home / ("d" * 120)
    deep.mkdir()
    assert WakeListener.bind(deep, Wakes()) is None  # too long for a socket address
    WakeSender(deep).send()


async def test_a_sender_that_found_no_watcher_stays_quiet_for_a_while(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wakeup, "NO_WATCHER_S", 0.2)
    sender = WakeSender(home)
    sender.send()  # nobody listens: no more tries for 0.2 s
    wakes = Wakes()
    listener = WakeListener.bind(home, wakes)
    assert listener is not None
    try:
        sender.send()
        await asyncio.sleep(0.05)
        assert wakes.count == 0
        await asyncio.sleep(0.2)
        sender.send()
        await asyncio.wait_for(wakes.seen.wait(), 5)
    finally:
        sender.close()
        listener.close()


async def test_a_watcher_given_a_relative_home_removes_its_socket_from_anywhere(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(home.parent)
    wakes = Wakes()
    listener = WakeListener.bind(Path(home.name), wakes)  # a watcher started beside the home
    assert listener is not None
    monkeypatch.chdir(home)  # (the process moved on)
    try:
        WakeSender(Path(".")).send()  # a command run inside the home
        await asyncio.wait_for(wakes.seen.wait(), 5)
    finally:
        listener.close()
    assert not (home / WAKE_FILE).exists()
