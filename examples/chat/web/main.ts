// SPDX-License-Identifier: MIT
//
// main.ts: the chat example's web page (index.html): a person enters a name and a room,
// then chats in the room's channels, joins and leaves channels, sees who types and reads
// the history. Plain DOM and the generated client (veranic --ts: ChatRoom) on
// @verani/client; esbuild bundles it into app.js. The room's rules are the server's
// (examples/chat/README.md): a message goes to the channel it names, to everyone there but
// the sender (so the page shows its own messages itself); typing is relayed to "default".
// `?name=NAME&room=ROOM` in the page's URL enters at once.
import { RequestError, ValidationError, type State } from "@verani/client";
import { ChatRoom } from "@chat/chat_client.js";
import type { ChatBroadcast } from "@chat/chat_pb.js";

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const TYPING_SHOWN_MS = 3000;  // how long "x is typing" stays without news
const TYPING_EVERY_MS = 2000;  // how often this page says it types

let room: ChatRoom | undefined;
let me = "";
let current = "default";
const typists = new Map<string, ReturnType<typeof setTimeout>>();
let lastTyping = 0;

function line(list: HTMLElement, cls: string, parts: [string, string][], data: Record<string, string> = {}): void {
  const li = document.createElement("li");
  li.className = cls;
  for (const [c, text] of parts) {
    const span = document.createElement("span");
    span.className = c;
    span.textContent = text;
    li.append(span);
  }
  for (const [k, v] of Object.entries(data)) li.dataset[k] = v;
  const atEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.append(li);
  if (atEnd) list.scrollTop = list.scrollHeight;
}

function showMessage(list: HTMLElement, m: { from: string; text: string; channel?: string }): void {
  const ch = m.channel || "default";
  line(list, m.from === me ? "msg mine" : "msg", [["ch", `#${ch}`], ["from", m.from], ["text", m.text]],
       { from: m.from, channel: ch });
}

function note(text: string): void {
  line($("messages"), "note", [["text", text]]);
}

function error(text: string): void {
  $("error").textContent = text;
}

function showTyping(): void {
  const who = [...typists.keys()];
  $("typing").textContent = who.length === 0 ? ""
    : `${who.join(", ")} ${who.length === 1 ? "is" : "are"} typing…`;
}

function renderChannels(): void {
  const ul = $("channels");
  ul.replaceChildren();
  if (!room) return;
  const chans = room.client.channels.sort();
  if (!chans.includes(current)) current = "default";
  for (const ch of chans) {
    const li = document.createElement("li");
    li.dataset.channel = ch;
    li.textContent = `#${ch}`;
    if (ch === current) li.className = "current";
    li.onclick = () => {
      current = ch;
      renderChannels();
    };
    if (ch !== "default") {
      const leave = document.createElement("button");
      leave.className = "link";
      leave.type = "button";
      leave.title = `leave #${ch}`;
      leave.textContent = "×";
      leave.onclick = (ev) => {
        ev.stopPropagation();
        room?.client.leave(ch).then(renderChannels, (e) => error(`#${ch}: ${(e as Error).message}`));
      };
      li.append(leave);
    }
    ul.append(li);
  }
  $("text").setAttribute("placeholder", `say something in #${current}`);
}

function setState(s: State): void {
  const el = $("status");
  el.dataset.state = s;
  el.textContent = s;
}

function enter(name: string, instance: string): void {
  me = name;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const q = new URLSearchParams({ userId: name, name });
  room = new ChatRoom(`${proto}//${location.host}/chat/${encodeURIComponent(instance)}?${q}`);
  $("login").hidden = true;
  $("chat").hidden = false;
  $("whoami").textContent = `${name} in ${instance}`;
  document.title = `${instance} · Verani-C chat`;
  const c = room.client;
  setState(c.state);
  c.onStateChange((_from, to) => setState(to));
  c.onOpen(() => {
    error("");
    renderChannels();
  });
  c.onRecoveryFailed(() => note("some messages may be missing: see the history"));
  c.onError((_kind, what) => error(what));
  room.on.chatMessage((m: ChatBroadcast) => {
    showMessage($("messages"), m);
    clearTimeout(typists.get(m.from));
    typists.delete(m.from);
    showTyping();
  });
  room.on.userJoined((u) => note(`${u.userId} joined`));
  room.on.userLeft((u) => note(`${u.userId} left`));
  room.on.typing((u) => {
    clearTimeout(typists.get(u.userId));
    typists.set(u.userId, setTimeout(() => {
      typists.delete(u.userId);
      showTyping();
    }, TYPING_SHOWN_MS));
    showTyping();
  });
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  enter(($("name") as HTMLInputElement).value.trim(), ($("room") as HTMLInputElement).value.trim());
});

$("send").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("text") as HTMLInputElement;
  const text = input.value;
  if (!room || text === "") return;
  try {
    room.emit.chatMessage(current === "default" ? { text } : { text, channel: current });
  } catch (e) {
    // the schema's limits, checked before anything is sent
    error(e instanceof ValidationError ? `not sent: ${e.message}` : String(e));
    return;
  }
  error("");
  showMessage($("messages"), { from: me, text, channel: current });
  input.value = "";
});

$("text").addEventListener("input", () => {
  const now = Date.now();
  if (!room || now - lastTyping < TYPING_EVERY_MS || room.client.state !== "connected") return;
  lastTyping = now;
  room.emit.chatTyping();
});

$("join").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("channel") as HTMLInputElement;
  const ch = input.value.trim();
  if (!room || ch === "") return;
  room.client.join(ch).then(() => {
    current = ch;
    input.value = "";
    error("");
    renderChannels();
  }, (e) => error(`#${ch}: ${e instanceof RequestError ? e.message : String(e)}`));
});

$("load-history").addEventListener("click", () => {
  room?.request.history({ limit: 50 }).then((page) => {
    const list = $("history");
    list.replaceChildren();
    for (const m of [...page.messages].reverse()) showMessage(list, m);
    line(list, "note", [["text", `history: ${page.messages.length} message(s) of your channels`]]);
  }, (e) => error(`history: ${(e as Error).message}`));
});

const params = new URLSearchParams(location.search);
if (params.get("name") && params.get("room")) enter(params.get("name")!, params.get("room")!);
