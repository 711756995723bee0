"""FastAPI's first WebSocket tutorial on sockjet: a page and an endpoint that echoes every message.

Only the imports differ from the FastAPI version (``tests/test_differential_fastapi.py`` runs both).
Run: ``sockjet run examples.fastapi_ws_echo:app``.
"""

from sockjet import App, WebSocket
from sockjet.responses import HTMLResponse

app = App()

page = """<!DOCTYPE html>
<html>
  <body>
    <h1>WebSocket echo</h1>
    <form onsubmit="send(event)"><input id="text" autocomplete="off"><button>Send</button></form>
    <ul id="messages"></ul>
    <script>
      const ws = new WebSocket(`ws://${location.host}/ws`);
      ws.onmessage = (event) => {
        const li = document.createElement("li");
        li.textContent = event.data;
        document.getElementById("messages").appendChild(li);
      };
      function send(event) {
        event.preventDefault();
        const input = document.getElementById("text");
        ws.send(input.value);
        input.value = "";
      }
    </script>
  </body>
</html>
"""


@app.get("/")
async def get():
    return HTMLResponse(page)


@app.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket):
    await websocket.accept()
    while True:
        data = await websocket.receive_text()
        await websocket.send_text(f"Message text was: {data}")
