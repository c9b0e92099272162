"""Running the app under uvicorn, with the WebSocket size limit derived from the protocol limits."""

from __future__ import annotations

import logging
import socket
import sys

import uvicorn

from edge.config import ServeConfig
from edge.service.app import create_app
from edge.service.worker import CounterFactory

# Messages up to this many times the frame-message cap still get an 'error' ack on an open connection; beyond it
# the WebSocket layer closes the connection (1009) before the app sees the message.
WS_SIZE_MARGIN = 2


def uvicorn_config(config: ServeConfig, *, make_counter: CounterFactory | None = None) -> uvicorn.Config:
    """The uvicorn settings for ``config`` (the app is built here)."""
    return uvicorn.Config(
        create_app(config, make_counter=make_counter),
        host=config.service.host,
        port=config.service.port,
        log_level=config.service.log_level,
        ws_max_size=WS_SIZE_MARGIN * config.limits.max_message_bytes + config.limits.max_header_bytes,
        lifespan="on",
        timeout_graceful_shutdown=config.service.shutdown_grace_s + 5,
    )


def run(config: ServeConfig, sock: socket.socket | None = None) -> None:
    """Serve until SIGINT/SIGTERM. ``sock``: an already bound socket (tests bind port 0 and pass it)."""
    logging.basicConfig(
        stream=sys.stderr, level=config.service.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    server = uvicorn.Server(uvicorn_config(config))
    server.run(sockets=[sock] if sock is not None else None)
