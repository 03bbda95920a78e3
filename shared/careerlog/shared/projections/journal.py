"""The journal: what the person wrote in their own words, gathered in one view.

Reviews (with their notes and decisions), the reflections and lessons of
closed goals, and achievements with their impact. The notes of daily
activity live in the timeline (the state keeps activity as counts, not text).
This is what a coach sees only under the explicit ``journal`` scope.
"""

from datetime import date

import msgspec

from careerlog.shared.projections.state import Achievement, CareerState, Review

__all__ = ["Journal", "Reflection", "journal"]


class Reflection(msgspec.Struct, kw_only=True, frozen=True):
    goal_id: str
    title: str
    status: str
    closed_on: date | None
    reflection: str
    lessons: str


class Journal(msgspec.Struct, kw_only=True, frozen=True):
    #: Newest first.
    reviews: list[Review]
    #: Closed goals with a reflection or lessons, most recently closed first.
    reflections: list[Reflection]
    #: Newest first.
    achievements: list[Achievement]


def journal(state: CareerState) -> Journal:
    reflections = [
        Reflection(
            goal_id=g.goal_id,
            title=g.title,
            status=g.status,
            closed_on=g.closed_on,
            reflection=g.reflection,
            lessons=g.lessons,
        )
        for g in state.goals.values()
        if g.reflection or g.lessons
    ]
    reflections.sort(key=lambda r: (r.closed_on or date.min, r.goal_id), reverse=True)
    return Journal(
        reviews=sorted(state.reviews, key=lambda r: (r.on, r.review_id), reverse=True),
        reflections=reflections,
        achievements=sorted(
            state.achievements, key=lambda a: (a.on, a.achievement_id), reverse=True
        ),
    )
