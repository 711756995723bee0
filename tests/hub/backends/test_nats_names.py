"""The pure parts of the NATS backend, without a server or an event loop: room tokens, the hub's
subject base, server URLs, and the presence book that counts other processes' members."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sockjet.exceptions import ConfigurationError
from sockjet.hub.backends._urls import redacted
from sockjet.hub.backends.nats_counts import CountBook, Report, ReportKind, batches
from sockjet.hub.backends.subjects import (
    MAX_TOKEN,
    counts_subject,
    room_subject,
    room_token,
    server_urls,
    subject_base,
)


@pytest.mark.parametrize(
    ("room", "token"),
    [
        ("lobby", "lobby"),
        ("a-b_C9", "a-b_C9"),
        ("a.b", "a%2Eb"),
        ("*", "%2A"),
        (">", "%3E"),
        ("a b", "a%20b"),
        ("%2E", "%252E"),
        ("é", "%C3%A9"),
    ],
)
def test_room_tokens_escape_everything_but_letters_digits_dash_underscore(room: str, token: str) -> None:
    assert room_token(room) == token


def test_long_rooms_are_hashed_into_a_token_escaping_never_writes() -> None:
    assert room_token("x" * MAX_TOKEN) == "x" * MAX_TOKEN
    hashed = room_token("x" * (MAX_TOKEN + 1))
    assert re.fullmatch(r"%%[0-9a-f]{64}", hashed)
    assert room_token("." * 50) != room_token("." * 50 + "x")  # 150 escaped chars: hashed, still distinct


@given(st.text(min_size=1, max_size=60), st.text(min_size=1, max_size=60))
def test_different_rooms_never_share_a_token(one: str, two: str) -> None:
    token = room_token(one)
    assert re.fullmatch(r"[A-Za-z0-9_%-]+", token)  # one literal token: no dot, wildcard or space
    assert (token == room_token(two)) == (one == two)


def test_subjects_sit_under_the_prefix() -> None:
    assert subject_base("sockjet:hub:") == "sockjet:hub"
    assert subject_base("app.hub.") == "app.hub"
    assert room_subject("app.hub", "a.b") == "app.hub.r.a%2Eb"
    assert counts_subject("app.hub") == "app.hub.p"


def test_server_urls_split_a_cluster_and_hide_passwords_in_errors() -> None:
    assert server_urls("nats://a:4222") == ["nats://a:4222"]
    assert server_urls("nats://a:1, tls://u:p@b:2") == ["nats://a:1", "tls://u:p@b:2"]
    with pytest.raises(ConfigurationError, match=re.escape("Bad NATS server 'nats://u:***@:1' in hub URL")):
        server_urls("nats://u:secret@:1")
    with pytest.raises(ConfigurationError, match=re.escape("Bad NATS server 'nats://[::1' in hub URL")):
        server_urls("nats://[::1")
    assert redacted("nats://u:p@a:1,nats://b:2,nats://:t@c") == "nats://u:***@a:1,nats://b:2,nats://:***@c"
    assert redacted("nats://u:p@[::1") == "nats://***@[::1"


def report(kind: ReportKind, process: str, ttl: float = 10.0, **counts: int) -> Report:
    return Report(kind, process, ttl, counts)


def test_presence_book_sums_processes_until_they_expire() -> None:
    book = CountBook()
    book.hear(report(ReportKind.COUNTS, "p1", r=2, s=1), now=0.0)
    book.hear(report(ReportKind.COUNTS, "p2", ttl=5.0, r=3), now=1.0)
    assert (book.count("r", 2.0), book.count("s", 2.0), book.count("t", 2.0)) == (5, 1, 0)
    assert book.count("r", 6.5) == 2  # p2 expired (heard at 1.0, ttl 5)
    book.expire(6.5)
    assert book.count("r", 0.0) == 2  # gone for good, whatever the clock says
    book.hear(report(ReportKind.COUNTS, "p1", r=0), now=7.0)
    assert (book.count("r", 7.0), book.count("s", 7.0)) == (0, 1)
    book.expire(100.0)
    assert book.count("s", 0.0) == 0
    book.hear(report(ReportKind.COUNTS, "p3", t=0), now=0.0)  # a room it never was in: nothing to drop
    assert book.count("t", 0.0) == 0


def test_full_replaces_bye_forgets_hello_and_ping_change_nothing() -> None:
    book = CountBook()
    book.hear(report(ReportKind.COUNTS, "p1", r=2, s=1), now=0.0)
    book.hear(report(ReportKind.FULL, "p1", r=4), now=0.0)
    assert (book.count("r", 1.0), book.count("s", 1.0)) == (4, 0)
    book.hear(report(ReportKind.HELLO, "p1"), now=0.0)
    book.hear(Report(ReportKind.PING, "p1", nonce="n"), now=0.0)
    assert book.count("r", 1.0) == 4
    book.hear(report(ReportKind.BYE, "p1"), now=0.0)
    assert book.count("r", 1.0) == 0
    book.forget("never-heard")


def test_batches_send_every_room_with_the_first_one_full() -> None:
    counts = {f"room{i}": i + 1 for i in range(5)}
    sent = batches("p", 9.0, counts, max_rooms=2)
    assert [r.kind for r in sent] == [ReportKind.FULL, ReportKind.COUNTS, ReportKind.COUNTS]
    assert {room: n for r in sent for room, n in r.counts.items()} == counts
    assert batches("p", 9.0, {}, max_rooms=2) == [Report(ReportKind.FULL, "p", 9.0, {})]
    book = CountBook()
    for r in sent:
        book.hear(r, now=0.0)
    assert sum(book.count(room, 1.0) for room in counts) == 15


def test_reports_round_trip_and_refuse_foreign_bytes() -> None:
    sent = Report(ReportKind.COUNTS, "p", 3.0, {"a.b": 2, "日本": 1}, "n")
    assert Report.from_wire(sent.to_wire()) == sent
    for raw in (b"{", b"[]", b'{"k":"nope","p":"p","t":1,"c":{},"n":""}', b'{"k":"counts","p":"p","t":1,"c":[]}'):
        with pytest.raises(ValueError, match="Not a hub presence report"):
            Report.from_wire(raw)
