"""The HTTP API for devices: enroll one with an enrollment token, list and revoke them.

Every error is a 4xx with a JSON ``detail``: a device that sends a bad body or
a used token learns what to fix, and the operator's logs never fill with 5xx
for what is a client's mistake. Listing and revoking are authenticated by a
device token and scoped to that device's user: nobody can see or touch
another person's devices.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import (
    ClientException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_409_CONFLICT, HTTP_429_TOO_MANY_REQUESTS
from msgspec import Meta

from careerlog.server.connection import now_ms
from careerlog.server.runtime import Runtime
from careerlog.server.store import DeviceExists, UnknownUser
from careerlog.server.store.base import DeviceRecord
from careerlog.server.tokens import DEVICE_PREFIX, bearer_token, hash_token, new_token

__all__ = [
    "DeviceInfo",
    "EnrolledDevice",
    "Enrollment",
    "current_device",
    "enroll_device",
    "list_devices",
    "revoke_device",
]

#: After a refused enrollment (the device id is taken) the token is put back
#: for this long, so the person can retry with another id.
RETRY_WINDOW_MS = 3600 * 1000

log = logging.getLogger("careerlog.server.devices")

DeviceId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]


class Enrollment(msgspec.Struct, frozen=True, kw_only=True):
    """Register a device with a single-use enrollment token from the operator."""

    enrollment_token: Annotated[str, Meta(min_length=1, max_length=256)]
    #: The device id the device stamps on its events (1-64 characters).
    device: DeviceId
    #: A name for people, e.g. "work laptop".
    name: Annotated[str, Meta(max_length=100)] = ""


class EnrolledDevice(msgspec.Struct, frozen=True, kw_only=True):
    """The new device's token: shown once, only its hash is stored."""

    user_id: int
    device: str
    token: str
    sync_path: str = "/v1/sync"


class DeviceInfo(msgspec.Struct, frozen=True, kw_only=True):
    device: str
    name: str
    created_ms: int
    revoked_ms: int | None
    #: True for the device whose token made this request.
    current: bool


class TooManyRequests(ClientException):
    status_code = HTTP_429_TOO_MANY_REQUESTS


class Conflict(ClientException):
    status_code = HTTP_409_CONFLICT


async def current_device(
    request: Request[Any, Any, State], runtime: NamedDependency[Runtime]
) -> DeviceRecord:
    """The active device whose token authenticates this request (else 401)."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise NotAuthorizedException("send Authorization: Bearer <device token>")
    device = await runtime.store.device_for_token(hash_token(token))
    if device is None or device.revoked_ms is not None:
        raise NotAuthorizedException("unknown or revoked device token")
    return device


@post("/v1/devices", status_code=HTTP_201_CREATED, tags=["devices"])
async def enroll_device(
    request: Request[Any, Any, State], data: JSONBody[Enrollment], runtime: NamedDependency[Runtime]
) -> EnrolledDevice:
    """Register a device of the user who was given the enrollment token."""
    client = request.client.host if request.client else "unknown"
    now = now_ms()
    outcomes = runtime.metrics.enrollments
    if not runtime.enrollments.allow(client, now):
        outcomes.labels("rate_limited").inc()
        log.warning("enrollment rate-limited", extra={"client": client})
        raise TooManyRequests(
            "too many enrollment attempts; try again later",
            headers={"Retry-After": str(runtime.enrollments.retry_after_s(client))},
        )
    enrollment_hash = hash_token(data.enrollment_token)
    user_id = await runtime.store.consume_enrollment(enrollment_hash, now)
    if user_id is None:
        outcomes.labels("bad_token").inc()
        log.warning("enrollment refused: unknown, expired or used token", extra={"client": client})
        raise PermissionDeniedException("the enrollment token is unknown, expired or already used")
    token = new_token(DEVICE_PREFIX)
    try:
        await runtime.store.add_device(user_id, data.device, hash_token(token), data.name, now)
    except DeviceExists:
        outcomes.labels("device_taken").inc()
        await runtime.store.add_enrollment(user_id, enrollment_hash, now + RETRY_WINDOW_MS)
        raise Conflict(
            f"this user already has a device {data.device!r}; choose another device id "
            "(the enrollment token stays valid for an hour)"
        ) from None
    except UnknownUser:
        outcomes.labels("unknown_user").inc()
        raise PermissionDeniedException("the enrollment token's user no longer exists") from None
    outcomes.labels("enrolled").inc()
    log.info("device enrolled", extra={"user_id": user_id, "device": data.device, "client": client})
    return EnrolledDevice(user_id=user_id, device=data.device, token=token)


@get("/v1/devices", tags=["devices"])
async def list_devices(
    runtime: NamedDependency[Runtime], caller: NamedDependency[DeviceRecord]
) -> list[DeviceInfo]:
    """The authenticated user's devices, oldest first, revoked ones included."""
    return [
        DeviceInfo(
            device=record.device,
            name=record.name,
            created_ms=record.created_ms,
            revoked_ms=record.revoked_ms,
            current=record.device == caller.device,
        )
        for record in await runtime.store.list_devices(caller.user_id)
    ]


@delete("/v1/devices/{device_id:str}", tags=["devices"])
async def revoke_device(
    runtime: NamedDependency[Runtime],
    caller: NamedDependency[DeviceRecord],
    device_id: FromPath[str],
) -> None:
    """Revoke one of the user's devices: its token stops working and its live socket closes."""
    if not await runtime.store.revoke_device(caller.user_id, device_id, now_ms()):
        raise NotFoundException(f"no active device {device_id!r}")
    log.info(
        "device revoked",
        extra={"user_id": caller.user_id, "device": device_id, "by_device": caller.device},
    )
    await runtime.publish_revocation(caller.user_id, device_id)
