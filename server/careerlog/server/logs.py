"""Structured logs: one JSON object per line (or plain text), for the server and uvicorn alike.

Every line has ``ts`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``,
``msg`` and ``node``; whatever a call passes in ``extra=`` (``user_id``,
``device``, ``close_code``, counts) becomes a field of its own, so a log
pipeline can filter on it without parsing sentences. uvicorn's loggers
propagate to the same root handler (the CLI gives uvicorn ``log_config=None``),
so its start-up and access lines come out in the same format.

Callers never pass a token or an event body: the formatter prints what it is
given, so keeping secrets out is the caller's rule (tests check the output).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import msgspec

__all__ = ["JsonFormatter", "LogFormat", "TextFormatter", "configure_logging"]

LogFormat = Literal["json", "text"]

# Attributes every LogRecord has: anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    {*vars(logging.LogRecord("", 0, "", 0, "", None, None))}
    | {"message", "asctime", "color_message", "taskName"}
)

_encoder = msgspec.json.Encoder(enc_hook=repr)


def _timestamp(record: logging.LogRecord) -> str:
    when = datetime.fromtimestamp(record.created, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
    args = record.args
    # uvicorn passes (client, method, path, http version, status) as arguments.
    if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
        client, method, path, _version, status = args
        fields.update(client=client, method=method, path=path, status=status)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "node": self.node,
        }
        for key, value in _fields(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return _encoder.encode(line).decode()


class TextFormatter(logging.Formatter):
    """``ts LEVEL logger: msg key=value …``, for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        fields = _fields(record)
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(
    log_format: LogFormat, level: str, node: str, stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record (the server's and uvicorn's) to ``stream``, default stderr.

    Replaces the root logger's handlers; returns the new one.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(node) if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    # ``debug`` is for the server's own loggers (and uvicorn's, which uvicorn
    # sets itself). Libraries stay at info at most: websockets' debug lines
    # print request headers, Authorization included, and aiosqlite's every query.
    requested = logging.getLevelName(level.upper())
    root.setLevel(max(requested, logging.INFO))
    logging.getLogger("careerlog").setLevel(requested)
    # uvicorn's own loggers then only need their level (set by uvicorn.Config).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    return handler
