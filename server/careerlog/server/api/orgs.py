"""Organisation aggregates: ``/v1/orgs/…``, for the organisation's admins only.

The figures come from the members' :class:`MemberFacts` (counts and dates,
no text) through :func:`careerlog.shared.projections.analytics.org_aggregates`,
which suppresses every group smaller than five. Nothing here names a member.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
from litestar import get
from litestar.params import PathParameter

from careerlog.server.api.errors import ERROR_RESPONSES, Forbidden, NotFound
from careerlog.server.api.params import Caller, Models, Orgs, server_today
from careerlog.server.orgs import ORG_ID_PATTERN
from careerlog.shared.projections.analytics import (
    OrgAggregates,
    decode_member_facts,
    org_aggregates,
)

__all__ = ["ORG_ROUTES", "OrgMembership"]

TAGS = ["organisations"]

_ORG_ID = re.compile(ORG_ID_PATTERN)

OrgId = Annotated[str, PathParameter(description="An organisation id.")]


class OrgMembership(msgspec.Struct, kw_only=True):
    org: str
    #: Counted in the organisation's aggregates.
    member: bool
    #: May read the organisation's aggregates.
    admin: bool


@get(
    "/",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="The organisations the caller belongs to or administers",
)
async def my_orgs(orgs: Orgs, caller: Caller) -> list[OrgMembership]:
    return [
        OrgMembership(org=m.org, member=m.member, admin=m.admin)
        for m in await orgs.memberships(caller.user_id)
    ]


@get(
    "/{org:str}/aggregates",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Aggregates over the members; groups under five are suppressed (admins only)",
)
async def org_aggregates_view(
    orgs: Orgs,
    models: Models,
    caller: Caller,
    org: OrgId,
) -> OrgAggregates:
    # Someone neither member nor admin learns nothing, not even whether the
    # organisation exists: the same 404 as for an id that names none.
    mine = {m.org: m for m in await orgs.memberships(caller.user_id)}
    membership = mine.get(org) if _ORG_ID.fullmatch(org) else None
    if membership is None:
        raise NotFound("unknown_org", f"no organisation {org[:64]!r} of yours")
    if not membership.admin:
        raise Forbidden("not_org_admin", f"only admins of {org!r} may read its aggregates")
    facts = await models.member_facts(await orgs.members(org))
    return org_aggregates([decode_member_facts(data) for data in facts.values()], server_today())


ORG_ROUTES = [my_orgs, org_aggregates_view]
