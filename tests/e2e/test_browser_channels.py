"""sockjet.js in Debian's Chromium (headless, driven by Playwright) against a real Channels server.

The page (tests/e2e/channels_js_page.html, served by tests/e2e/channels_js_app.py) uses
sockjet.js as an app would and writes every event to ``window.log``; the server runs as its own
process, so it can be restarted or killed.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import MS
from tests.e2e.chromium import launched, needs_chromium
from tests.servers.redis_server import REDIS_SERVER, RedisServer, running_redis
from tests.servers.servers import Server, free_port, start_process, stop_process

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.timeout(180),
    needs_chromium,
]

WAIT_MS = 15000 * MS * 1000
"""Playwright timeouts are in milliseconds: 15 s, scaled like every wait of the suite."""


def start_app(port: int, *, env: dict[str, str] | None = None, workers: int = 1) -> Server:
    argv = [sys.executable, "-m", "sockjet", "run", "tests.e2e.channels_js_app:app", "--port", str(port)]
    argv += ["--log-level", "warning", *(["--workers", str(workers)] if workers > 1 else [])]
    return start_process(argv, port, env=env)


def stop_app(server: Server, sig: int = signal.SIGINT) -> None:
    stop_process(server.process, sig)
    assert server.process.stdout is not None
    server.process.stdout.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched() as browser:
        yield browser


@pytest.fixture
def server() -> Iterator[Server]:
    running = start_app(free_port())
    try:
        yield running
    finally:
        if running.process.poll() is None:
            stop_app(running)


def open_page(browser: Browser, server: Server, query: str = "tokens=ada") -> Page:
    page = browser.new_context().new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{server.http_url}/?{query}")
    wait(page, "log.subscribed.length >= 1")
    return page


def wait(page: Page, condition: str) -> None:
    page.wait_for_function(f"() => {condition}", timeout=WAIT_MS)


def log(page: Page) -> Any:
    return page.evaluate("() => log")


def restart(server: Server) -> Server:
    stop_app(server)
    return start_app(server.port)


def test_offline_for_5_s_while_another_page_sends_3_catches_up_once_in_order(browser: Browser, server: Server) -> None:
    ada = open_page(browser, server, "tokens=ada")
    bob = open_page(browser, server, "tokens=bob")
    bob.evaluate("send('before')")
    wait(ada, "log.messages.length === 1")

    ada.context.set_offline(True)
    wait(ada, "client.state === 'reconnecting'")
    for i in (1, 2, 3):
        bob.evaluate(f"send('away {i}')")
    wait(bob, "log.messages.length === 4")
    ada.wait_for_timeout(5000)
    assert log(ada)["messages"] == ["before"]
    ada.context.set_offline(False)

    wait(ada, "log.subscribed.length === 2 && log.messages.length === 4")
    entry = log(ada)
    assert entry["messages"] == ["before", "away 1", "away 2", "away 3"]
    assert ada.locator("#messages li").all_inner_texts() == entry["messages"]
    resubscribed = entry["subscribed"][1]
    assert (resubscribed["recovered"], resubscribed["missed"], resubscribed["wasRecovering"]) == (True, 3, True)
    assert entry["resync"] == 0
    bob.evaluate("send('after')")
    wait(ada, "log.messages.length === 5")
    assert log(ada)["messages"][-1] == "after"


def test_a_restarted_memory_hub_server_means_resync(browser: Browser, server: Server) -> None:
    ada = open_page(browser, server, "tokens=ada")
    ada.evaluate("send('before the restart')")
    wait(ada, "log.messages.length === 1")
    server = restart(server)
    try:
        wait(ada, "log.resync === 1 && client.state === 'connected'")
        entry = log(ada)
        again = entry["subscribed"][-1]
        assert (again["recovered"], again["wasRecovering"]) == (False, True)
        assert entry["states"][-2:] == ["reconnecting", "connected"]
        ada.evaluate("send('after the restart')")
        wait(ada, "log.messages.length === 2")
        assert log(ada)["messages"] == ["before the restart", "after the restart"]
    finally:
        stop_app(server)


def test_an_expired_token_is_refreshed_and_a_refused_one_stops(browser: Browser, server: Server) -> None:
    page = browser.new_context().new_page()
    page.goto(f"{server.http_url}/?tokens=expired,ada")
    wait(page, "client.state === 'connected' && log.subscribed.length === 1")
    entry = log(page)
    assert entry["tokens"] == 2, "getToken asked again after 4001"
    assert entry["lost"][0][0] == 4001

    refused = browser.new_context().new_page()
    refused.goto(f"{server.http_url}/?tokens=refused")
    wait(refused, "client.state === 'closed'")
    refused.wait_for_timeout(1500)
    assert refused.evaluate("[client.closeCode, client.closeReason, log.tokens, log.sockets.length]") == [
        4003,
        "authentication refused",
        1,
        1,
    ]


def test_a_hidden_tab_whose_socket_died_comes_back_when_shown(browser: Browser, server: Server) -> None:
    # A hidden tab's timers are throttled (to once a minute in Chrome): minDelay=60000 stands for
    # that. Headless Chromium keeps every page visible, so the page is told it is hidden.
    page = open_page(browser, server, "tokens=ada&minDelay=60000")
    page.evaluate(
        """() => {
          window.visibility = "hidden";
          Object.defineProperty(document, "visibilityState", { get: () => window.visibility });
          document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    server = restart(server)
    try:
        wait(page, "client.state === 'reconnecting'")
        page.wait_for_timeout(1000)
        assert page.evaluate("client.state") == "reconnecting", "hidden, its timer far away"
        shown = time.monotonic()
        page.evaluate("""() => {
          window.visibility = "visible";
          document.dispatchEvent(new Event("visibilitychange"));
        }""")
        wait(page, "client.state === 'connected' && log.subscribed.length === 2")
        assert time.monotonic() - shown < 5000 * MS, "back at once, not after the throttled timer"
    finally:
        stop_app(server)


def test_20_pages_reconnecting_after_a_restart_spread_over_the_backoff_window(browser: Browser, server: Server) -> None:
    context = browser.new_context()
    pages = []
    for _ in range(20):
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{server.http_url}/?tokens=ada")
        pages.append(page)
    for page in pages:
        wait(page, "log.subscribed.length >= 1")
    server = restart(server)
    try:
        delays = []
        for page in pages:
            wait(page, "client.state === 'connected' && log.subscribed.length === 2")
            # The first new socket after the close, in ms after it (one page's own clock).
            delays.append(page.evaluate("log.sockets.find((t) => t > log.lost[0][1]) - log.lost[0][1]"))
        assert min(delays) >= 500, f"no retry before the 0.5 s floor, none in the first 100 ms: {sorted(delays)}"
        assert max(delays) - min(delays) >= 150, f"spread over the window, not a burst: {sorted(delays)}"
        assert max(delays) <= 2000, f"the first window is 0.5-1 s (plus a loaded machine): {sorted(delays)}"
    finally:
        context.close()
        stop_app(server)


@pytest.mark.redis
@pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server: apt-get install redis-server")
def test_two_workers_on_redis_kill_9_of_the_pages_worker_misses_nothing(browser: Browser) -> None:
    with running_redis() as redis:
        server = start_two_workers(redis)
        try:
            ada = open_page(browser, server, "tokens=ada")
            bob = open_page(browser, server, "tokens=bob")
            bob.evaluate("send('before')")
            wait(ada, "log.messages.length === 1")
            worker = ada.evaluate("client.call('pid')")
            os.kill(worker, signal.SIGKILL)
            wait(ada, "client.state === 'reconnecting'")
            for i in (1, 2, 3):  # bob may have been on that worker too: his publishes wait in his queue
                bob.evaluate(f"send('while ada moves {i}')")
            wait(ada, "log.messages.length === 4 && client.state === 'connected'")
            entry = log(ada)
            assert entry["messages"] == ["before", "while ada moves 1", "while ada moves 2", "while ada moves 3"]
            assert entry["subscribed"][-1]["recovered"] is True
            assert entry["resync"] == 0
            assert ada.evaluate("client.call('pid')") != worker
        finally:
            stop_app(server)


def start_two_workers(redis: RedisServer) -> Server:
    return start_app(free_port(), env={"SOCKJET_E2E_HUB": redis.url}, workers=2)


def test_the_channels_chat_example_in_two_pages(browser: Browser) -> None:
    page_lines = (Path(__file__).parents[2] / "examples" / "channels_chat.html").read_text().count("\n")
    assert page_lines < 60
    argv = [sys.executable, "-m", "sockjet", "run", "examples.channels_chat:app", "--log-level", "warning"]
    port = free_port()
    server = start_process([*argv, "--port", str(port)], port)
    try:
        ada = browser.new_context().new_page()
        bob = browser.new_context().new_page()
        errors: list[str] = []  # e.g. a favicon the example does not serve: "Failed to load resource: ... 404"
        for page, nick in ((ada, "ada"), (bob, "bob")):
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.set_default_timeout(WAIT_MS)
            page.goto(f"{server.http_url}/?nick={nick}&room=team")
            page.wait_for_function("() => document.querySelector('#state').textContent === 'connected'")
        ada.wait_for_function("() => document.querySelector('#online').textContent === 'ada, bob'")
        ada.fill("#text", "hello bob")
        ada.press("#text", "Enter")
        bob.wait_for_function("() => document.querySelector('#messages').textContent === 'ada: hello bob'")
        assert ada.locator("#room").inner_text() == "team"
        bob.context.close()
        ada.wait_for_function("() => document.querySelector('#online').textContent === 'ada'")
        ada.fill("#text", "x" * 501)
        ada.press("#text", "Enter")
        ada.wait_for_function("() => document.querySelector('#state').textContent.startsWith('not sent (403)')")
        assert ada.locator("#text").input_value() == "x" * 501, "the text is kept"
        assert errors == []
    finally:
        stop_app(server)
