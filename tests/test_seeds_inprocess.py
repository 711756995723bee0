"""The seed examples under ``examples/``, in-process through ``TestClient``: the replies the seeds' clients print.

The same scenarios run on a real uvicorn in ``tests/e2e/test_seeds.py``; these are the fast ones.
"""

from __future__ import annotations

import contextlib

import pytest

from examples import (
    seed_01_echo,
    seed_02_json,
    seed_03_binary,
    seed_04_generic,
    seed_05_disconnect,
    seed_06_chat,
    seed_07_custom,
    seed_08_iter,
    starlette_denial,
    starlette_hello,
    starlette_iter_text,
)
from sockjet.testclient import TestClient, WebSocketDenialResponse
from sockjet.websockets import WebSocketDisconnect
from tests.conftest import MS

TIMEOUT = 2000 * MS


def _error_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The messages of the exceptions sockjet logged for endpoints that raised."""
    return [str(record.exc_info[1]) for record in caplog.records if record.exc_info and record.exc_info[1]]


def test_echo_then_graceful_close(caplog: pytest.LogCaptureFixture) -> None:
    with (
        TestClient(seed_01_echo.app, raise_server_exceptions=False) as client,
        client.websocket_connect("/ws/echo") as websocket,
    ):
        websocket.send_text("Hello, WebSocket!")
        assert websocket.receive_text(TIMEOUT) == "Echo: Hello, WebSocket!"
        websocket.send_text("close")
        assert websocket.receive_text(TIMEOUT) == "Closing connection gracefully."
        with pytest.raises(WebSocketDisconnect) as info:
            websocket.receive_text(TIMEOUT)
    assert (info.value.code, info.value.reason) == (1000, "Client requested closure")
    # The seed closes a second time after its loop; that RuntimeError is logged, as uvicorn logs it
    # for FastAPI, and the client has already seen the first close.
    assert _error_messages(caplog) == ['Cannot call "send" once a close message has been sent.']


def test_echo_client_leaves_first(capsys: pytest.CaptureFixture[str]) -> None:
    with TestClient(seed_01_echo.app) as client:
        with client.websocket_connect("/ws/echo") as websocket:
            websocket.send_text("Hello, WebSocket!")
            assert websocket.receive_text(TIMEOUT) == "Echo: Hello, WebSocket!"
        assert capsys.readouterr().out == "Client disconnected\n"


def test_json_reverse() -> None:
    with TestClient(seed_02_json.app) as client, client.websocket_connect("/ws/json") as websocket:
        websocket.send_json({"message": "Hello, JSON!"})
        message = websocket.receive(TIMEOUT)
    assert message == {"type": "websocket.send", "text": '{"response":"!NOSJ ,olleH"}'}


def test_binary_echo(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    with TestClient(seed_03_binary.app) as client:
        with client.websocket_connect("/ws/binary") as websocket:
            websocket.send_bytes(b"Binary data test")
            assert websocket.receive_bytes(TIMEOUT) == b"Binary data test"
        assert capsys.readouterr().out == "Client disconnected\n"
    assert caplog.records == []


def test_low_level_text_and_binary(caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(seed_04_generic.app, raise_server_exceptions=False) as client:
        with client.websocket_connect("/ws/generic") as websocket:
            websocket.send_text("Hello via generic method")
            assert websocket.receive(TIMEOUT) == {"type": "websocket.send", "text": "Echo: Hello via generic method"}
            websocket.send_bytes(b"Hello binary via generic method")
            assert websocket.receive(TIMEOUT) == {"type": "websocket.send", "bytes": b"Hello binary via generic method"}
        # The seed's loop calls receive() again after the disconnect message: Starlette's RuntimeError, logged.
        assert _error_messages(caplog) == ['Cannot call "receive" once a disconnect message has been received.']


def test_disconnect_is_printed_with_code_and_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with TestClient(seed_05_disconnect.app) as client:
        with client.websocket_connect("/ws/handle_disconnect") as websocket:
            websocket.send_text("Test disconnect")
            assert websocket.receive_text(TIMEOUT) == "Received: Test disconnect"
            websocket.close(1001, "going away")
        assert capsys.readouterr().out == "Client disconnected with code 1001 and reason: going away\n"
        with client.websocket_connect("/ws/handle_disconnect"):
            pass
        assert capsys.readouterr().out == "Client disconnected with code 1000 and reason: \n"


def test_broadcast_to_two_clients() -> None:
    with TestClient(seed_06_chat.app) as client:
        with client.websocket_connect("/ws/chat") as first:
            with client.websocket_connect("/ws/chat") as second:
                first.send_text("Hello everyone!")
                assert first.receive_text(TIMEOUT) == "Client says: Hello everyone!"
                assert second.receive_text(TIMEOUT) == "Client says: Hello everyone!"
            assert first.receive_text(TIMEOUT) == "A client has disconnected."
        assert seed_06_chat.active_connections == []


def test_custom_subprotocol_and_header() -> None:
    with (
        TestClient(seed_07_custom.app) as client,
        client.websocket_connect("/ws/custom", subprotocols=["custom-protocol"]) as websocket,
    ):
        assert websocket.accepted_subprotocol == "custom-protocol"
        assert websocket.extra_headers == [(b"X-Custom-Header", b"MyValue")]
        websocket.send_text("Test custom connection")
        assert websocket.receive_text(TIMEOUT) == "Custom response: Test custom connection"


def test_iter_json_then_bytes_then_close() -> None:
    with TestClient(seed_08_iter.app) as client, client.websocket_connect("/ws/iter") as websocket:
        assert websocket.receive_text(TIMEOUT) == "Send JSON messages now. Send 'done' to finish JSON iteration."
        for msg in ["hello", "world"]:
            websocket.send_json(msg)
            assert websocket.receive_text(TIMEOUT) == f"JSON Echo: {msg}"
        websocket.send_json("done")
        assert websocket.receive_text(TIMEOUT) == "Send binary messages now. Send b'done' to finish binary iteration."
        for bmsg in [b"\x00\x01\x02", b"\x03\x04\x05"]:
            websocket.send_bytes(bmsg)
            assert websocket.receive_bytes(TIMEOUT) == bmsg
        websocket.send_bytes(b"done")
        with pytest.raises(WebSocketDisconnect) as info:
            websocket.receive_bytes(TIMEOUT)
    assert (info.value.code, info.value.reason) == (1000, "Iteration complete")


def test_iter_ends_quietly_when_the_client_leaves(caplog: pytest.LogCaptureFixture) -> None:
    with (
        TestClient(seed_08_iter.app, raise_server_exceptions=False) as client,
        client.websocket_connect("/ws/iter") as websocket,
    ):
        websocket.receive_text(TIMEOUT)
        # iter_json ended on the disconnect; the seed's next send_text then meets a closed socket
        # (WebSocketDisconnect 1006), which the App ends quietly.
    assert caplog.records == []


def test_starlette_hello_world() -> None:
    with contextlib.closing(TestClient(starlette_hello.app)) as client, client.websocket_connect("/") as websocket:
        assert websocket.receive_text(TIMEOUT) == "Hello, world!"
        with pytest.raises(WebSocketDisconnect) as info:
            websocket.receive_text(TIMEOUT)
    assert (info.value.code, info.value.reason) == (1000, "")


def test_starlette_iter_text() -> None:
    with contextlib.closing(TestClient(starlette_iter_text.app)) as client, client.websocket_connect("/") as websocket:
        for text in ["one", "héllo ✓"]:
            websocket.send_text(text)
            assert websocket.receive_text(TIMEOUT) == f"Message text was: {text}"
        websocket.close()
        # iter_text ended on the disconnect and the app closed in turn.
        assert websocket.receive(TIMEOUT) == {"type": "websocket.close", "code": 1000, "reason": ""}


def test_starlette_denial_unauthorized() -> None:
    with TestClient(starlette_denial.app) as client:
        for subprotocols in (None, ["Authorization"], ["Authorization", "wrong"], ["Bearer", "token"]):
            with pytest.raises(WebSocketDenialResponse) as info, client.websocket_connect("/ws", subprotocols):
                pass  # pragma: no cover - the handshake is refused
            assert info.value.status_code == 401
            assert info.value.text == "Unauthorized"


def test_starlette_denial_authorized() -> None:
    with (
        TestClient(starlette_denial.app) as client,
        client.websocket_connect("/ws", subprotocols=["Authorization", "token"]) as websocket,
    ):
        assert websocket.accepted_subprotocol == "Authorization"
        assert websocket.receive_text(TIMEOUT) == "Hello, world!"
        with pytest.raises(WebSocketDisconnect) as info:
            websocket.receive_text(TIMEOUT)
    assert info.value.code == 1000
