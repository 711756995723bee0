"""sockjet's log lines under a server that configured only its own loggers (``uvicorn app:app``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from sockjet._logging import SERVER_ERROR_LOGGER, adopt_server_logging


@pytest.fixture
def bare_logging() -> Iterator[tuple[logging.Logger, logging.Logger]]:
    """Root without handlers (as uvicorn leaves it) for the test; everything restored afterwards."""
    root, ours, server = logging.getLogger(), logging.getLogger("sockjet"), logging.getLogger(SERVER_ERROR_LOGGER)
    parent = logging.getLogger("uvicorn")
    saved = [(log, list(log.handlers), log.propagate, log.level) for log in (root, ours, server, parent)]
    try:
        yield ours, server
    finally:
        for log, handlers, propagate, level in saved:
            log.handlers, log.propagate, log.level = handlers, propagate, level


def _strip() -> None:
    # In the test body: pytest adds its capture handler to the root logger only for the call phase.
    for name in ("", "sockjet", SERVER_ERROR_LOGGER, "uvicorn"):
        logging.getLogger(name).handlers = []


def test_sockjet_lines_go_to_the_servers_handler_when_nothing_handles_them(
    bare_logging: tuple[logging.Logger, logging.Logger],
) -> None:
    ours, server = bare_logging
    _strip()
    assert adopt_server_logging() is False  # no server handler either: nothing to adopt
    handler = logging.StreamHandler()
    server.addHandler(handler)
    server.setLevel(logging.INFO)
    assert adopt_server_logging() is True
    assert (ours.handlers, ours.propagate, ours.level) == ([handler], False, logging.INFO)
    assert adopt_server_logging() is False  # once is enough


def test_the_handler_may_sit_on_the_servers_parent_logger(bare_logging: tuple[logging.Logger, logging.Logger]) -> None:
    ours, _server = bare_logging
    _strip()
    handler = logging.StreamHandler()
    logging.getLogger("uvicorn").addHandler(handler)  # where uvicorn's own config puts it
    assert adopt_server_logging() is True
    assert ours.handlers == [handler]


def test_a_server_logger_that_does_not_propagate_gives_nothing(
    bare_logging: tuple[logging.Logger, logging.Logger],
) -> None:
    _ours, server = bare_logging
    _strip()
    logging.getLogger("uvicorn").addHandler(logging.StreamHandler())
    server.propagate = False
    assert adopt_server_logging() is False


def test_configured_logging_is_left_alone(bare_logging: tuple[logging.Logger, logging.Logger]) -> None:
    ours, server = bare_logging
    _strip()
    server.addHandler(logging.StreamHandler())
    logging.getLogger().addHandler(logging.NullHandler())
    assert adopt_server_logging() is False
    assert ours.handlers == []
