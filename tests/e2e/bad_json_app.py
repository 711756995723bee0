"""The app the bad-data flood test serves: an endpoint that reads JSON and lets a decoding error escape."""

from __future__ import annotations

from sockjet import App, WebSocket

app = App()


@app.websocket("/json")
async def read_json(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        await websocket.send_json(await websocket.receive_json())
