"""Seed example 7 of the FastAPI WebSocket article: Custom Headers and Subprotocols.

Ported by swapping the FastAPI import for sockjet's and ``FastAPI()`` for ``App()``; the rest is
the seed verbatim. Run: ``uvicorn examples.seed_07_custom:app``.
"""

from sockjet import App, WebSocket, WebSocketDisconnect

app = App()


@app.websocket("/ws/custom")
async def websocket_custom_endpoint(websocket: WebSocket):
    # Accept the WebSocket connection with a custom subprotocol and headers.
    await websocket.accept(subprotocol="custom-protocol", headers=[(b"X-Custom-Header", b"MyValue")])
    try:
        while True:
            # Receive a text message from the client.
            data = await websocket.receive_text()
            # Send a custom response back to the client.
            await websocket.send_text(f"Custom response: {data}")
    except WebSocketDisconnect:
        # Handle client disconnection.
        print("Client disconnected")
