// A small app written against sockjet.d.ts; `tsc --noEmit` checks that the types hold together.
import { Client, SockjetError, type Members, type State } from "../../sockjet.js";

interface ChatMessage {
  user: string;
  text: string;
}
interface Who {
  user: string;
}

const client = new Client("wss://example.com/ws", {
  getToken: async () => (await fetch("/token")).text(),
  maxQueue: 50,
});
client.on("state", (state: State, detail) => {
  if (state === "closed" && detail.code !== undefined) console.log(`stopped: ${detail.code} ${detail.reason}`);
});
client.connect();

const room = client.subscribe<ChatMessage, Who>("chat:42", { params: { lang: "en" }, presence: true });
room.on("message", (message, { position }) => console.log(message.user, message.text, position));
room.on("subscribed", ({ recovered, missed, wasRecovering }) => console.log(recovered, missed, wasRecovering));
room.on("resync", async () => {
  const history = await room.history({ limit: 50 });
  for (const { data } of history.messages) console.log(data.text);
});
room.on("presence", (members: Members<Who>, { joins }) => {
  console.log(Object.values(members).map((who) => who.user), joins.length);
});
room.on("error", (error: SockjetError) => console.log(error.code, error.message));

export async function send(text: string): Promise<string | null> {
  try {
    return await room.publish({ user: "ada", text }, { timeout: 5000 });
  } catch (error) {
    if (error instanceof SockjetError && error.code === 429) return null;
    throw error;
  }
}

export async function add(a: number, b: number): Promise<number> {
  return client.call<number>("add", { a, b }, { timeout: 2000 });
}

export function leave(): Promise<void> {
  client.close();
  return room.unsubscribe();
}
