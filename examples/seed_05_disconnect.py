"""Seed example 5 of the FastAPI WebSocket article: Handling Client Disconnects.

Ported by swapping the FastAPI import for sockjet's and ``FastAPI()`` for ``App()``; the rest is
the seed verbatim. Run: ``uvicorn examples.seed_05_disconnect:app``.
"""

from sockjet import App, WebSocket, WebSocketDisconnect

app = App()


@app.websocket("/ws/handle_disconnect")
async def websocket_disconnect_endpoint(websocket: WebSocket):
    # Accept the WebSocket connection.
    await websocket.accept()
    try:
        while True:
            # Receive a text message from the client.
            message = await websocket.receive_text()
            # Send a response back to the client.
            await websocket.send_text(f"Received: {message}")
    except WebSocketDisconnect as e:
        # Handle client disconnection and log the disconnect details.
        print(f"Client disconnected with code {e.code} and reason: {e.reason}")
