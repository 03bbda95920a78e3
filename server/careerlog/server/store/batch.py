"""How a pushed batch splits into duplicates and new events: pure, shared by both backends.

A batch comes from one device in ``dseq`` order. Against the device's
high-water mark ``last`` (read under the per-user lock), each event is:

- *stale* (``dseq <= last``): already held, answered from what was stored;
- *fresh* (``dseq`` is the next one expected): to be stored, as an event or
  as a remembered rejection;
- a *repeat* of a fresh event earlier in the same batch: answered like it;
- beyond the next expected ``dseq``: a gap, and the whole batch is refused.

Keeping this in one pure function means both backends answer every batch the
same way, and the rules can be read without any SQL around them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from careerlog.server.store.base import AppendResult, Incoming, SequenceGap

__all__ = ["BatchPlan", "earlier_result", "plan_batch"]


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

    def results(self, first_pos: int, earlier: Mapping[int, AppendResult]) -> list[AppendResult]:
        """One result per pushed event, given where the accepted ones landed.

        ``first_pos`` is the ``pos`` of the first accepted event; ``earlier``
        maps each stale ``dseq`` to the answer it got when first pushed.
        """
        fresh: dict[int, AppendResult] = {}
        pos = first_pos
        for event in self.fresh:
            if event.rejected is None:
                fresh[event.dseq] = AppendResult("accepted", pos)
                pos += 1
            else:
                code, reason = event.rejected
                fresh[event.dseq] = AppendResult("rejected", None, code, reason)
        answered: set[int] = set()
        results: list[AppendResult] = []
        for event in self.events:
            if event.dseq <= self.last_dseq:
                # A stale dseq with no stored answer cannot happen while the
                # high-water mark is written with the events; answer it as a
                # duplicate rather than fail a push the device must get past.
                results.append(earlier.get(event.dseq, AppendResult("duplicate", None)))
            elif event.dseq in answered:
                first = fresh[event.dseq]
                results.append(first if first.status == "rejected" else _duplicate(first.pos))
            else:
                answered.add(event.dseq)
                results.append(fresh[event.dseq])
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


def earlier_result(pos: int | None, code: str | None, reason: str | None) -> AppendResult:
    """The answer to a re-push, from the stored event or the remembered rejection."""
    if pos is not None:
        return _duplicate(pos)
    return AppendResult("rejected", None, code, reason)


def _duplicate(pos: int | None) -> AppendResult:
    return AppendResult("duplicate", pos)
