"""Read models as pure folds, shared by the client, the server and the tests.

``fold``/``apply`` turn events (in canonical order) into a :class:`CareerState`
of facts; the view modules (``progress``, ``corrections``, ``timeline``,
``activity``, ``agenda``, ``skills``, ``summary``) turn a state and a ``today``
into what people see. Both sides run exactly this code, so they always agree.
"""

from __future__ import annotations

from careerlog.shared.projections.fold import apply, fold, iso_week, needs_refold
from careerlog.shared.projections.state import (
    CareerState,
    copy_state,
    decode_state,
    encode_state,
    new_state,
)

__all__ = [
    "CareerState",
    "apply",
    "copy_state",
    "decode_state",
    "encode_state",
    "fold",
    "iso_week",
    "needs_refold",
    "new_state",
]
