"""Seed example 3 of the FastAPI WebSocket article: Echoing Binary Data.

Ported by swapping the FastAPI import for sockjet's and ``FastAPI()`` for ``App()``; the rest is
the seed verbatim. Run: ``uvicorn examples.seed_03_binary:app``.
"""

from sockjet import App, WebSocket, WebSocketDisconnect

app = App()


@app.websocket("/ws/binary")
async def websocket_binary_endpoint(websocket: WebSocket):
    # Accept the WebSocket connection.
    await websocket.accept()
    try:
        while True:
            # Receive binary data from the client.
            data = await websocket.receive_bytes()
            # Echo the binary data back to the client.
            await websocket.send_bytes(data)
    except WebSocketDisconnect:
        # Handle client disconnection.
        print("Client disconnected")
