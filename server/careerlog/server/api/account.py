"""The person's account as a whole: export every event, or delete every trace.

- Export streams the user's events from the event store as JSON Lines, in
  the server's order (``pos``), one page at a time, so a long history never
  sits in memory. Each line is the event in the JSON form of docs/events.md
  (upcast to the current schema), the same form ``careerlog export`` writes,
  so ``careerlog import`` takes it back losslessly.
- Deletion revokes every device first (their live sockets close on every
  node, and a token in flight stops working), then deletes the log, the
  accounts rows, the read models and the organisation memberships (the event
  store's ``delete_user`` does all of it in one transaction; the read models'
  and organisations' own deletes after it are idempotent and cover a store
  that did not). It asks for the user's name in ``confirm`` so that no stray
  request deletes a life's record by accident.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from litestar import delete, get
from litestar.params import QueryParameter
from litestar.response import Stream

from careerlog.server.api.errors import ERROR_RESPONSES, BadRequest
from careerlog.server.api.params import Caller, Models, Orgs, Server
from careerlog.server.connection import now_ms
from careerlog.server.runtime import Runtime
from careerlog.shared.codec import decode_event, encode_event_json

__all__ = ["ACCOUNT_ROUTES", "delete_me", "export_me"]

TAGS = ["me"]

#: Events read from the store per page of the export.
EXPORT_PAGE = 1000


async def export_lines(runtime: Runtime, user_id: int) -> AsyncIterator[bytes]:
    after = 0
    while True:
        page = await runtime.store.read(user_id, after, EXPORT_PAGE)
        if not page:
            return
        yield b"".join(encode_event_json(decode_event(e.body)) + b"\n" for e in page)
        after = page[-1].pos


@get(
    "/export",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Every event of the person, as JSON Lines",
    media_type="application/x-ndjson",
)
async def export_me(runtime: Server, caller: Caller) -> Stream:
    return Stream(
        export_lines(runtime, caller.user_id),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="careerlog-export.jsonl"'},
    )


@delete(
    "/",
    tags=TAGS,
    responses=ERROR_RESPONSES,
    summary="Delete the account and every trace of its data",
)
async def delete_me(
    runtime: Server,
    models: Models,
    orgs: Orgs,
    caller: Caller,
    confirm: Annotated[
        str, QueryParameter(description="The user's name, to confirm.", max_length=300)
    ],
) -> None:
    user_id = caller.user_id
    if confirm != await runtime.store.user_name(user_id):
        raise BadRequest(
            "confirmation_required", "to delete the account, pass confirm=<your user name>"
        )
    now = now_ms()
    for device in await runtime.store.list_devices(user_id):
        if device.revoked_ms is None:
            await runtime.store.revoke_device(user_id, device.device, now)
        await runtime.publish_revocation(user_id, device.device)
    await runtime.store.delete_user(user_id)
    await orgs.remove_user(user_id)
    await models.delete_user(user_id)


ACCOUNT_ROUTES = [export_me, delete_me]
