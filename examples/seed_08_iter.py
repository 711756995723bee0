"""Seed example 8 of the FastAPI WebSocket article: Iterating over JSON and Binary Messages.

Ported by swapping the FastAPI import for sockjet's and ``FastAPI()`` for ``App()``; the rest is
the seed verbatim. Run: ``uvicorn examples.seed_08_iter:app``.
"""

from sockjet import App, WebSocket, WebSocketDisconnect  # noqa: F401 - the seed imports it unused

app = App()


@app.websocket("/ws/iter")
async def websocket_iter_endpoint(websocket: WebSocket):
    # Accept the WebSocket connection.
    await websocket.accept()

    # Inform the client to send JSON messages.
    await websocket.send_text("Send JSON messages now. Send 'done' to finish JSON iteration.")

    # Iterate over incoming JSON messages.
    async for data in websocket.iter_json():
        if data == "done":
            break
        # Echo the received JSON message back to the client.
        await websocket.send_text(f"JSON Echo: {data}")

    # Inform the client to send binary messages.
    await websocket.send_text("Send binary messages now. Send b'done' to finish binary iteration.")

    # Iterate over incoming binary messages.
    async for data in websocket.iter_bytes():
        if data == b"done":
            break
        # Echo the received binary message back to the client.
        await websocket.send_bytes(data)

    # Close the connection gracefully after iteration is complete.
    await websocket.close(code=1000, reason="Iteration complete")
