"""Connecting a home to a sync server: enrollment over HTTP, and the device token file.

``POST <server>/v1/devices`` trades a single-use enrollment token (from the
operator's ``careerlog-server user add|enroll``) for this device's token. The
device token is a secret: it lives in the file ``device_token`` in the home,
readable by its owner only (mode 0600), never in the database (which is copied
by backups and exports) and never printed. The server URL lives in the home's
``meta`` table (``server_url``), where ``careerlog status`` reads it.

Standard library only (``urllib``): ``careerlog login`` needs no HTTP client
package and costs nothing at CLI start-up until it runs.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "SERVER_META",
    "TOKEN_FILE",
    "EnrolledDevice",
    "EnrollmentError",
    "enroll",
    "normalize_server_url",
    "read_token",
    "write_token",
]

SERVER_META = "server_url"
TOKEN_FILE = "device_token"
TIMEOUT_S = 15.0


class EnrollmentError(Exception):
    """Enrollment failed; the message is one line, fit to show a person."""


@dataclass(frozen=True, slots=True)
class EnrolledDevice:
    user_id: int
    device: str
    token: str
    #: True when the server already knew this device (renewed: revoked, expired or lost token).
    renewed: bool = False
    #: When the new token expires (ms since the epoch); None: never.
    expires_ms: int | None = None


def normalize_server_url(text: str) -> str:
    """``https://host[:port][/prefix]`` without a trailing slash (ws(s):// is accepted too)."""
    parts = urlsplit(text.strip())
    scheme = {"http": "http", "https": "https", "ws": "http", "wss": "https"}.get(
        parts.scheme.lower()
    )
    if scheme is None or not parts.hostname:
        raise EnrollmentError(f"not a server URL: {text!r} (use https://host[:port])")
    try:
        parts.port  # noqa: B018 -- validates the port
    except ValueError:
        raise EnrollmentError(f"not a server URL: {text!r} (bad port)") from None
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v1/sync").removesuffix("/v1/devices")
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def enroll(server_url: str, enrollment_token: str, device: str, name: str) -> EnrolledDevice:
    """Register ``device`` with the server; blocking (run it in a thread from async code)."""
    body = json.dumps(
        {"enrollment_token": enrollment_token, "device": device, "name": name[:100]}
    ).encode()
    request = urllib.request.Request(
        f"{server_url}/v1/devices",
        data=body,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            answer = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = _detail(exc)
        match exc.code:
            case 401 | 403:
                raise EnrollmentError(
                    f"the server refused the enrollment token: {detail or 'forbidden'} "
                    "(ask the operator for a new one: careerlog-server user enroll NAME)"
                ) from None
            case 409:
                raise EnrollmentError(f"the server refused this device: {detail}") from None
            case 429:
                raise EnrollmentError(f"too many enrollment attempts: {detail}") from None
            case 404:
                raise EnrollmentError(
                    f"{server_url} is not a Careerlog sync server (no /v1/devices)"
                ) from None
        raise EnrollmentError(f"the server answered HTTP {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise EnrollmentError(f"cannot reach {server_url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise EnrollmentError(f"cannot enroll with {server_url}: {exc}") from None
    try:
        expires = answer.get("expires_ms")
        return EnrolledDevice(
            user_id=int(answer["user_id"]),
            device=str(answer["device"]),
            token=str(answer["token"]),
            renewed=answer.get("renewed") is True,
            expires_ms=None if expires is None else int(expires),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise EnrollmentError(f"{server_url} gave an answer that is not an enrollment") from None


def _detail(error: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(error.read() or b"{}")
    except (OSError, ValueError):
        return ""
    detail = payload.get("detail") if isinstance(payload, dict) else None
    return str(detail).splitlines()[0] if detail else ""


def read_token(home: Path) -> str | None:
    """The device token, or None if this home was never connected."""
    try:
        token = (home / TOKEN_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return token or None


def write_token(home: Path, token: str) -> Path:
    """Write the device token readable by its owner only, atomically."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)  # as LocalStore.open makes it
    path = home / TOKEN_FILE
    temporary = home / f".{TOKEN_FILE}.{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # in case a stale temporary file had wider rights
        os.write(fd, token.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    return path


def _device_api(server_url: str, token: str, method: str, path: str) -> Any:
    """One call to the server's device API with this device's token; blocking."""
    request = urllib.request.Request(
        f"{server_url}{path}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            data = response.read()
    except urllib.error.HTTPError as exc:
        detail = _detail(exc)
        if exc.code == 401:
            raise EnrollmentError(
                "the server does not accept this device any more (revoked?): "
                "careerlog login URL --token TOKEN connects it again"
            ) from None
        if exc.code == 404:
            raise EnrollmentError(detail or "not found") from None
        raise EnrollmentError(f"the server answered HTTP {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise EnrollmentError(f"cannot reach {server_url}: {exc.reason}") from None
    except OSError as exc:
        raise EnrollmentError(f"cannot reach {server_url}: {exc}") from None
    return json.loads(data) if data else None


def list_devices(server_url: str, token: str) -> list[dict[str, Any]]:
    """The user's devices as the server knows them (revoked ones included)."""
    answer = _device_api(server_url, token, "GET", "/v1/devices")
    if not isinstance(answer, list):
        raise EnrollmentError(f"{server_url} gave an answer that is not a device list")
    return [dict(item) for item in answer]


def revoke_device(server_url: str, token: str, device: str) -> None:
    """Revoke one of the user's devices: its token stops working, its socket closes."""
    _device_api(server_url, token, "DELETE", f"/v1/devices/{urllib.parse.quote(device, safe='')}")
