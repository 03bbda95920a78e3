"""Waking a watching sync engine when another process records on the same home.

``careerlog sync --watch`` (:meth:`SyncEngine.watch`) binds a Unix datagram
socket, ``sync.wake``, in the home; a :class:`LocalStore` that commits new
events of this device sends it one byte. The engine then pushes them at once,
instead of at its next look at the outbox (every ``sync.POLL_S``): an event
recorded by the CLI beside a watcher reaches the user's other devices in
milliseconds, and a burst of recording is not left waiting at its start and
end.

Best effort both ways, never an error: with no watcher, an old socket file
left by one that crashed, a home path too long for a socket address, or a
platform without Unix sockets, nothing is sent and the engine still polls.
The socket lives in the home (mode 0700, like everything there), so only the
home's owner can wake its engine; what is sent is never read, only noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["WAKE_FILE", "WakeListener", "WakeSender"]

WAKE_FILE = "sync.wake"

#: After a send finds no watcher, how long a sender stays quiet.
NO_WATCHER_S = 1.0

#: sun_path holds 108 bytes on Linux, 104 on macOS, with its terminating NUL.
_MAX_ADDRESS_BYTES = 103


def _address(home: Path) -> str | None:
    """The socket's address, or None where a watcher cannot bind one."""
    if not hasattr(socket, "AF_UNIX"):
        return None
    # Absolute: a sender and a watcher started in different directories
    # must name the same socket.
    path = str(home.absolute() / WAKE_FILE)
    return path if len(os.fsencode(path)) <= _MAX_ADDRESS_BYTES else None


class WakeSender:
    """Tells a watching engine on ``home`` that the outbox has new events."""

    def __init__(self, home: Path) -> None:
        self._address = _address(home)
        self._socket: socket.socket | None = None
        #: Until then, no watcher to wake: a failed send costs a commit 10-20 µs.
        self._quiet_until = 0.0

    def send(self) -> None:
        """One datagram, never blocking and never failing."""
        if self._address is None or time.monotonic() < self._quiet_until:
            return
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
            self._socket.sendto(b"\x01", self._address)
        except BlockingIOError:
            pass  # its queue is full of wake-ups it has not read yet: nothing to add
        except OSError:
            # No watcher (no file, or nobody bound to it). One that starts
            # meanwhile finds the events at its first look at the outbox.
            self._quiet_until = time.monotonic() + NO_WATCHER_S

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class WakeListener:
    """A watching engine's end: calls ``on_wake`` once per turn of the event
    loop in which one or more wake-ups arrived."""

    def __init__(self, sock: socket.socket, address: str, on_wake: Callable[[], None]) -> None:
        self._socket = sock
        self._address = address
        self._inode = os.stat(address).st_ino
        self._on_wake = on_wake
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    @classmethod
    def bind(cls, home: Path, on_wake: Callable[[], None]) -> WakeListener | None:
        """Listen on ``home``'s socket; None if another live watcher holds it or
        none can be bound here."""
        address = _address(home)
        if address is None:
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            try:
                sock.bind(address)
            except OSError:
                if _someone_listens(address):
                    sock.close()
                    return None
                # Left by a watcher that did not close: take its place.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(address)
                sock.bind(address)
            return cls(sock, address, on_wake)
        except (OSError, NotImplementedError):
            # (NotImplementedError: an event loop without add_reader.)
            sock.close()
            return None

    def _readable(self) -> None:
        # Drain everything queued: however many processes committed, one wake.
        with contextlib.suppress(OSError):
            while self._socket.recv(64):
                pass
        self._on_wake()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self._socket.fileno())
        self._socket.close()
        # Only our own file: a watcher that started after us may have bound its own.
        with contextlib.suppress(OSError):
            if os.stat(self._address).st_ino == self._inode:
                os.unlink(self._address)


def _someone_listens(address: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.setblocking(False)
        probe.sendto(b"", address)
    except BlockingIOError:
        return True  # bound, with a full queue
    except OSError:
        return False  # ECONNREFUSED: a file nobody is bound to
    finally:
        probe.close()
    return True
