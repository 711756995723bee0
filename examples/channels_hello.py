"""Channels in one file: `uvicorn examples.channels_hello:app`, then `python -m examples.channels_hello`."""

import asyncio

from sockjet import Hub
from sockjet.channels import Channels, Connection
from sockjet.client import Client

app = channels = Channels(Hub(history_size=100))  # an ASGI app: serves ws://127.0.0.1:8000/ on its own


@channels.room("chat:{room_id}")
async def chat(conn: Connection, room_id: str) -> None: ...  # anyone may subscribe; Refuse("why") answers 403


@chat.on_publish
async def chat_publish(conn: Connection, room_id: str, data: dict[str, str]) -> dict[str, str]:
    return {"room": room_id, "text": data.get("text", "")}  # what is published: validated, stamped


async def main(url: str = "ws://127.0.0.1:8000/") -> None:
    async with Client(url) as client:  # reconnects, resubscribes and recovers what it missed by itself
        sub = await client.subscribe("chat:42")
        await sub.publish({"text": "hello"})
        print(await anext(sub))  # Message(room='chat:42', data={'room': '42', 'text': 'hello'}, position=...)


if __name__ == "__main__":
    asyncio.run(main())
