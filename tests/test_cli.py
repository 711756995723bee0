"""The ``sockjet`` command, called in-process: what it prints and which exit code it returns.

Nothing here starts a server: ``uvicorn.run`` is replaced by a recorder, so these tests check
the options a server would get. tests/e2e/test_cli_run.py runs the real thing.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

import sockjet
from sockjet import cli
from sockjet.server import HANDSHAKE_TIMEOUT_ENV, HTTP_PROTOCOL, WS_PROTOCOL
from tests.servers.servers import free_port


@pytest.fixture(autouse=True)
def handshake_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sockjet run`` sets SOCKJET_HANDSHAKE_TIMEOUT for its workers: undo it after each test."""
    monkeypatch.setenv(HANDSHAKE_TIMEOUT_ENV, "unset by the test")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A scratch directory as the current directory, with modules written by the test; imports are undone."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace ``uvicorn.run``: record each call instead of serving."""
    calls: list[dict[str, Any]] = []

    def fake_run(app: str, **kwargs: Any) -> None:
        # Every run configures sockjet's loggers next to uvicorn's (checked in test_log_config),
        # and serves HTTP with sockjet's protocol (the handshake deadline), whatever the --ws.
        assert kwargs.pop("log_config") == cli.log_config(kwargs["log_level"])
        assert kwargs.pop("http") == HTTP_PROTOCOL == "sockjet.server:SockjetHTTPProtocol"
        calls.append({"app": app, **kwargs, "handshake_timeout": os.environ[HANDSHAKE_TIMEOUT_ENV]})

    def fake_supervise(kwargs: dict[str, Any]) -> int:
        fake_run(**kwargs)
        return 0

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setattr(cli, "_supervise", fake_supervise)
    return calls


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"sockjet {sockjet.__version__}\n", "")


def test_help_lists_both_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "run       serve module:app on uvicorn" in out
    assert "demo      start the multi-room chat demo" in out


def test_run_help_lists_the_server_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "run", "--help")
    assert code == 0
    for option in ("--host", "--port", "--workers", "--reload", "--ws-max-size", "--ws-ping-interval", "--ws {"):
        assert option in out


def test_no_command_prints_usage_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    assert (code, out) == (2, "")
    assert err.startswith("usage: sockjet")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run"], "sockjet run: error: the following arguments are required: APP"),
        (["run", "m:app", "--port", "http"], "argument --port: --port must be an integer, got 'http'"),
        (["run", "m:app", "--port", "70000"], "argument --port: --port must be between 0 and 65535, got 70000"),
        (["run", "m:app", "--workers", "0"], "argument --workers: --workers must be at least 1, got 0"),
        (["run", "m:app", "--ws", "tornado"], "argument --ws: invalid choice: 'tornado'"),
        (["run", "m:app", "--ws-max-size", "0"], "--ws-max-size must be at least 1, got 0"),
        (["run", "m:app", "--ws-ping-interval", "soon"], "--ws-ping-interval must be a number of seconds, got 'soon'"),
        (["run", "m:app", "--ws-ping-timeout", "-1"], "--ws-ping-timeout must be 0 (off) or a positive number"),
        (["run", "m:app", "--log-level", "loud"], "argument --log-level: invalid choice: 'loud'"),
        (["serve"], "argument COMMAND: invalid choice: 'serve'"),
        (["demo", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_argument_errors(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("project", "served")
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("main", 'APP must look like "module:attribute" (for example "main:app"), got "main"'),
        (":app", 'APP must look like "module:attribute" (for example "main:app"), got ":app"'),
        ("main:", 'APP must look like "module:attribute" (for example "main:app"), got "main:"'),
    ],
)
def test_app_without_module_or_attribute_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], spec: str, message: str
) -> None:
    assert run(capsys, "run", spec) == (2, "", f"sockjet: error: {message}\n")


@pytest.mark.usefixtures("served")
def test_missing_module(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    message = (
        'Could not import module "nowhere.app": no module named "nowhere" '
        "(run sockjet from the directory that contains it, or add that directory to PYTHONPATH)"
    )
    assert run(capsys, "run", "nowhere.app:app") == (1, "", f"sockjet: error: {message}\n")


@pytest.mark.usefixtures("served")
def test_module_whose_own_import_fails_is_not_reported_as_missing(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    (project / "needs_dep.py").write_text("import not_installed_anywhere\napp = None\n")
    code, _, err = run(capsys, "run", "needs_dep:app")
    assert code == 1
    assert err.startswith(
        'sockjet: error: Error while importing module "needs_dep": '
        "ModuleNotFoundError: No module named 'not_installed_anywhere' ("
    )
    assert err.endswith("needs_dep.py, line 1)\n")


@pytest.mark.usefixtures("served")
def test_module_raising_at_import_names_the_error_and_line(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    (project / "broken.py").write_text("x = 1\nraise RuntimeError('no config file')\n")
    code, _, err = run(capsys, "run", "broken:app")
    assert code == 1
    assert err.startswith('sockjet: error: Error while importing module "broken": RuntimeError: no config file (')
    assert err.endswith("broken.py, line 2)\n")
    assert "Traceback" not in err


@pytest.mark.usefixtures("served")
def test_import_error_raised_inside_the_standard_library_names_the_users_line(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    # os.environ[...] raises inside os (a frozen module): the line to fix is the caller's.
    (project / "needs_env.py").write_text('import os\n\nURL = os.environ["SOCKJET_TEST_UNSET_VARIABLE"]\n')
    code, _, err = run(capsys, "run", "needs_env:app")
    assert code == 1
    assert err.startswith(
        """sockjet: error: Error while importing module "needs_env": KeyError: 'SOCKJET_TEST_UNSET_VARIABLE' ("""
    )
    assert err.endswith("needs_env.py, line 3)\n")


@pytest.mark.usefixtures("served")
def test_syntax_error_is_named_once(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    (project / "unclosed.py").write_text("app = (\n")
    code, _, err = run(capsys, "run", "unclosed:app")
    assert (code, err) == (
        1,
        'sockjet: error: Error while importing module "unclosed": '
        "SyntaxError: '(' was never closed (unclosed.py, line 1)\n",
    )


def test_standard_library_frames_are_told_from_installed_packages() -> None:
    paths = sysconfig.get_paths()
    assert cli._is_standard_library("<frozen os>")
    assert cli._is_standard_library(os.path.join(paths["stdlib"], "json", "decoder.py"))
    assert not cli._is_standard_library(os.path.join(paths["purelib"], "redis", "client.py"))
    assert not cli._is_standard_library("/srv/app/main.py")


@pytest.mark.usefixtures("served")
def test_missing_attribute(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    (project / "main.py").write_text("application = None\n")
    assert run(capsys, "run", "main:app") == (1, "", 'sockjet: error: Module "main" has no attribute "app"\n')


@pytest.mark.usefixtures("served")
def test_missing_dotted_attribute(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    (project / "main.py").write_text("class api:\n    pass\n")
    code, _, err = run(capsys, "run", "main:api.app")
    assert (code, err) == (1, 'sockjet: error: Module "main" has no attribute "api.app"\n')


@pytest.mark.usefixtures("served")
def test_attribute_that_is_not_callable(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    (project / "main.py").write_text("app = {'routes': []}\n")
    code, _, err = run(capsys, "run", "main:app")
    assert (code, err) == (1, 'sockjet: error: "main:app" is not an ASGI application: it is a dict, not a callable\n')


def test_run_hands_every_option_to_uvicorn(
    capsys: pytest.CaptureFixture[str], project: Path, served: list[dict[str, Any]]
) -> None:
    (project / "main.py").write_text("async def app(scope, receive, send):\n    pass\n")
    argv = ["run", "main:app", "--host", "127.0.0.1", "--port", "0", "--workers", "3", "--reload", "--factory"]
    argv += ["--ws", "wsproto", "--ws-max-size", "1024", "--ws-ping-interval", "0", "--ws-ping-timeout", "2.5"]
    argv += ["--handshake-timeout", "2.5"]
    assert run(capsys, *argv, "--log-level", "warning") == (0, "", "")
    assert served == [
        {
            "app": "main:app",
            "host": "127.0.0.1",
            "port": 0,
            "workers": 3,
            "log_level": "warning",
            "factory": True,
            "reload": True,
            "ws": "wsproto",
            "ws_max_size": 1024,
            "ws_ping_interval": None,
            "ws_ping_timeout": 2.5,
            "handshake_timeout": "2.5",
        }
    ]
    assert str(project) == sys.path[0]


def test_run_defaults(capsys: pytest.CaptureFixture[str], project: Path, served: list[dict[str, Any]]) -> None:
    (project / "main.py").write_text("class Holder:\n    async def app(scope, receive, send):\n        pass\n")
    assert run(capsys, "run", "main:Holder.app", "--port", "0")[0] == 0
    assert served[0] == {
        "app": "main:Holder.app",
        "host": "127.0.0.1",
        "port": 0,
        "workers": 1,
        "log_level": "info",
        "factory": False,
        "reload": False,
        "ws": "sockjet.server:SockjetWebSocketProtocol",
        "ws_max_size": 16 * 1024 * 1024,
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
        "handshake_timeout": "10.0",
    }
    assert WS_PROTOCOL == "sockjet.server:SockjetWebSocketProtocol"


@pytest.mark.parametrize(("ws", "handed"), [("sockjet", WS_PROTOCOL), ("websockets-sansio", "websockets-sansio")])
def test_ws_names_sockjets_protocol_or_one_of_uvicorns(
    capsys: pytest.CaptureFixture[str], served: list[dict[str, Any]], ws: str, handed: str
) -> None:
    assert run(capsys, "run", "examples.echo:app", "--port", "0", "--ws", ws, "--handshake-timeout", "0")[0] == 0
    assert (served[0]["ws"], served[0]["handshake_timeout"]) == (handed, "0")


def test_a_bad_handshake_timeout_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "run", "examples.echo:app", "--handshake-timeout", "soon")
    assert code == 2
    assert "argument --handshake-timeout: --handshake-timeout must be a number of seconds, got 'soon'" in err


@pytest.mark.usefixtures("served")
def test_an_unsupported_uvicorn_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uvicorn, "__version__", "0.29.0")
    monkeypatch.delitem(sys.modules, "sockjet.server")  # imported again, under the old version
    code, _, err = run(capsys, "run", "examples.echo:app", "--port", "0")
    assert (code, err) == (
        1,
        "sockjet: error: uvicorn 0.29.0 is not supported by sockjet's server protocol (tested with "
        'uvicorn>=0.52.4,<0.55): pip install "uvicorn[standard]>=0.52.4,<0.55"\n',
    )


class FakeSupervisor:
    """uvicorn's Multiprocess, minus the processes: each "worker" has already exited with a given code."""

    exit_codes: tuple[int | None, ...] = ()
    runs: list[Any] = []

    def __init__(self, config: Any, sockets: list[socket.socket]) -> None:
        self.config = config
        self.processes = [type("Worker", (), {"exitcode": code})() for code in self.exit_codes]
        for sock in sockets:
            sock.close()

    def run(self) -> None:
        self.runs.append(self.config)


@pytest.mark.parametrize(("exit_codes", "expected"), [((3, -15), 3), ((-15, 3), 3), ((-15, -15), 0), ((None,), 0)])
def test_workers_that_failed_to_start_exit_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, exit_codes: tuple[int, ...], expected: int
) -> None:
    """uvicorn's supervisor returns normally when a worker failed to start; sockjet run exits 3 as with one worker."""
    import uvicorn.supervisors

    monkeypatch.setattr(FakeSupervisor, "exit_codes", exit_codes)
    monkeypatch.setattr(FakeSupervisor, "runs", [])
    monkeypatch.setattr(uvicorn.supervisors, "Multiprocess", FakeSupervisor)
    assert run(capsys, "run", "examples.echo:app", "--port", "0", "--workers", "2")[0] == expected
    (config,) = FakeSupervisor.runs
    assert (config.workers, config.ws, config.http) == (2, WS_PROTOCOL, HTTP_PROTOCOL)


def test_server_that_fails_to_start_gives_its_exit_code(
    capsys: pytest.CaptureFixture[str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "main.py").write_text("async def app(scope, receive, send):\n    pass\n")

    def failing_run(app: str, **kwargs: Any) -> None:
        sys.exit(3)

    monkeypatch.setattr(uvicorn, "run", failing_run)
    assert run(capsys, "run", "main:app", "--port", "0")[0] == 3
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: sys.exit("fatal"))
    assert run(capsys, "run", "main:app", "--port", "0")[0] == 1


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.usefixtures("served")
@pytest.mark.parametrize("command", [["run", "examples.echo:app"], ["demo"]])
def test_port_in_use(capsys: pytest.CaptureFixture[str], busy_port: int, command: list[str]) -> None:
    code, out, err = run(capsys, *command, "--port", str(busy_port))
    assert (code, out) == (1, "")
    assert err == (
        f"sockjet: error: Port {busy_port} on 127.0.0.1 is already in use: "
        "stop the program using it or choose another --port\n"
    )


@pytest.mark.usefixtures("served")
def test_unknown_host(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(*args: Any, **kwargs: Any) -> Any:  # no DNS query from a test
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    code, _, err = run(capsys, "run", "examples.echo:app", "--host", "no-such-host.invalid", "--port", "0")
    assert (code, err) == (
        1,
        'sockjet: error: Cannot listen on host "no-such-host.invalid": Name or service not known\n',
    )


@pytest.mark.usefixtures("served")
def test_host_that_is_not_ours(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "run", "examples.echo:app", "--host", "192.0.2.1", "--port", "0")
    assert (code, err) == (1, "sockjet: error: Cannot listen on 192.0.2.1:0: Cannot assign requested address\n")


def _hide_packages(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        return None if name in names else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.usefixtures("served")
def test_missing_server(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_packages(monkeypatch, "uvicorn")
    code, _, err = run(capsys, "run", "examples.echo:app", "--port", "0")
    assert (code, err) == (1, 'sockjet: error: The uvicorn server is not installed: pip install "uvicorn[standard]"\n')


@pytest.mark.usefixtures("served")
@pytest.mark.parametrize(("ws", "package"), [("wsproto", "wsproto"), ("websockets", "websockets")])
def test_missing_websocket_implementation(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, ws: str, package: str
) -> None:
    _hide_packages(monkeypatch, package)
    code, _, err = run(capsys, "run", "examples.echo:app", "--port", "0", "--ws", ws)
    message = f"--ws {ws} needs the {package} package, which is not installed: pip install {package}"
    assert (code, err) == (1, f"sockjet: error: {message}\n")


# --- demo ---------------------------------------------------------------------------------------


@pytest.fixture
def demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stale value, so the tests see the command set or clear it (monkeypatch restores it after)."""
    monkeypatch.setenv(cli.DEMO_REDIS_ENV, "redis://stale")
    monkeypatch.setenv(cli.DEMO_HUB_ENV, "nats://stale")


@pytest.mark.usefixtures("demo_env")
def test_demo_prints_the_url_and_serves_the_demo_factory(
    capsys: pytest.CaptureFixture[str], served: list[dict[str, Any]]
) -> None:
    code, out, err = run(capsys, "demo", "--port", "0")
    assert (code, err) == (0, "")
    assert out == "sockjet demo: open http://127.0.0.1:0/ in a browser (1 worker, in-process hub; Ctrl+C to stop)\n"
    assert served[0]["app"] == "sockjet.demo.app:create_app"
    assert served[0]["factory"] is True
    assert served[0]["workers"] == 1
    assert cli.DEMO_REDIS_ENV not in os.environ
    assert cli.DEMO_HUB_ENV not in os.environ


@pytest.mark.usefixtures("demo_env")
def test_demo_refuses_workers_without_redis(capsys: pytest.CaptureFixture[str], served: list[dict[str, Any]]) -> None:
    code, out, err = run(capsys, "demo", "--workers", "2")
    assert (code, out, served) == (2, "", [])
    assert err == (
        "sockjet: error: --workers 2 needs --redis URL or --hub URL: the in-process hub cannot reach chat members "
        "in other worker processes (for example: --redis redis://127.0.0.1:6379/0 or --hub nats://127.0.0.1:4222)\n"
    )


@pytest.mark.usefixtures("served", "demo_env")
def test_demo_redis_url_must_be_redis(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "demo", "--redis", "http://127.0.0.1:6379")
    assert (code, err) == (
        1,
        'sockjet: error: --redis must be a redis:// URL (for example redis://127.0.0.1:6379/0), got "http://127.0.0.1:6379"\n',
    )


@pytest.mark.usefixtures("served", "demo_env")
def test_demo_redis_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed_port = free.getsockname()[1]
    code, _, err = run(capsys, "demo", "--redis", f"redis://127.0.0.1:{closed_port}/0")
    assert code == 1
    assert err.startswith(f"sockjet: error: Cannot reach Redis at redis://127.0.0.1:{closed_port}/0: ")


@pytest.mark.usefixtures("served", "demo_env")
def test_demo_redis_needs_the_client(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_packages(monkeypatch, "redis")
    code, _, err = run(capsys, "demo", "--redis", "redis://127.0.0.1:1/0")
    message = '--redis needs the redis package, which is not installed: pip install "sockjet[redis]"'
    assert (code, err) == (1, f"sockjet: error: {message}\n")


@pytest.mark.usefixtures("demo_env")
def test_demo_with_redis_sets_the_url_for_every_worker(
    capsys: pytest.CaptureFixture[str], served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    pinged: list[str] = []
    monkeypatch.setattr(cli, "check_redis", pinged.append)
    url = "redis://127.0.0.1:6399/2"
    code, out, _ = run(capsys, "demo", "--workers", "2", "--redis", url, "--host", "0.0.0.0", "--port", "0")
    assert code == 0
    assert out.startswith(f"sockjet demo: open http://127.0.0.1:0/ in a browser (2 workers, Redis hub at {url};")
    assert pinged == [url]
    assert served[0]["workers"] == 2
    assert os.environ[cli.DEMO_REDIS_ENV] == url


@pytest.mark.usefixtures("demo_env")
@pytest.mark.parametrize("kind", ["redis", "nats"])
def test_demo_hub_url_reaches_every_worker(
    capsys: pytest.CaptureFixture[str], served: list[dict[str, Any]], kind: str
) -> None:
    from tests.servers.nats_server import running_nats
    from tests.servers.redis_server import running_redis

    auth = ["--user", "user", "--pass", "pw"]
    with running_redis() if kind == "redis" else running_nats(extra=auth) as server:
        url = server.url.replace("://", "://user:pw@") if kind == "nats" else server.url
        code, out, err = run(capsys, "demo", "--workers", "2", "--hub", url, "--port", "0")
    name = {"redis": "Redis", "nats": "NATS"}[kind]
    assert (code, err) == (0, "")
    shown = url.replace(":pw@", ":***@")
    assert out.startswith(f"sockjet demo: open http://127.0.0.1:0/ in a browser (2 workers, {name} hub at {shown};")
    assert served[0]["workers"] == 2
    assert os.environ[cli.DEMO_HUB_ENV] == url
    assert cli.DEMO_REDIS_ENV not in os.environ


@pytest.mark.usefixtures("served", "demo_env")
def test_demo_hub_on_a_nats_without_jetstream_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.servers.nats_server import running_nats

    with running_nats(jetstream=False) as server:
        code, _, err = run(capsys, "demo", "--hub", server.url, "--port", "0")
    assert (code, err) == (
        1,
        f"sockjet: error: NATS at {server.url} has no JetStream, which Hub(history_size=...) needs: start "
        "nats-server with -js (or set jetstream in its config), or use history_size=0.\n",
    )


@pytest.mark.usefixtures("demo_env")
def test_demo_hub_memory_is_the_default(capsys: pytest.CaptureFixture[str], served: list[dict[str, Any]]) -> None:
    code, out, err = run(capsys, "demo", "--hub", "memory://", "--port", "0")
    assert (code, err) == (0, "")
    assert "(1 worker, in-process hub;" in out
    assert os.environ[cli.DEMO_HUB_ENV] == "memory://"
    code, _, err = run(capsys, "demo", "--hub", "memory://", "--workers", "2", "--port", "0")
    assert code == 2
    assert err.startswith("sockjet: error: --workers 2 needs --redis URL or --hub URL")


@pytest.mark.usefixtures("served", "demo_env")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hub", "nats://127.0.0.1:1", "--redis", "redis://x"], "Give --hub URL or --redis URL, not both"),
        (["--hub", "http://x"], "--hub: Unsupported hub URL 'http://x': use None or 'memory://' for one process"),
        (["--hub", "nats://u:secret@127.0.0.1:{port}"], "Cannot connect to NATS at nats://u:***@127.0.0.1:{port}: "),
        (["--hub", "redis://127.0.0.1:{port}/0"], "Cannot connect to Redis at redis://127.0.0.1:{port}/0: "),
    ],
    ids=["both", "scheme", "nats-unreachable", "redis-unreachable"],
)
def test_demo_bad_hub_is_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    port = str(free_port())
    code, _, err = run(capsys, "demo", *[a.replace("{port}", port) for a in argv])
    assert code in (1, 2)
    assert err.startswith("sockjet: error: " + message.replace("{port}", port))
    assert err.count("\n") == 1 and "secret" not in err


@pytest.mark.usefixtures("served", "demo_env")
@pytest.mark.parametrize(("url", "package"), [("nats://127.0.0.1:1", "nats"), ("redis://u:pw@127.0.0.1:1", "redis")])
def test_demo_hub_needs_its_client(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str, package: str
) -> None:
    _hide_packages(monkeypatch, package)
    code, _, err = run(capsys, "demo", "--hub", url)
    shown = url.replace(":pw@", ":***@")
    assert (code, err) == (
        1,
        f'sockjet: error: --hub {shown} needs the {package} package: pip install "sockjet[{package}]"\n',
    )


@pytest.mark.parametrize(
    ("host", "shown"),
    [("0.0.0.0", "127.0.0.1"), ("", "127.0.0.1"), ("::", "[::1]"), ("::1", "[::1]"), ("localhost", "localhost")],
)
def test_demo_url_is_one_a_browser_can_open(host: str, shown: str) -> None:
    assert cli._browser_host(host) == shown


def test_console_main_exits_with_mains_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["sockjet", "--version"])
    with pytest.raises(SystemExit) as exc_info:
        cli.console_main()
    assert exc_info.value.code == 0


def test_run_takes_the_frame_limit_from_the_apps_max_message_size(
    capsys: pytest.CaptureFixture[str], project: Path, served: list[dict[str, Any]]
) -> None:
    (project / "main.py").write_text("from sockjet import App\napp = App(max_message_size=4096)\n")
    assert run(capsys, "run", "main:app", "--port", "0")[0] == 0
    assert served[0]["ws_max_size"] == 4096
    assert run(capsys, "run", "main:app", "--port", "0", "--ws-max-size", "100")[0] == 0
    assert served[1]["ws_max_size"] == 100


def test_log_config_gives_sockjet_lines_their_level_as_uvicorn_does() -> None:
    import logging

    import uvicorn.logging

    config = cli.log_config("warning")
    assert config["loggers"]["sockjet"] == {"handlers": ["default"], "level": "WARNING", "propagate": False}
    assert config["loggers"]["uvicorn"]["handlers"] == ["default"]  # uvicorn's own, unchanged
    assert cli.log_config("trace")["loggers"]["sockjet"]["level"] == "DEBUG"
    formatter = uvicorn.logging.DefaultFormatter(config["formatters"]["default"]["fmt"], use_colors=False)
    record = logging.LogRecord("sockjet.error", logging.WARNING, __file__, 1, "Refused WebSocket %s", ("/ws",), None)
    assert formatter.format(record) == "WARNING:  Refused WebSocket /ws"
