"""Analytics: facts about one person that aggregates are computed from.

:class:`MemberFacts` is what the server keeps per person for organisation
aggregates: counts and dates only, never a title, a journal text or a
free-text reason, so a cross-user read of it can reveal nothing a person
wrote. Like the state, it holds facts, never verdicts that depend on today;
the aggregate functions take ``today``.
"""

from datetime import date

import msgspec

from careerlog.shared.projections.state import CareerState

__all__ = ["MemberFacts", "decode_member_facts", "encode_member_facts", "member_facts"]


class MemberFacts(msgspec.Struct, kw_only=True, frozen=True):
    #: Due dates of the goals that are active now (a "current plan" is one due ahead).
    active_goal_dues: tuple[date, ...]
    goals_set: int
    goals_achieved: int
    goals_dropped: int
    #: Days from a milestone's definition to its reaching, for every reached milestone.
    milestone_days: tuple[int, ...]
    #: Revision and other course-correction reason codes, with their counts.
    reason_codes: dict[str, int]
    review_every_days: int | None
    review_dates: tuple[date, ...]
    last_activity_on: date | None


def member_facts(state: CareerState) -> MemberFacts:
    goals = state.goals.values()
    reasons: dict[str, int] = {}
    for entries in state.corrections.values():
        for correction in entries:
            if correction.reason_code is not None:
                reasons[correction.reason_code] = reasons.get(correction.reason_code, 0) + 1
    return MemberFacts(
        active_goal_dues=tuple(sorted(g.due_on for g in goals if g.status == "active")),
        goals_set=len(state.goals),
        goals_achieved=sum(1 for g in goals if g.status == "achieved"),
        goals_dropped=sum(1 for g in goals if g.status == "dropped"),
        milestone_days=tuple(
            (m.reached_on - m.defined_on).days
            for m in state.milestones.values()
            if m.reached_on is not None
        ),
        reason_codes=dict(sorted(reasons.items())),
        review_every_days=state.review_every_days,
        review_dates=tuple(sorted(r.on for r in state.reviews)),
        last_activity_on=state.last_activity_on,
    )


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(MemberFacts)


def encode_member_facts(facts: MemberFacts) -> bytes:
    return _encoder.encode(facts)


def decode_member_facts(data: bytes) -> MemberFacts:
    return _decoder.decode(data)
