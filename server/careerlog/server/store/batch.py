"""How a pushed batch splits into duplicates and new events: pure, shared by both backends.

A batch comes from one device in ``dseq`` order. Against the device's
high-water mark ``last`` (read under the per-user lock), each event is:

- *stale* (``dseq <= last``): already held, answered from what was stored
  when it has the stored event's id (or the remembered rejection's); with
  another id it is a different event on a reused ``dseq`` (a device's home
  restored from a backup, or copied), refused alone as ``dseq_reused`` and
  stored nowhere, since answering it ``duplicate`` would make the device
  drop an event the server never held;
- *fresh* (``dseq`` is the next one expected): to be stored, as an event or
  as a remembered rejection;
- a *repeat* of a fresh event earlier in the same batch: answered like it
  (or ``dseq_reused``, with another id);
- beyond the next expected ``dseq``: a gap, and the whole batch is refused.

An id is compared only when both sides have one: ``None`` (a rejection
remembered before ids were kept, a body or envelope without a readable id)
takes the push as a re-push, as before.

Keeping this in one pure function means both backends answer every batch the
same way, and the rules can be read without any SQL around them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias
from uuid import UUID

import msgspec

from careerlog.server.store.base import AppendResult, Incoming, SequenceGap
from careerlog.shared.ids import id_bytes
from careerlog.shared.protocol.codes import DSEQ_REUSED

__all__ = ["BatchPlan", "Earlier", "earlier_result", "plan_batch"]

#: What a stale ``dseq`` was answered when first pushed, and the id of the
#: event pushed then (None: unknown).
Earlier: TypeAlias = tuple[AppendResult, bytes | None]


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """A batch checked against the device's high-water mark; nothing stored yet."""

    events: tuple[Incoming, ...]
    last_dseq: int
    fresh: tuple[Incoming, ...]
    #: Lowest and highest stale ``dseq``, to look their answers up in one query.
    stale_range: tuple[int, int] | None

    @property
    def new_last_dseq(self) -> int:
        return self.last_dseq + len(self.fresh)

    @property
    def accepted(self) -> tuple[Incoming, ...]:
        """The fresh events to store, in order; they take consecutive positions."""
        return tuple(event for event in self.fresh if event.rejected is None)

    @property
    def rejected(self) -> tuple[Incoming, ...]:
        """The fresh events the caller refused: remembered, never stored."""
        return tuple(event for event in self.fresh if event.rejected is not None)

    def results(self, first_pos: int, earlier: Mapping[int, Earlier]) -> list[AppendResult]:
        """One result per pushed event, given where the accepted ones landed.

        ``first_pos`` is the ``pos`` of the first accepted event; ``earlier``
        maps each stale ``dseq`` to the answer it got when first pushed and
        the id it was pushed with.
        """
        fresh: dict[int, Earlier] = {}
        pos = first_pos
        for event in self.fresh:
            if event.rejected is None:
                fresh[event.dseq] = (AppendResult("accepted", pos), event.id)
                pos += 1
            else:
                code, reason = event.rejected
                fresh[event.dseq] = (AppendResult("rejected", None, code, reason), event.id)
        answered: set[int] = set()
        results: list[AppendResult] = []
        for event in self.events:
            if event.dseq <= self.last_dseq:
                # A stale dseq with no stored answer cannot happen while the
                # high-water mark is written with the events; answer it as a
                # duplicate rather than fail a push the device must get past.
                answer, held = earlier.get(event.dseq, (_duplicate(None), None))
            elif event.dseq in answered:
                first, held = fresh[event.dseq]
                answer = first if first.status == "rejected" else _duplicate(first.pos)
            else:
                answered.add(event.dseq)
                results.append(fresh[event.dseq][0])
                continue
            if held is not None and event.id is not None and held != event.id:
                answer = _reused(event, held, self.new_last_dseq)
            results.append(answer)
        return results


def plan_batch(device: str, events: Sequence[Incoming], last_dseq: int) -> BatchPlan:
    """Check a batch against the device's high-water mark ``last_dseq``.

    Raises :class:`SequenceGap` (expecting ``last_dseq + 1``, since nothing of
    the batch will be stored) and ``ValueError`` for an event of another device.
    """
    expected = last_dseq + 1
    fresh: list[Incoming] = []
    stale: list[int] = []
    for event in events:
        if event.device != device:
            raise ValueError(f"event of device {event.device!r} in a batch from {device!r}")
        if event.dseq <= last_dseq:
            stale.append(event.dseq)
        elif event.dseq == expected:
            fresh.append(event)
            expected += 1
        elif event.dseq > expected:
            raise SequenceGap(device, last_dseq + 1)
        # else: a repeat of a fresh event earlier in this batch.
    stale_range = (min(stale), max(stale)) if stale else None
    return BatchPlan(tuple(events), last_dseq, tuple(fresh), stale_range)


def earlier_result(
    pos: int | None,
    code: str | None,
    reason: str | None,
    event_id: bytes | None = None,
    body: bytes | None = None,
) -> Earlier:
    """The answer to a re-push, from the stored event or the remembered
    rejection, and the id pushed then: a rejection's ``event_id`` (NULL for
    one remembered before ids were kept), or read from a stored event's
    ``body``."""
    if event_id is None and body is not None:
        event_id = _id_in(body)
    if pos is not None:
        return _duplicate(pos), event_id
    return AppendResult("rejected", None, code, reason), event_id


def _duplicate(pos: int | None) -> AppendResult:
    return AppendResult("duplicate", pos)


def _reused(event: Incoming, held: bytes, last_dseq: int) -> AppendResult:
    assert event.id is not None
    return AppendResult(
        "rejected",
        None,
        DSEQ_REUSED,
        f"dseq {event.dseq} of device {event.device} already holds another event on the"
        f" server ({UUID(bytes=held)}); this one ({UUID(bytes=event.id)}) was not stored:"
        " the device's log reused a sequence number (a home restored from a backup, or"
        f" copied). The server holds this device's events up to dseq {last_dseq}: give the"
        " event a dseq after them and push it again",
    )


class _Identity(msgspec.Struct):
    """The one envelope field an old stored body is read for."""

    id: Any = None


_identity_decoder = msgspec.msgpack.Decoder(_Identity)


def _id_in(body: bytes) -> bytes | None:
    try:
        return id_bytes(_identity_decoder.decode(body).id)
    except msgspec.DecodeError:
        return None
