"""Running the app under uvicorn, the same way from the CLI and from the tests."""

from __future__ import annotations

import socket

import uvicorn

from careerlog.server.app import close_connections, create_app
from careerlog.server.runtime import Runtime
from careerlog.server.settings import Settings

__all__ = ["SyncServer", "sync_server"]


class SyncServer(uvicorn.Server):
    """uvicorn, but on shutdown the sync sockets close with 1001 first.

    uvicorn would close them with 1012 and only then run the app's lifespan
    shutdown; docs/protocol.md promises 1001 (going away: reconnect soon).
    """

    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await close_connections(self.runtime)
        await super().shutdown(sockets)

    @property
    def port(self) -> int:
        """The port actually bound (useful with ``port=0``)."""
        return int(self.servers[0].sockets[0].getsockname()[1])


def sync_server(
    settings: Settings, *, log_level: str = "info", own_logging: bool = False
) -> SyncServer:
    """The server, ready to ``run()`` or ``serve()``.

    ``own_logging``: the caller configured logging (``logs.configure_logging``),
    so uvicorn installs no handlers of its own and its records reach ours.
    """
    app = create_app(settings)
    limits = settings.session_limits
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        log_config=None if own_logging else uvicorn.config.LOGGING_CONFIG,
        lifespan="on",
        # Frames up to twice the protocol limit reach the session, which answers
        # an oversized one with `frame_too_large` (4003) instead of the bare
        # 1009 the websocket layer would send; beyond that the layer refuses.
        ws_max_size=2 * limits.max_frame_bytes + 1024,
        # The sync protocol has its own Ping/Pong with its own timeout.
        ws_ping_interval=None,
        ws_ping_timeout=None,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    runtime = app.state["runtime"]
    assert isinstance(runtime, Runtime)
    return SyncServer(config, runtime)
