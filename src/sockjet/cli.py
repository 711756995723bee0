"""The ``sockjet`` command: ``sockjet run module:app`` and ``sockjet demo`` on uvicorn.

Every check that can fail before the server starts (the ``module:app`` string, the port, the
server and its WebSocket implementation, the demo's Redis) fails here with one line on stderr
and a non-zero exit code, never a traceback: 2 for a usage error, 1 for anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import errno
import importlib
import importlib.util
import os
import socket
import sys
import sysconfig
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sockjet
from sockjet.hub.backends._urls import redacted

EXIT_FAILURE = 1
EXIT_USAGE = 2
WS_IMPLEMENTATIONS = ("sockjet", "websockets-sansio", "websockets", "wsproto")
"""``--ws`` choices: sockjet's protocol (``sockjet.server:SockjetWebSocketProtocol``, the default) or uvicorn's."""
DEFAULT_HANDSHAKE_TIMEOUT = 10.0
STARTUP_FAILURE = 3
"""uvicorn's exit code when the application fails to start; ``sockjet run`` keeps it whatever the worker count."""
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
DEMO_APP = "sockjet.demo.app:create_app"
DEMO_REDIS_ENV = "SOCKJET_DEMO_REDIS_URL"
"""The environment variable through which ``sockjet demo --redis`` reaches every worker process."""
DEMO_HUB_ENV = "SOCKJET_DEMO_HUB_URL"
"""The environment variable through which ``sockjet demo --hub`` reaches every worker process."""


class CLIError(Exception):
    """A problem the user can fix; its message is printed as ``sockjet: error: <message>``."""

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# --- module:app ---------------------------------------------------------------------------------


def load_app(spec: str) -> Any:
    """Import ``module:attribute`` (the attribute may be dotted) and return it; ``CLIError`` says what is wrong.

    Errors raised by the module's own code while importing are reported with their type, message
    and location rather than as "module not found".
    """
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise CLIError(
            f'APP must look like "module:attribute" (for example "main:app"), got "{spec}"', exit_code=EXIT_USAGE
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise CLIError(
                f'Could not import module "{module_name}": no module named "{exc.name}" '
                f"(run sockjet from the directory that contains it, or add that directory to PYTHONPATH)"
            ) from None
        raise CLIError(f'Error while importing module "{module_name}": {_describe(exc)}') from None
    except Exception as exc:
        raise CLIError(f'Error while importing module "{module_name}": {_describe(exc)}') from None
    value: Any = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise CLIError(f'Module "{module_name}" has no attribute "{attribute}"') from None
    if not callable(value):
        raise CLIError(f'"{spec}" is not an ASGI application: it is a {type(value).__name__}, not a callable')
    return value


def _describe(exc: BaseException) -> str:
    """``Type: message (file, line N)``: where in the user's code an import failed, without a traceback.

    The line named is the innermost one outside the standard library and this module: for
    ``os.environ["DATABASE_URL"]`` that is the user's line, not ``os``'s. A ``SyntaxError``'s
    message already names its file and line.
    """
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError):
        return text
    frames = traceback.extract_tb(exc.__traceback__)  # a raised exception has at least one frame
    theirs = [frame for frame in frames if not _is_standard_library(frame.filename) and frame.filename != __file__]
    where = (theirs or frames)[-1]
    return f"{text} ({where.filename}, line {where.lineno})"


def _is_standard_library(filename: str) -> bool:
    """Python's own code: frozen modules (``<frozen os>``) and files under the standard library
    that are not installed packages (a non-venv Python keeps site-packages inside it)."""
    if filename.startswith("<"):
        return True
    paths = sysconfig.get_paths()
    inside = tuple(os.path.join(paths[key], "") for key in ("stdlib", "platstdlib"))
    installed = tuple(os.path.join(paths[key], "") for key in ("purelib", "platlib"))
    return filename.startswith(inside) and not filename.startswith(installed)


# --- pre-flight checks --------------------------------------------------------------------------


def check_port(host: str, port: int) -> None:
    """Bind ``host:port`` once and release it, so a busy port fails with a sentence instead of a server log."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CLIError(f'Cannot listen on host "{host}": {exc.strerror}') from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        # uvicorn sets SO_REUSEADDR too: a port held only by TIME_WAIT connections is free for it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CLIError(
                    f"Port {port} on {host} is already in use: stop the program using it or choose another --port"
                ) from None
            raise CLIError(f"Cannot listen on {host}:{port}: {exc.strerror}") from None


def check_server(ws: str) -> None:
    """uvicorn in a version sockjet's protocols support, and the package behind ``--ws``, must be importable."""
    if importlib.util.find_spec("uvicorn") is None:
        raise CLIError('The uvicorn server is not installed: pip install "uvicorn[standard]"')
    package = "wsproto" if ws == "wsproto" else "websockets"
    if importlib.util.find_spec(package) is None:
        raise CLIError(f"--ws {ws} needs the {package} package, which is not installed: pip install {package}")
    try:
        import sockjet.server  # noqa: F401 - its HTTP protocol serves every --ws
    except SystemExit as exc:  # an unsupported uvicorn: its one line, as ours
        raise CLIError(str(exc.code).removeprefix("sockjet.server: ")) from None


def check_redis(url: str) -> None:
    """The demo's Redis must be reachable now, rather than failing later inside every worker."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise CLIError(f'--redis must be a redis:// URL (for example redis://127.0.0.1:6379/0), got "{url}"')
    if importlib.util.find_spec("redis") is None:
        raise CLIError('--redis needs the redis package, which is not installed: pip install "sockjet[redis]"')
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        raise CLIError(f"Cannot reach Redis at {url}: {exc}") from None


# --- arguments ----------------------------------------------------------------------------------


def _bounded_int(name: str, low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{name} must be {bounds}, got {value}")
        return value

    return parse


def _seconds(name: str) -> Callable[[str], float | None]:
    def parse(text: str) -> float | None:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number of seconds, got {text!r}") from None
        if value < 0 or value != value:
            raise argparse.ArgumentTypeError(f"{name} must be 0 (off) or a positive number of seconds, got {text}")
        return value or None

    return parse


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=_bounded_int("--port", 0, 65535), default=8000, help="TCP port (default: %(default)s)"
    )
    parser.add_argument(
        "--workers",
        metavar="N",
        type=_bounded_int("--workers", 1),
        default=1,
        help="worker processes (default: %(default)s)",
    )
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, default="info", help="server log level (default: %(default)s)"
    )
    parser.add_argument(
        "--handshake-timeout",
        metavar="SECONDS",
        type=_seconds("--handshake-timeout"),
        default=DEFAULT_HANDSHAKE_TIMEOUT,
        help="close connections that have not completed their WebSocket handshake (or sent a whole HTTP "
        "request head) within this many seconds; 0 turns it off (default: %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sockjet",
        description="Run a sockjet (or any ASGI) application on uvicorn, or start the chat demo.",
    )
    parser.add_argument("--version", action="version", version=f"sockjet {sockjet.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="serve module:app on uvicorn",
        description="Serve an ASGI application on uvicorn. APP is module:attribute, imported from the current"
        " directory.",
    )
    run.add_argument("app", metavar="APP", help='the application, as "module:attribute" (e.g. main:app)')
    _add_server_options(run)
    run.add_argument("--reload", action="store_true", help="restart when Python files change (development)")
    run.add_argument("--factory", action="store_true", help="APP is a function returning the application")
    run.add_argument(
        "--ws",
        choices=WS_IMPLEMENTATIONS,
        default="sockjet",
        help="the WebSocket implementation: sockjet's protocol (sockjet.server:SockjetWebSocketProtocol, on "
        "uvicorn's websockets-sansio) or one of uvicorn's own (default: %(default)s)",
    )
    run.add_argument(
        "--ws-max-size",
        metavar="BYTES",
        type=_bounded_int("--ws-max-size", 1),
        default=None,
        help="largest incoming WebSocket message, in bytes (default: the App's max_message_size, else 16 MiB)",
    )
    run.add_argument(
        "--ws-ping-interval",
        metavar="SECONDS",
        type=_seconds("--ws-ping-interval"),
        default=20.0,
        help="seconds between keepalive pings; 0 turns them off (default: %(default)s)",
    )
    run.add_argument(
        "--ws-ping-timeout",
        metavar="SECONDS",
        type=_seconds("--ws-ping-timeout"),
        default=20.0,
        help="seconds to wait for a pong before closing; 0 turns it off (default: %(default)s)",
    )

    demo = commands.add_parser(
        "demo",
        help="start the multi-room chat demo",
        description="Start the sockjet chat demo and print the URL to open in a browser.",
    )
    _add_server_options(demo)
    demo.add_argument(
        "--hub",
        metavar="URL",
        default=None,
        help="the hub: memory:// (default), redis://host:port/db (redis+sentinel://..., redis+cluster://...) "
        "or nats://host:port (one of these is required when --workers > 1)",
    )
    demo.add_argument(
        "--redis",
        metavar="URL",
        default=None,
        help="share rooms across workers through this Redis (the same as --hub redis://...)",
    )
    return parser


# --- commands -----------------------------------------------------------------------------------


DEFAULT_WS_MAX_SIZE = 16 * 1024 * 1024


@dataclass(frozen=True)
class ServerOptions:
    """What is handed to ``uvicorn.run``; a value so that tests can check it without starting a server."""

    app: str
    host: str
    port: int
    workers: int
    log_level: str
    factory: bool = False
    reload: bool = False
    ws: str = "sockjet"
    ws_max_size: int = DEFAULT_WS_MAX_SIZE
    ws_ping_interval: float | None = 20.0
    ws_ping_timeout: float | None = 20.0
    handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT

    def uvicorn_options(self) -> dict[str, Any]:
        """The keyword arguments of ``uvicorn.run`` and ``uvicorn.Config``."""
        from sockjet.server import HTTP_PROTOCOL, WS_PROTOCOL

        return {
            "app": self.app,
            "host": self.host,
            "port": self.port,
            "workers": self.workers,
            "log_level": self.log_level,
            "log_config": log_config(self.log_level),
            "factory": self.factory,
            "reload": self.reload,
            # Import strings, not classes: worker processes import them again.
            "http": HTTP_PROTOCOL,
            "ws": WS_PROTOCOL if self.ws == "sockjet" else self.ws,
            "ws_max_size": self.ws_max_size,
            "ws_ping_interval": self.ws_ping_interval,
            "ws_ping_timeout": self.ws_ping_timeout,
        }


def log_config(log_level: str) -> dict[str, Any]:
    """uvicorn's own logging configuration, plus the ``sockjet`` loggers on uvicorn's handler.

    So that sockjet's lines (a refused connection, an endpoint's exception) come out as uvicorn's
    do -- ``WARNING:  Refused WebSocket /ws ...`` on stderr, at ``--log-level`` -- instead of bare
    messages from Python's last-resort handler (and nothing at all below WARNING).
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    level = "DEBUG" if log_level == "trace" else log_level.upper()
    config["loggers"]["sockjet"] = {"handlers": ["default"], "level": level, "propagate": False}
    return config


def _serve(options: ServerOptions) -> int:
    check_server(options.ws)
    check_port(options.host, options.port)
    from sockjet.metrics.workers import prepare as prepare_metrics

    prepare_metrics(options.workers)  # workers > 1: one PROMETHEUS_MULTIPROC_DIR they all write to
    import uvicorn

    from sockjet.server import HANDSHAKE_TIMEOUT_ENV

    # The protocols read it in every worker process, which inherits the environment.
    os.environ[HANDSHAKE_TIMEOUT_ENV] = str(options.handshake_timeout or 0)
    kwargs = options.uvicorn_options()
    try:
        if options.workers > 1 and not options.reload:
            return _supervise(kwargs)
        uvicorn.run(**kwargs)
    except SystemExit as exc:  # uvicorn exits with 3 when the app fails to start
        return exc.code if isinstance(exc.code, int) else EXIT_FAILURE
    return 0


def _supervise(kwargs: dict[str, Any]) -> int:
    """uvicorn's worker supervisor, as ``uvicorn.run`` starts it, but exiting 3 when a worker failed to start.

    uvicorn's own stops every worker then returns as if all went well (exit 0), which systemd, Docker and CI
    read as success; with one worker it exits 3. Here the supervisor keeps the failed worker's exit code.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(**kwargs)
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    failed = any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes)
    return STARTUP_FAILURE if failed else 0


def _run(args: argparse.Namespace) -> int:
    # Like `uvicorn main:app`: modules in the current directory are importable.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    app = load_app(args.app)
    ws_max_size = args.ws_max_size if args.ws_max_size is not None else app_message_limit(app)
    return _serve(
        ServerOptions(
            app=args.app,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            factory=args.factory,
            reload=args.reload,
            ws=args.ws,
            ws_max_size=ws_max_size,
            ws_ping_interval=args.ws_ping_interval,
            ws_ping_timeout=args.ws_ping_timeout,
            handshake_timeout=args.handshake_timeout,
        )
    )


def app_message_limit(app: Any) -> int:
    """The server's frame limit for ``app``: a sockjet App's ``max_message_size`` if it has one, so
    the server refuses an oversized message before buffering it; else uvicorn's default (16 MiB)."""
    settings = getattr(app, "connection_settings", None)
    limit = getattr(getattr(settings, "options", None), "max_message_size", None)
    return limit if isinstance(limit, int) else DEFAULT_WS_MAX_SIZE


def _browser_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def check_hub(url: str) -> str:
    """The demo's hub must be usable now, rather than failing later inside every worker; returns its kind."""
    from sockjet.demo.app import demo_hub
    from sockjet.exceptions import ConfigurationError, HubError

    try:
        hub = demo_hub(url)  # with the demo's history options: a NATS without JetStream is refused here
    except ConfigurationError as exc:
        raise CLIError(f"--hub: {exc}") from None
    kind = "memory" if url == "memory://" else "nats" if url.startswith(("nats://", "tls://")) else "redis"
    package = {"memory": None, "redis": "redis", "nats": "nats"}[kind]
    if package is not None and importlib.util.find_spec(package) is None:
        raise CLIError(f'--hub {redacted(url)} needs the {package} package: pip install "sockjet[{kind}]"')

    async def start_and_stop() -> None:
        await hub.start()
        await hub.aclose()

    try:
        asyncio.run(start_and_stop())
    except HubError as exc:
        raise CLIError(str(exc)) from None
    return kind


def _demo(args: argparse.Namespace) -> int:
    if args.hub is not None and args.redis is not None:
        raise CLIError("Give --hub URL or --redis URL, not both", exit_code=EXIT_USAGE)
    url = args.redis if args.redis is not None else args.hub
    kind = "memory" if url is None or url == "memory://" else None
    if args.workers > 1 and kind == "memory":
        raise CLIError(
            f"--workers {args.workers} needs --redis URL or --hub URL: the in-process hub cannot reach chat members "
            "in other worker processes (for example: --redis redis://127.0.0.1:6379/0 or --hub nats://127.0.0.1:4222)",
            exit_code=EXIT_USAGE,
        )
    os.environ.pop(DEMO_REDIS_ENV, None)
    os.environ.pop(DEMO_HUB_ENV, None)
    if args.redis is not None:
        check_redis(args.redis)
        os.environ[DEMO_REDIS_ENV] = args.redis
        kind = "redis"
    elif url is not None:
        kind = check_hub(url)
        os.environ[DEMO_HUB_ENV] = url
    check_server("sockjet")
    check_port(args.host, args.port)
    names = {"redis": "Redis", "nats": "NATS"}
    hub = f"{names[kind]} hub at {redacted(url)}" if url is not None and kind in names else "in-process hub"
    print(
        f"sockjet demo: open http://{_browser_host(args.host)}:{args.port}/ in a browser "
        f"({args.workers} worker{'s' if args.workers > 1 else ''}, {hub}; Ctrl+C to stop)",
        flush=True,
    )
    return _serve(
        ServerOptions(
            app=DEMO_APP,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            factory=True,
            # Chat frames are small: refuse big ones at the protocol level, before the app reads them.
            ws_max_size=64 * 1024,
            handshake_timeout=args.handshake_timeout,
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sockjet`` command with ``argv`` (default: ``sys.argv[1:]``) and return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and argparse's usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        result: int = _run(args) if args.command == "run" else _demo(args)
    except CLIError as exc:
        print(f"sockjet: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return result


def console_main() -> None:
    """Entry point of the ``sockjet`` console script."""
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)  # pragma: no cover - Ctrl+C before the server installed its own handler


__all__ = ["CLIError", "ServerOptions", "build_parser", "console_main", "load_app", "log_config", "main"]
