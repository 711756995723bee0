"""FastAPI's WebSocket tutorial with dependencies, on sockjet: a Cookie or Query token checked by a dependency.

The same code runs on FastAPI with only the imports changed (``sockjet`` -> ``fastapi``, ``App`` ->
``FastAPI``); ``tests/test_differential_fastapi.py`` runs it on both. Run: ``sockjet run examples.fastapi_ws_auth:app``.
"""

from typing import Annotated

from sockjet import App, Cookie, Depends, Query, WebSocket, WebSocketException, status
from sockjet.responses import HTMLResponse

app = App()

page = """<!DOCTYPE html>
<html>
  <body>
    <h1>WebSocket with a token</h1>
    <form onsubmit="send(event)">
      <input id="item" value="foo"> <input id="token" value="some-key-token">
      <button type="button" onclick="connect()">Connect</button>
      <input id="text"> <button>Send</button>
    </form>
    <ul id="messages"></ul>
    <script>
      let ws = null;
      function connect() {
        const item = document.getElementById("item").value;
        const token = document.getElementById("token").value;
        ws = new WebSocket(`ws://${location.host}/items/${item}/ws?token=${token}`);
        ws.onmessage = (event) => {
          const li = document.createElement("li");
          li.textContent = event.data;
          document.getElementById("messages").appendChild(li);
        };
      }
      function send(event) {
        event.preventDefault();
        ws.send(document.getElementById("text").value);
      }
    </script>
  </body>
</html>
"""


@app.get("/")
async def get():
    return HTMLResponse(page)


async def get_cookie_or_token(
    websocket: WebSocket,
    session: Annotated[str | None, Cookie()] = None,
    token: Annotated[str | None, Query()] = None,
):
    if session is None and token is None:
        raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION)
    return session or token


@app.websocket("/items/{item_id}/ws")
async def websocket_endpoint(
    *,
    websocket: WebSocket,
    item_id: str,
    q: int | None = None,
    cookie_or_token: Annotated[str, Depends(get_cookie_or_token)],
):
    await websocket.accept()
    while True:
        data = await websocket.receive_text()
        await websocket.send_text(f"Session cookie or query token value is: {cookie_or_token}")
        if q is not None:
            await websocket.send_text(f"Query parameter q is: {q}")
        await websocket.send_text(f"Message text was: {data}, for item ID: {item_id}")
