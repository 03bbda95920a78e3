"""The read-only fast path agrees with the store, and fails clearly."""

from __future__ import annotations

from datetime import date
from functools import partial
from pathlib import Path

import pytest

from careerlog.client import commands
from careerlog.client import store as store_module
from careerlog.client.home import HomeReader, StoreError
from careerlog.client.store import LocalStore
from careerlog.shared.projections import encode_state


async def test_the_reader_sees_the_same_state_as_the_store(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "SNAPSHOT_EVERY", 3)  # a snapshot plus a tail
    goal = await store.record(partial(commands.set_goal, title="G", due_on=date(2027, 1, 1)))
    for value in range(1, 8):
        await store.record(
            partial(commands.record_progress, goal=goal.goal_id, value=value)  # type: ignore[attr-defined]
        )
    wrong = await store.record(partial(commands.log_activity, text="typo"))
    await store.record(partial(commands.retract, target=wrong.id, known=True))
    with HomeReader.open(store.home) as reader:
        assert encode_state(reader.state()) == encode_state(store.state)
        assert reader.pending_count() == await store.pending_count() == 10
        assert reader.device == store.device
        assert reader.rejected() == []


def test_a_missing_home_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="careerlog init"):
        HomeReader.open(tmp_path / "nowhere")
