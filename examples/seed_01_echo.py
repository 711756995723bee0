"""Seed example 1 of the FastAPI WebSocket article: Simple Echo using Text Messages.

Ported by swapping the FastAPI import for sockjet's and ``FastAPI()`` for ``App()``; the rest is
the seed verbatim. Run: ``uvicorn examples.seed_01_echo:app``.
"""

from sockjet import App, WebSocket, WebSocketDisconnect

app = App()


@app.websocket("/ws/echo")
async def websocket_echo_endpoint(websocket: WebSocket):
    # Accept the WebSocket connection.
    await websocket.accept()
    try:
        while True:
            # Receive a text message from the client.
            data = await websocket.receive_text()
            # If the client sends "close", send a final message and close the connection gracefully.
            if data.lower() == "close":
                await websocket.send_text("Closing connection gracefully.")
                await websocket.close(code=1000, reason="Client requested closure")
                break
            # Otherwise, echo the received message back to the client.
            await websocket.send_text(f"Echo: {data}")

        # Close the connection after breaking the loop.
        await websocket.close(code=1000, reason="Client requested closure")
    except WebSocketDisconnect:
        # Handle client disconnection.
        print("Client disconnected")
