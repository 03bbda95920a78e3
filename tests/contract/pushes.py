"""Events as a device pushes them, with bodies that say where they came from."""

from __future__ import annotations

import msgspec

from careerlog.server.store import Incoming

__all__ = ["event", "events", "origin"]


def event(
    device: str, dseq: int, *, owner: str = "", rejected: tuple[str, str] | None = None
) -> Incoming:
    """An event as a device pushes it; the body names its origin so reads can be checked."""
    body = msgspec.msgpack.encode({"owner": owner, "device": device, "dseq": dseq})
    return Incoming(device=device, dseq=dseq, hlc=1_000_000 + dseq, body=body, rejected=rejected)


def events(device: str, first: int, last: int, *, owner: str = "") -> list[Incoming]:
    return [event(device, dseq, owner=owner) for dseq in range(first, last + 1)]


def origin(body: bytes) -> tuple[str, str, int]:
    """The owner, device and dseq an :func:`event` body names."""
    fields = msgspec.msgpack.decode(body)
    return fields["owner"], fields["device"], fields["dseq"]
