"""The chat demo in a real browser: Debian's Chromium, headless, driven by Playwright.

``sockjet demo`` runs as a real process; two pages (separate browser contexts, like two people)
chat in one room, see each other online, see one leave, and one survives a server restart. On a
laptop's and on a phone's screen the page stays one screen tall however long the conversation:
the messages scroll in their own pane, the composer and the newest message stay in view, and the
online list says when it is only the last one known.
Set ``SOCKJET_DEMO_SCREENSHOT=docs/demo.png`` to refresh the README's screenshot (1280 x 720).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FloatRect, Page, ViewportSize, expect

from tests.conftest import MS
from tests.e2e.chromium import launched, needs_chromium
from tests.servers.servers import Server, free_port, start_process, stop_process

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    needs_chromium,
]

WAIT_MS = 10000 * MS * 1000
"""Playwright timeouts are in milliseconds: 10 s, scaled like every wait of the suite."""

LAPTOP: ViewportSize = {"width": 1280, "height": 720}
PHONE: ViewportSize = {"width": 390, "height": 844}


def start_demo(port: int) -> Server:
    argv = [sys.executable, "-m", "sockjet", "demo", "--port", str(port), "--log-level", "warning"]
    return start_process(argv, port)


def stop_demo(server: Server) -> None:
    stop_process(server.process, signal.SIGINT)
    assert server.process.stdout is not None
    server.process.stdout.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with launched() as browser:
        yield browser


def enter(page: Page, url: str, nick: str) -> None:
    page.goto(url)
    page.fill("#nick", nick)
    page.click("#nick-form button")
    expect(page.locator("#status")).to_have_attribute("data-state", "online")


def join_room(page: Page, room: str) -> None:
    page.fill("#room-name", room)
    page.click("#room-form button")
    expect(page.locator("#room-title")).to_have_text(f"# {room}")
    expect(page.locator("#status")).to_have_attribute("data-state", "online")


def say(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")


def test_two_people_chat_then_one_leaves_then_the_server_restarts(browser: Browser, tmp_path: Path) -> None:
    expect.set_options(timeout=WAIT_MS)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = start_demo(port)
    try:
        ada = browser.new_context(viewport=LAPTOP).new_page()
        bob_context = browser.new_context(viewport={"width": 960, "height": 600})
        bob = bob_context.new_page()
        enter(ada, url, "ada")
        enter(bob, url, "bob")
        join_room(ada, "sockjet-team")
        join_room(bob, "sockjet-team")

        # Both are online in the room, each page says so.
        expect(ada.locator("#online li")).to_have_text(["ada (you)", "bob"])
        expect(bob.locator("#online li")).to_have_text(["ada", "bob (you)"])

        # A message typed in one page appears in the other, and back.
        say(ada, "Hi Bob! Rooms go through the hub.")
        expect(bob.locator("#messages li").last).to_have_text("adaHi Bob! Rooms go through the hub.")
        say(bob, "Hello Ada, and they span workers with --redis.")
        expect(ada.locator("#messages li.mine")).to_have_count(1)
        expect(ada.locator("#messages li").last).to_have_text("bobHello Ada, and they span workers with --redis.")
        ada.screenshot(path=os.environ.get("SOCKJET_DEMO_SCREENSHOT") or str(tmp_path / "demo.png"))

        # Bob closes his page: Ada's list updates.
        bob_context.close()
        expect(ada.locator("#online li")).to_have_text(["ada (you)"])
        expect(ada.locator("#messages li").last).to_have_text("bob left")

        # The server restarts on the same port: the page shows it, reconnects by itself, rejoins.
        stop_demo(server)
        expect(ada.locator("#status")).to_have_attribute("data-state", "reconnecting")
        say(ada, "typed while the server is away")  # Enter says why nothing was sent, and keeps the text
        expect(ada.locator("#chat-error")).to_contain_text("Not sent yet: reconnecting")
        expect(ada.locator("#text")).to_have_value("typed while the server is away")
        server = start_demo(port)
        expect(ada.locator("#status")).to_have_attribute("data-state", "online")
        expect(ada.locator("#room-title")).to_have_text("# sockjet-team")
        expect(ada.locator("#online li")).to_have_text(["ada (you)"])
        # The restarted (in-memory) hub lost the room's history: the page says so and reloads the room.
        expect(ada.locator("#chat-notice")).to_contain_text("could not be recovered")
        say(ada, "Back after a restart.")
        expect(ada.locator("#messages li.mine").last).to_have_text("adaBack after a restart.")
    finally:
        stop_demo(server)


def test_a_page_that_goes_offline_catches_up_once_in_order(browser: Browser) -> None:
    expect.set_options(timeout=WAIT_MS)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = start_demo(port)
    try:
        phone: ViewportSize = {"width": 390, "height": 844}
        ada_context = browser.new_context(viewport=phone)
        ada = ada_context.new_page()
        not_found: list[str] = []
        ada.on("response", lambda response: not_found.append(response.url) if response.status == 404 else None)
        bob = browser.new_context(viewport={"width": 960, "height": 600}).new_page()
        enter(ada, url, "ada")
        say(ada, "before bob")
        expect(ada.locator("#messages li").last).to_have_text("adabefore bob")
        enter(bob, url, "bob")
        # A page that joins sees the room's history (across workers: it comes from the hub's stream).
        expect(bob.locator("#messages li.system").first).to_have_text("ada joined")
        expect(bob.locator("#messages li").filter(has_text="before bob")).to_have_count(1)

        # On a 390 px phone the conversation comes before the lists.
        conversation = ada.locator(".conversation").bounding_box()
        lists = ada.locator("aside").bounding_box()
        assert conversation is not None and lists is not None
        assert conversation["y"] < lists["y"] and conversation["width"] <= 390

        ada_context.set_offline(True)
        expect(ada.locator("#status")).to_have_attribute("data-state", "offline")
        expect(ada.locator("#status-text")).to_contain_text("Offline")
        ada.fill("#text", "written offline")
        ada.press("#text", "Enter")
        expect(ada.locator("#chat-error")).to_contain_text("Not sent: you are offline")
        expect(ada.locator("#text")).to_have_value("written offline")

        for i in (1, 2, 3):
            say(bob, f"while ada is away {i}")
        expect(bob.locator("#messages li").last).to_have_text("bobwhile ada is away 3")

        ada_context.set_offline(False)
        expect(ada.locator("#status")).to_have_attribute("data-state", "online")
        away = ada.locator("#messages li").filter(has_text="while ada is away")
        expect(away).to_have_text(["bobwhile ada is away 1", "bobwhile ada is away 2", "bobwhile ada is away 3"])
        expect(ada.locator("#chat-notice")).to_be_hidden()  # recovered: nothing to apologise for
        # The online list is the hub's presence: the same on both pages after the reconnect.
        expect(ada.locator("#online li")).to_have_text(["ada (you)", "bob"])
        expect(bob.locator("#online li")).to_have_text(["ada", "bob (you)"])
        expect(ada.locator("#text")).to_have_value("written offline")
        ada.press("#text", "Enter")
        expect(bob.locator("#messages li").last).to_have_text("adawritten offline")
        expect(ada.locator("#messages li").filter(has_text="while ada is away")).to_have_count(3)
        assert not_found == []
        # Both pages show the same lines, join and leave lines included, whatever the reconnects
        # (a line may still be on its way to one of them: compare once both have settled).
        expect(ada.locator("#messages li").last).to_have_text("adawritten offline")
        deadline = time.monotonic() + WAIT_MS / 1000
        while ada.locator("#messages li").all_inner_texts() != bob.locator("#messages li").all_inner_texts():
            assert time.monotonic() < deadline, "the two pages show different lines"
            ada.wait_for_timeout(50)
    finally:
        stop_demo(server)


# --- one screen, however long the conversation ---


def inside(box: FloatRect | None, area: FloatRect | None) -> bool:
    """Whether ``box`` lies wholly within ``area`` (half a pixel of rounding allowed)."""
    assert box is not None and area is not None
    return (
        box["x"] >= area["x"] - 0.5
        and box["y"] >= area["y"] - 0.5
        and box["x"] + box["width"] <= area["x"] + area["width"] + 0.5
        and box["y"] + box["height"] <= area["y"] + area["height"] + 0.5
    )


def newest_in_view(page: Page) -> bool:
    """The last line of the conversation is visible: inside the message pane, not scrolled out of it."""
    pane = page.locator("#messages").bounding_box()
    return inside(page.locator("#messages li").last.bounding_box(), pane) and inside(pane, screen(page))


def screen(page: Page) -> FloatRect:
    viewport = page.viewport_size
    assert viewport is not None
    return {"x": 0, "y": 0, "width": viewport["width"], "height": viewport["height"]}


def assert_one_screen(page: Page) -> None:
    """The page itself never scrolls; the header, the lists, the composer and the newest message are in view."""
    document = page.evaluate(
        """() => {
            const root = document.scrollingElement;
            return {scrollHeight: root.scrollHeight, scrollWidth: root.scrollWidth, scrollY: window.scrollY,
                    body: document.body.getBoundingClientRect().height};
        }"""
    )
    area = screen(page)
    assert document["body"] <= area["height"], document
    assert document["scrollHeight"] <= area["height"] and document["scrollWidth"] <= area["width"], document
    assert document["scrollY"] == 0, document
    for selector in ("header", "#say-form", "aside"):
        assert inside(page.locator(selector).bounding_box(), area), f"{selector} is not wholly in view"
    assert newest_in_view(page), "the newest message is not in view"


def dot_colour(page: Page) -> str:
    """The computed colour of the first online entry's dot (its fill, or its ring when it has no fill)."""
    return str(
        page.locator("#online li").first.evaluate(
            """li => {
                const dot = getComputedStyle(li, "::before");
                return dot.backgroundColor === "rgba(0, 0, 0, 0)" ? dot.borderTopColor : dot.backgroundColor;
            }"""
        )
    )


def dot_turns(page: Page, *, green: bool) -> None:
    """Wait (up to WAIT_MS) until the first online entry's dot is green, or is not: the list is
    re-rendered as the page's state changes, so one reading may catch it between two renders."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        colour = dot_colour(page)
        if colour and is_green(colour) == green:
            return
        assert time.monotonic() < deadline, f"the dot stayed {colour!r}"
        page.wait_for_timeout(50)


def is_green(colour: str) -> bool:
    red, green, blue = (int(part) for part in re.findall(r"\d+", colour)[:3])
    return green > red + 40 and green > blue + 40


def scroll_messages(page: Page, delta: int) -> None:
    """Scroll the message pane with the mouse wheel, as a reader does, and let it come to rest."""
    page.locator("#messages").hover()
    page.mouse.wheel(0, delta)
    end = "l.scrollTop === 0" if delta < 0 else "l.scrollHeight - l.scrollTop - l.clientHeight < 1"
    page.wait_for_function(f"() => {{ const l = document.getElementById('messages'); return {end}; }}", timeout=WAIT_MS)


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1280x720", "390x844"])
def test_a_long_conversation_scrolls_in_its_pane_and_the_composer_stays_in_view(
    browser: Browser, viewport: ViewportSize, tmp_path: Path
) -> None:
    expect.set_options(timeout=WAIT_MS)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = start_demo(port)
    try:
        ada = browser.new_context(viewport=viewport).new_page()
        bob = browser.new_context(viewport=LAPTOP).new_page()
        enter(ada, url, "ada")
        join_room(ada, "long-talk")
        enter(bob, url, "bob")
        join_room(bob, "long-talk")

        # 50 messages: the page stays one screen and follows the newest one.
        for i in range(1, 51):
            say(bob, f"message {i}")
        expect(ada.locator("#messages li").last).to_have_text("bobmessage 50")
        assert_one_screen(ada)
        ada.screenshot(path=tmp_path / "after-50.png")

        # Scrolled up to read: a new message arrives without pulling the reader down.
        scroll_messages(ada, -100_000)
        say(bob, "message 51")
        expect(ada.locator("#messages li").last).to_have_text("bobmessage 51")
        assert ada.locator("#messages").evaluate("list => list.scrollTop") == 0
        assert not newest_in_view(ada)
        # Back at the bottom, the pane follows again; and typing never scrolls the page.
        scroll_messages(ada, 100_000)
        say(bob, "message 52")
        expect(ada.locator("#messages li").last).to_have_text("bobmessage 52")
        assert_one_screen(ada)
        ada.fill("#text", "typing a reply")
        assert_one_screen(ada)

        # The room's history full (the demo keeps 100 lines), a fresh page joins it.
        for i in range(53, 111):
            say(bob, f"message {i}")
        expect(ada.locator("#messages li").last).to_have_text("bobmessage 110")
        carol_context = browser.new_context(viewport=viewport)
        carol = carol_context.new_page()
        enter(carol, url, "carol")
        join_room(carol, "long-talk")
        expect(carol.locator("#messages li").last).to_have_text("carol joined")
        # The room's 100 remembered lines (loaded once subscribed: its own join line is among them).
        expect(carol.locator("#messages li")).to_have_count(100)
        expect(carol.locator("#messages li").first).not_to_have_text("ada joined")  # the history moved on
        assert_one_screen(carol)
        carol.screenshot(path=tmp_path / "history.png")

        # Offline, the online list is only the last one known, and looks it.
        expect(carol.locator("#online li")).to_have_text(["ada", "bob", "carol (you)"])
        expect(carol.locator("#presence")).not_to_have_class(re.compile(r"\bstale\b"))
        dot_turns(carol, green=True)
        carol_context.set_offline(True)
        expect(carol.locator("#status")).to_have_attribute("data-state", "offline")
        expect(carol.locator("#presence")).to_have_class(re.compile(r"\bstale\b"))
        expect(carol.locator("#presence .stale-label")).to_be_visible()
        expect(carol.locator("#online li")).to_have_text(["ada", "bob", "carol (you)"])
        dot_turns(carol, green=False)
        assert_one_screen(carol)
        carol.screenshot(path=tmp_path / "offline.png")
        carol_context.set_offline(False)
        expect(carol.locator("#status")).to_have_attribute("data-state", "online")
        expect(carol.locator("#presence")).not_to_have_class(re.compile(r"\bstale\b"))
        dot_turns(carol, green=True)

        # The same when the server goes away: the list stays, marked stale, until the page is back
        # (who else is on it depends on whose leave the stopping server still sent).
        stop_demo(server)
        expect(ada.locator("#status")).to_have_attribute("data-state", "reconnecting")
        expect(ada.locator("#presence")).to_have_class(re.compile(r"\bstale\b"))
        expect(ada.locator("#online li").first).to_have_text("ada (you)")
        dot_turns(ada, green=False)
        assert_one_screen(ada)
    finally:
        stop_demo(server)
