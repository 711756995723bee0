from sockjet import App, WebSocket, WebSocketDisconnect
from sockjet.metrics import metrics_app

app = App()
app.add_route("/metrics", metrics_app())  # Starlette / FastAPI: app.mount("/metrics", metrics_app())


@app.websocket("/ws/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass
