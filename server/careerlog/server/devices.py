"""The HTTP API for devices: enroll one with an enrollment token, list and revoke them.

Enrolling a device id the user already has renews that device: a new token,
the old ones dead, a revocation lifted. The enrollment token (the operator's
word that this is the user) is what authorises it, as it would a new device;
keeping the id keeps the device's own sequence of events, which a new id
would strand in the home's push queue.

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
from litestar.status_codes import HTTP_201_CREATED, HTTP_429_TOO_MANY_REQUESTS
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
    #: When the token stops working (ms since the epoch); None: never.
    expires_ms: int | None = None
    #: True when the user already had this device: it got a new token, its
    #: earlier tokens stopped working and a revocation was lifted.
    renewed: bool = False


class DeviceInfo(msgspec.Struct, frozen=True, kw_only=True):
    device: str
    name: str
    created_ms: int
    revoked_ms: int | None
    #: True for the device whose token made this request.
    current: bool
    #: When the device's token expires (ms since the epoch); None: never.
    token_expires_ms: int | None = None


class TooManyRequests(ClientException):
    status_code = HTTP_429_TOO_MANY_REQUESTS


async def current_device(
    request: Request[Any, Any, State], runtime: NamedDependency[Runtime]
) -> DeviceRecord:
    """The active device whose token authenticates this request (else 401)."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise NotAuthorizedException("send Authorization: Bearer <device token>")
    device = await runtime.store.device_for_token(hash_token(token))
    if device is None:
        raise NotAuthorizedException("unknown device token")
    if (refusal := device.refusal(now_ms())) is not None:
        raise NotAuthorizedException(f"this device's token was {refusal}")
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
    ttl = runtime.settings.device_token_ttl_ms
    expires = None if ttl is None else now + ttl
    store = runtime.store
    renewed = False
    try:
        await store.add_device(user_id, data.device, hash_token(token), data.name, now, expires)
    except DeviceExists:
        # The device comes back (found after a revocation, token lost or
        # expired): same id, so it carries on with its own sequence of events.
        renewed = await store.renew_device(
            user_id, data.device, hash_token(token), data.name, expires
        )
        if not renewed:  # devices go only with their user, deleted meanwhile
            outcomes.labels("unknown_user").inc()
            raise PermissionDeniedException(
                "the enrollment token's user no longer exists"
            ) from None
        # Sockets still open with an earlier token close (theirs no longer exists).
        await runtime.publish_revocation(user_id, data.device)
    except UnknownUser:
        outcomes.labels("unknown_user").inc()
        raise PermissionDeniedException("the enrollment token's user no longer exists") from None
    outcomes.labels("renewed" if renewed else "enrolled").inc()
    log.info(
        "device renewed" if renewed else "device enrolled",
        extra={"user_id": user_id, "device": data.device, "client": client},
    )
    return EnrolledDevice(
        user_id=user_id, device=data.device, token=token, expires_ms=expires, renewed=renewed
    )


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
            token_expires_ms=record.token_expires_ms,
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
