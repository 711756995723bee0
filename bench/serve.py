"""One echo server process: ``python -m bench.serve --stack raw --ws wsproto --port 8001 --cpu 0``.

Stacks ``raw``, ``sockjet``, ``starlette`` and ``fastapi`` run on uvicorn (uvloop, httptools, the
chosen WebSocket implementation); ``picows`` is picows' own Cython echo server, the ceiling.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bench._system import pin_to_cpu, raise_open_files

UVICORN_STACKS = ("raw", "sockjet", "starlette", "fastapi")
STACKS = (*UVICORN_STACKS, "picows")
WS_IMPLS = ("websockets-sansio", "wsproto")


def serve_uvicorn(stack: str, ws: str, port: int) -> None:
    import uvicorn

    uvicorn.run(
        f"bench.apps:{stack}",
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        ws=ws,
        lifespan="off",
        log_level="warning",
        access_log=False,
        backlog=4096,
    )


async def _serve_picows(port: int) -> None:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

    class Echo(WSListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
                transport.send(frame.msg_type, frame.get_payload_as_memoryview())
            elif frame.msg_type is WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    def factory(request: WSUpgradeRequest) -> WSListener:
        return Echo()

    server = await ws_create_server(factory, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def serve_picows(port: int) -> None:
    import uvloop

    uvloop.run(_serve_picows(port))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", choices=STACKS, required=True)
    parser.add_argument("--ws", choices=WS_IMPLS, default="websockets-sansio")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, default=None, help="pin the server to this core")
    args = parser.parse_args(argv)
    pin_to_cpu(args.cpu)
    raise_open_files()
    if args.stack == "picows":
        serve_picows(args.port)
    else:
        serve_uvicorn(args.stack, args.ws, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
