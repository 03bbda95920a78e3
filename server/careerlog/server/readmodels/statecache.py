"""The decoded current states of the users read last, each keyed by its checkpoint.

Goal progress and every other ``/v1/me`` view start from the user's whole
folded state: a row of one to a few MB whose decoding costs more than the
view. The projector writes a state and its checkpoint in one transaction, so
``(pos, updated_ms)`` of the checkpoint names one state: a reader that finds
the key unchanged may keep the state it decoded, and one that finds it moved
decodes the new row (read in the same statement as its key). A rebuild
rewrites the checkpoint's ``updated_ms`` even when ``pos`` stays. Cached
states are shared between requests: callers only read them.
"""

from __future__ import annotations

from collections import OrderedDict

from careerlog.shared.projections.state import CareerState

__all__ = ["StateCache", "StateKey"]

#: ``(pos, updated_ms)`` of the checkpoint the state was read with.
StateKey = tuple[int, int]

#: A decoded 100,000-event state is tens of MB of objects: keep only a few.
DEFAULT_SIZE = 8


class StateCache:
    """Least recently used, at most ``size`` users."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._size = size
        self._states: OrderedDict[int, tuple[StateKey, CareerState]] = OrderedDict()

    def get(self, user_id: int, key: StateKey) -> CareerState | None:
        entry = self._states.get(user_id)
        if entry is None or entry[0] != key:
            return None
        self._states.move_to_end(user_id)
        return entry[1]

    def put(self, user_id: int, key: StateKey, state: CareerState) -> None:
        if self._size <= 0:
            return
        self._states[user_id] = (key, state)
        self._states.move_to_end(user_id)
        while len(self._states) > self._size:
            self._states.popitem(last=False)
