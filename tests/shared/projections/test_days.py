"""The day of an event in its own zone, through the fold's remembered last day.

The fold remembers the UTC span of the last day it worked out, so these tests
fold many events in a row, near midnight and across DST transitions, in several
zones, and check every day against the exact conversion.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from careerlog.shared.events import ActivityLogged, ProgressRecorded, TaskPlanned
from careerlog.shared.projections import apply, fold, iso_week, new_state
from tests.shared.builders import History

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Asia/Kathmandu",  # +05:45
    "America/St_Johns",  # -03:30, with DST
    "Pacific/Apia",  # skipped 30 December 2011
    "+09:00",
    "-05:30",
    "Nowhere/Unknown",  # UTC
]
RECORDED = datetime(2030, 1, 1, tzinfo=UTC)


def exact_day(moment: datetime, tz: str) -> date:
    if tz == "Nowhere/Unknown":
        tz = "UTC"
    if tz[0] in "+-":
        sign = -1 if tz[0] == "-" else 1
        zone = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
        return moment.astimezone(zone).date()
    return moment.astimezone(ZoneInfo(tz)).date()


# Instants cluster around a few DST transitions and midnights, minutes apart,
# so consecutive events often share a day and sometimes just miss it.
ANCHORS = [
    datetime(2011, 12, 29, 10, tzinfo=UTC),
    datetime(2024, 3, 10, 6, tzinfo=UTC),
    datetime(2024, 3, 31, 0, 30, tzinfo=UTC),
    datetime(2024, 4, 6, 14, 30, tzinfo=UTC),
    datetime(2024, 10, 27, 1, tzinfo=UTC),
    datetime(2024, 11, 3, 5, tzinfo=UTC),
    datetime(1950, 6, 1, 23, 59, tzinfo=UTC),
]
moments = st.builds(
    lambda anchor, minutes: anchor + timedelta(minutes=minutes),
    st.sampled_from(ANCHORS),
    st.integers(-36 * 60, 36 * 60),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(moments, st.sampled_from(ZONES)), min_size=1, max_size=40))
def test_every_event_is_on_its_exact_day_in_its_zone(
    entries: list[tuple[datetime, str]],
) -> None:
    h = History()
    goal_id = h.goal("G", on=RECORDED, recorded=RECORDED)
    progress_days: list[date] = []
    activity_days: list[date] = []
    task_days: dict[str, date] = {}
    for i, (moment, tz) in enumerate(entries):
        when = {"on": moment, "recorded": RECORDED, "tz": tz}
        expected = exact_day(moment, tz)
        if i % 3 == 0:  # the inlined day of a check-in
            h.add(ProgressRecorded, **when, goal_id=goal_id, value=1.0)
            progress_days.append(expected)
        elif i % 3 == 1:  # the inlined day of an activity
            h.add(ActivityLogged, **when, activity_id=h.new_record_id(), text="x", kind="other")
            activity_days.append(expected)
        else:  # ``_day``
            task_id = h.new_record_id()
            h.add(TaskPlanned, **when, task_id=task_id, title="T")
            task_days[task_id] = expected
    state = fold(h.events)
    assert [p.on for p in state.goals[goal_id].points] == progress_days
    assert {t: task.planned_on for t, task in state.tasks.items()} == task_days
    touched = progress_days + activity_days
    assert state.weeks == Counter(iso_week(d) for d in touched)
    assert state.last_activity_on == max(touched, default=None)


def test_a_non_utc_occurred_at_is_converted_first() -> None:
    h = History()
    goal_id = h.goal("G")
    tokyo = timezone(timedelta(hours=9))
    # 23:30 UTC on 1 March is 00:30 on 2 March in Berlin, whatever zone it is written in.
    h.add(
        ProgressRecorded,
        on=datetime(2026, 3, 2, 8, 30, tzinfo=tokyo),
        goal_id=goal_id,
        value=1,
        tz="Europe/Berlin",
    )
    h.add(
        ProgressRecorded,
        on=datetime(2026, 3, 1, 23, 0, tzinfo=UTC),
        goal_id=goal_id,
        value=2,
        tz="Europe/Berlin",
    )
    assert [p.on for p in h.state().goals[goal_id].points] == [date(2026, 3, 2), date(2026, 3, 2)]


def test_fold_counts_like_apply() -> None:
    h = History()
    goal_id = h.goal("G")
    for n in range(1, 6):
        h.progress(goal_id, n, date(2026, 1, n))
    state = new_state()
    for event in h.events:
        apply(state, event)
    folded = fold(h.events)
    assert (folded.event_count, folded.last_key) == (state.event_count, state.last_key)
    assert (folded.event_count, folded.last_key) == (6, state.last_key)
    assert fold([]).last_key is None
