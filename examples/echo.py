"""The README's first example: an echo endpoint. Run: ``uvicorn examples.echo:app``."""

from sockjet import App, WebSocket, WebSocketDisconnect

app = App()


@app.websocket("/ws/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(f"Echo: {await websocket.receive_text()}")
    except WebSocketDisconnect:
        pass
