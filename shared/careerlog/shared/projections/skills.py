"""Skill gaps: where each planned skill stands against its target level."""

from datetime import date

import msgspec

from careerlog.shared.projections.state import CareerState

__all__ = ["SkillGap", "skill_gaps"]


class SkillGap(msgspec.Struct, kw_only=True):
    skill: str
    current_level: int
    target_level: int
    gap: int
    by_date: date | None
    goal_id: str | None
    feedback_mentions: int
    research_mentions: int


def skill_gaps(state: CareerState) -> list[SkillGap]:
    """Planned skills, the widest gap first."""
    rows = [
        SkillGap(
            skill=plan.skill,
            current_level=plan.current_level,
            target_level=plan.target_level,
            gap=max(0, plan.target_level - plan.current_level),
            by_date=plan.by_date,
            goal_id=plan.goal_id,
            feedback_mentions=state.feedback_skills.get(key, 0),
            research_mentions=state.research.get(f"skill:{key}", 0),
        )
        for key, plan in state.skills.items()
    ]
    rows.sort(key=lambda r: (-r.gap, r.by_date or date.max, r.skill))
    return rows
