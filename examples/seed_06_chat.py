"""Seed example 6 of the FastAPI WebSocket article: Broadcasting to Multiple Clients.

Ported by swapping the FastAPI import for sockjet's and ``FastAPI()`` for ``App()``; the rest is
the seed verbatim. Run: ``uvicorn examples.seed_06_chat:app``.
"""

from sockjet import App, WebSocket, WebSocketDisconnect  # noqa: I001 - the seed's import order
from typing import List  # noqa: UP035 - as in the seed

app = App()

# List to store active WebSocket connections.
active_connections: List[WebSocket] = []  # noqa: UP006 - as in the seed


# Function to broadcast a message to all connected clients.
async def broadcast_message(message: str):
    for connection in active_connections:
        await connection.send_text(message)


@app.websocket("/ws/chat")
async def websocket_chat_endpoint(websocket: WebSocket):
    # Accept the WebSocket connection.
    await websocket.accept()
    # Add the new connection to the list of active connections.
    active_connections.append(websocket)
    try:
        while True:
            # Receive a text message from the client.
            data = await websocket.receive_text()
            # Broadcast the received message to all connected clients.
            await broadcast_message(f"Client says: {data}")
    except WebSocketDisconnect:
        # Remove the disconnected client from the list of active connections.
        active_connections.remove(websocket)
        # Notify remaining clients about the disconnection.
        await broadcast_message("A client has disconnected.")
