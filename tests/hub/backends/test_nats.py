"""What only the NATS backend does: one subscription per room, an outage and back, bad servers,
credentials, TLS and a two-server cluster. Every nats-server here is the tests' own, on a free port."""

from __future__ import annotations

import asyncio
import re
import shutil
import ssl
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from sockjet import Hub
from sockjet.exceptions import ConfigurationError, HubError, PublishError, PublishOutcomeUnknown
from sockjet.hub import Envelope
from sockjet.hub.backends.nats import NatsBackend
from sockjet.hub.backends.nats_counts import Report, ReportKind
from tests.conftest import MS
from tests.hub.backends.test_every_backend import joined_socket, wait_for_delivery
from tests.hub_fakes import connected
from tests.servers.nats_server import NatsServer, running_nats
from tests.servers.servers import free_port

pytestmark = pytest.mark.nats


def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:8]}:"


def backend_of(hub: Hub) -> NatsBackend:
    backend = hub._backend
    assert isinstance(backend, NatsBackend)
    return backend


async def probe_publish(url: str, subject: str, data: bytes) -> None:
    import nats

    client = await nats.connect(url)
    try:
        await client.publish(subject, data)
        await client.flush()
    finally:
        await client.close()


async def test_one_subscription_per_room_per_process(shared_nats: NatsServer) -> None:
    async with Hub(shared_nats.url, prefix=prefix()) as hub:
        backend = backend_of(hub)
        joins = [(await joined_socket(hub, room))[1] for room in ("a", "b", "b", "c.d")]
        name = f"sockjet-hub-{backend.process_id[:8]}"

        def subscriptions() -> list[str]:
            (mine,) = [c for c in shared_nats.connections() if c.get("name") == name]
            return sorted(mine.get("subscriptions_list") or [])

        base, own = backend.base, [backend.echo_subject, backend.counts_subject]
        assert subscriptions() == sorted([*own, f"{base}.r.a", f"{base}.r.b", f"{base}.r.c%2Ed"])
        await joins[1].__aexit__(None, None, None)  # b still has a member
        assert subscriptions() == sorted([*own, f"{base}.r.a", f"{base}.r.b", f"{base}.r.c%2Ed"])
        await joins[2].__aexit__(None, None, None)
        assert subscriptions() == sorted([*own, f"{base}.r.a", f"{base}.r.c%2Ed"])


async def test_foreign_messages_are_ignored(shared_nats: NatsServer) -> None:
    async with Hub(shared_nats.url, prefix=prefix()) as hub:
        sock, _ = await joined_socket(hub, "r")
        backend = backend_of(hub)
        await probe_publish(shared_nats.url, backend.subject("r"), b"?not from a hub")
        await probe_publish(shared_nats.url, backend.counts_subject, b"{not json")
        await hub.publish("r", "next")
        assert await sock.wait_data(1) == ["next"]
        assert await hub.count("r") == 1


async def test_a_dead_process_stops_counting_after_presence_ttl(shared_nats: NatsServer) -> None:
    ttl = 1000 * MS  # long enough that a loaded machine cannot expire the report before the first count
    async with Hub(shared_nats.url, prefix=prefix(), presence_ttl=ttl) as hub:
        await joined_socket(hub, "r")
        backend = backend_of(hub)
        dead = Report(ReportKind.COUNTS, "dead-process", ttl, {"r": 5})
        await probe_publish(shared_nats.url, backend.counts_subject, dead.to_wire())
        assert await hub.count("r") == 6
        await asyncio.sleep(ttl + 50 * MS)
        assert await hub.count("r") == 1
        gone = Report(ReportKind.COUNTS, "other", 60, {"r": 2, "s": 1})
        await probe_publish(shared_nats.url, backend.counts_subject, gone.to_wire())
        assert (await hub.count("r"), await hub.count("s")) == (3, 1)
        bye = Report(ReportKind.BYE, "other")
        await probe_publish(shared_nats.url, backend.counts_subject, bye.to_wire())
        assert (await hub.count("r"), await hub.count("s")) == (1, 0)


async def test_outage_publish_fails_fast_members_stay_and_messages_flow_again(
    nats_server: NatsServer,
) -> None:
    timeout = 300 * MS
    pre = prefix()
    async with Hub(nats_server.url, prefix=pre, timeout=timeout) as one, Hub(nats_server.url, prefix=pre) as two:
        a, _ = await joined_socket(one, "r")
        b, _ = await joined_socket(two, "r")
        await one.publish("r", "before")
        await b.wait_data(1)

        nats_server.stop()
        where = f"Could not publish to room 'r': NATS at {nats_server.url}"
        for attempt in range(2):  # the loss not yet noticed, then noticed: both within the timeout
            started = time.monotonic()
            with pytest.raises(PublishError) as caught:
                await one.publish("r", "during the outage")
            assert time.monotonic() - started < timeout + 1000 * MS
            text = str(caught.value)
            if isinstance(caught.value, PublishOutcomeUnknown):  # the PUB left before the loss was noticed
                assert attempt == 0
                assert text.startswith(f"{where} did not answer within {timeout:g}s (")
                assert "The message may have been delivered (and stored)" in text
            else:
                assert text.startswith(f"{where} did not take it within {timeout:g}s")
                assert text.endswith("Nobody received it; retry when NATS is back.")
        assert type(caught.value) is PublishError  # once the loss is known, the hub knows nothing left
        with pytest.raises(HubError, match=re.escape(f"Cannot count room 'r': NATS at {nats_server.url}")):
            await one.count("r")
        assert not one.member(a.websocket).closed  # type: ignore[union-attr]
        assert backend_of(one).disconnects == 1
        _, extra = await joined_socket(two, "r")  # joins and leaves during the outage count once back
        await extra.__aexit__(None, None, None)
        third, _ = await joined_socket(one, "r")

        nats_server.start()
        await wait_for_delivery(one, "r", b, "one-to-two")
        await wait_for_delivery(two, "r", a, "two-to-one")
        await wait_for_delivery(two, "r", third, "to-third")
        assert "during the outage" not in a.data + b.data
        deadline = time.monotonic() + 2000 * MS  # each process re-broadcasts its counts once both are back
        while (await one.count("r"), await two.count("r")) != (3, 3) and time.monotonic() < deadline:
            await asyncio.sleep(5 * MS)
        assert (await one.count("r"), await two.count("r")) == (3, 3)


async def test_unreachable_nats_is_one_clear_line_at_start() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    hub = Hub(url, timeout=300 * MS)
    started = time.monotonic()
    with pytest.raises(HubError, match=re.escape(f"Cannot connect to NATS at {url}: ")) as caught:
        await hub.start()
    assert time.monotonic() - started < 1500 * MS
    assert str(caught.value).endswith("Check that nats-server runs there, or fix the hub URL.")
    assert "\n" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert not hub.running


async def test_a_port_that_never_answers_is_a_clear_error() -> None:
    done = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await done.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    url = f"nats://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        with pytest.raises(HubError, match=re.escape(f"Cannot connect to NATS at {url}: ")):
            await Hub(url, timeout=300 * MS).start()
    finally:
        done.set()
        server.close()
        await server.wait_closed()


async def test_credentials_in_the_url() -> None:
    with running_nats(jetstream=False, extra=["--user", "app", "--pass", "s3cret"]) as server:
        good = f"nats://app:s3cret@127.0.0.1:{server.port}"
        async with Hub(good, prefix=prefix()) as hub:
            sock, _ = await joined_socket(hub, "r")
            await hub.publish("r", "authorized")
            assert await sock.wait_data(1) == ["authorized"]
        bad = f"nats://app:wrong@127.0.0.1:{server.port}"
        started = time.monotonic()
        with pytest.raises(HubError) as caught:
            await Hub(bad, timeout=2000 * MS).start()
        assert time.monotonic() - started < 1000 * MS  # refused at once, not after the timeout
        message = str(caught.value)
        assert message.startswith(f"Cannot connect to NATS at nats://app:***@127.0.0.1:{server.port}: ")
        assert "Authorization Violation" in message
        assert message.endswith("Check the user and password (or token) in the hub URL.")
        assert "wrong" not in message


async def test_a_cluster_url_fails_over_to_the_next_server() -> None:
    cluster = [free_port(), free_port()]

    def routed(own: int, other: int) -> list[str]:
        return ["--cluster_name", "t", "--cluster", f"nats://127.0.0.1:{own}", "--routes", f"nats://127.0.0.1:{other}"]

    with (
        running_nats(jetstream=False, extra=routed(cluster[0], cluster[1])) as first,
        running_nats(jetstream=False, extra=routed(cluster[1], cluster[0])) as second,
    ):
        pre = prefix()
        url = f"nats://127.0.0.1:{first.port}, nats://127.0.0.1:{second.port}"
        async with Hub(url, prefix=pre) as hub, Hub(second.url, prefix=pre) as other:
            sock, _ = await joined_socket(hub, "r")
            await wait_for_delivery(other, "r", sock, "routed")  # interest crosses the route
            connected = backend_of(hub)._nc.connected_url.port
            (server,) = [s for s in (first, second) if s.port == connected]
            server.stop()
            await wait_for_delivery(other if server is first else hub, "r", sock, "after-failover")
            assert backend_of(hub)._nc.connected_url.port != connected


def make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not found: the TLS test makes its certificate")
async def test_tls_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = make_certificate(tmp_path)
    with running_nats(jetstream=False, extra=["--tls", "--tlscert", str(cert), "--tlskey", str(key)]) as server:
        url = f"tls://127.0.0.1:{server.port}"
        with pytest.raises(HubError, match=re.escape(f"Cannot connect to NATS at {url}: ")):
            await Hub(url, timeout=500 * MS).start()  # the certificate is not trusted yet
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # tls:// verifies against the default CAs
        async with Hub(url, prefix=prefix()) as hub:
            sock, _ = await joined_socket(hub, "r")
            await hub.publish("r", "encrypted")
            assert await sock.wait_data(1) == ["encrypted"]
            assert isinstance(backend_of(hub)._nc._transport._io_writer.get_extra_info("ssl_object"), ssl.SSLObject)


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("nats://", {}, "Bad NATS server 'nats://' in hub URL"),
        ("nats://a:4222,redis://b", {}, "Bad NATS server 'redis://b' in hub URL"),
        ("nats://u:pw@a:4222,host:1", {}, "Bad NATS server 'host:1' in hub URL"),
        ("nats://a:4222", {"prefix": "my hub"}, "The hub prefix 'my hub' cannot start NATS subjects"),
        ("nats://a:4222", {"prefix": "a.*"}, "The hub prefix 'a.*' cannot start NATS subjects"),
        ("nats://a:4222", {"prefix": "::"}, "The hub prefix '::' cannot start NATS subjects"),
        ("nats://a:4222", {"prefix": "a..b"}, "The hub prefix 'a..b' cannot start NATS subjects"),
        ("nats2://a", {}, "Unsupported hub URL 'nats2://a'"),
    ],
)
def test_bad_urls_and_prefixes_are_refused_when_the_hub_is_made(url: str, options: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Hub(url, **options)


async def test_a_nats_backend_that_is_not_started() -> None:
    backend = NatsBackend("nats://127.0.0.1:1")
    with pytest.raises(PublishError, match=re.escape("Cannot publish: the hub is not running (use hub.lifespan")):
        await backend.publish(Envelope("r", "x"))
    with pytest.raises(HubError, match=re.escape("Cannot count: the hub is not running (use hub.lifespan")):
        await backend.count("r")
    await backend.sync_room("r")  # nothing to do
    await backend.stop()


async def test_presence_spans_processes_on_nats(shared_nats: NatsServer) -> None:
    pre = prefix()
    async with Hub(shared_nats.url, prefix=pre) as one, Hub(shared_nats.url, prefix=pre) as two:
        sock = await connected()
        async with one.join("r", sock.websocket, presence={"user": "ada"}):
            other = await connected()
            async with two.join("r", other.websocket, presence={"user": "bob"}):
                for hub in (one, two):  # the JetStream key-value bucket: every process sees everyone
                    assert sorted(info["user"] for info in (await hub.presence("r")).values()) == ["ada", "bob"]
                assert await one.count("r") == 2
        assert await two.presence("r") == {}
