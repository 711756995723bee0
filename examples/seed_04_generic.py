"""Seed example 4 of the FastAPI WebSocket article: Using Low-level receive and send Methods.

Ported by swapping the FastAPI import for sockjet's and ``FastAPI()`` for ``App()``; the rest is
the seed verbatim. Run: ``uvicorn examples.seed_04_generic:app``.
"""

from sockjet import App, WebSocket, WebSocketDisconnect

app = App()


@app.websocket("/ws/generic")
async def websocket_generic_endpoint(websocket: WebSocket):
    # Accept the WebSocket connection.
    await websocket.accept()
    try:
        while True:
            # Use the low-level receive() method to get a message.
            message = await websocket.receive()

            # Check if the received message is text.
            if "text" in message:
                text = message["text"]
                # Prepare a response dictionary for text messages.
                response = {"type": "websocket.send", "text": f"Echo: {text}"}
                await websocket.send(response)

            # Check if the received message is binary.
            elif "bytes" in message:
                # Prepare a response dictionary for binary messages.
                response = {"type": "websocket.send", "bytes": message["bytes"]}
                await websocket.send(response)
    except WebSocketDisconnect:
        # Handle client disconnection.
        print("Client disconnected")
