"""Organisations: who belongs to one, and who may read its aggregates.

Rules every implementation keeps:
- An organisation holds membership and nothing else: no user data beyond
  "this user is a member" and "this user is an admin". Its aggregates are
  computed from the members' read models (:class:`MemberFacts`), never from
  the raw log, and suppress every group smaller than five.
- Membership and administration are separate: ``member`` people are counted
  in the aggregates; ``admin`` people may read them (an HR lead need not be
  counted, a member need not read).
- Keys lead with the organisation id (``org_members`` is keyed
  ``(org_id, user_id)``, with an index by user for account deletion). Under
  Citus these small, rarely written tables would be reference tables, like
  the accounts directory.
- Only the operator changes them (``careerlog-server org …``); the API reads.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from careerlog.server.store.base import StoreError

__all__ = [
    "ORG_ID_PATTERN",
    "Membership",
    "OrgExists",
    "OrgStore",
    "UnknownOrg",
    "check_org_id",
]

#: An organisation id: lowercase letters, digits, '-', '_' and '.', 1-64 long.
ORG_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_ORG_ID = re.compile(ORG_ID_PATTERN)


class OrgExists(StoreError):
    def __init__(self, org: str) -> None:
        super().__init__(f"an organisation {org!r} already exists")
        self.org = org


class UnknownOrg(StoreError):
    def __init__(self, org: str) -> None:
        super().__init__(f"no organisation {org!r}")
        self.org = org


def check_org_id(org: str) -> str:
    if not _ORG_ID.fullmatch(org):
        raise StoreError(
            f"{org[:80]!r} is not an organisation id: 1-64 lowercase letters, digits, '.', '-', '_'"
        )
    return org


@dataclass(frozen=True, slots=True)
class Membership:
    org: str
    member: bool
    admin: bool


class OrgStore(abc.ABC):
    """Organisations and their memberships. Open with :func:`careerlog.server.orgs.open_orgs`."""

    @abc.abstractmethod
    async def create_org(self, org: str, now_ms: int) -> None:
        """Create an organisation; :class:`OrgExists` if the id is taken."""

    @abc.abstractmethod
    async def org_exists(self, org: str) -> bool: ...

    @abc.abstractmethod
    async def add(self, org: str, user_id: int, now_ms: int, *, admin: bool) -> bool:
        """Make the user a member (or an admin); False if they already were.

        :class:`UnknownOrg` if there is no such organisation.
        """

    @abc.abstractmethod
    async def remove(self, org: str, user_id: int, *, admin: bool) -> bool:
        """Take the user's membership (or administration) away; False if they had none.

        A user left with neither role leaves the organisation.
        """

    @abc.abstractmethod
    async def orgs(self) -> list[tuple[str, int, int]]:
        """Every organisation as ``(org, members, admins)``, by id: for the operator."""

    @abc.abstractmethod
    async def members(self, org: str) -> list[int]:
        """The user ids of the organisation's members (admins only are not members)."""

    @abc.abstractmethod
    async def memberships(self, user_id: int) -> list[Membership]:
        """The organisations the user belongs to or administers, by id."""

    @abc.abstractmethod
    async def remove_user(self, user_id: int) -> None:
        """Forget the user in every organisation (account deletion)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def is_admin(self, org: str, user_id: int) -> bool:
        return any(m.org == org and m.admin for m in await self.memberships(user_id))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
