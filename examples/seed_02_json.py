"""Seed example 2 of the FastAPI WebSocket article: JSON Data Exchange.

Ported by swapping the FastAPI import for sockjet's and ``FastAPI()`` for ``App()``; the rest is
the seed verbatim. Run: ``uvicorn examples.seed_02_json:app``.
"""

from sockjet import App, WebSocket, WebSocketDisconnect

app = App()


@app.websocket("/ws/json")
async def websocket_json_endpoint(websocket: WebSocket):
    # Accept the WebSocket connection.
    await websocket.accept()
    try:
        while True:
            # Receive JSON data from the client.
            data = await websocket.receive_json()

            # Process the data (reverse the string under the key 'message').
            message = data.get("message", "")
            response = {"response": message[::-1]}

            # Send the processed JSON response back to the client.
            await websocket.send_json(response)
    except WebSocketDisconnect:
        # Handle client disconnection.
        print("Client disconnected")
