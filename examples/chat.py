"""A chat with rooms: an HTML page on ``/`` and JSON messages over ``/ws/{room}?name=``.

Serve it with ``yaat run examples.chat:app`` and open http://127.0.0.1:8000/.  With
``YAAT_REDIS_URL=redis://127.0.0.1:6379/0`` in the environment, rooms go through Redis,
so that several processes (``yaat run ... --port 8001``) share them.

Each client sends ``{"text": ...}`` (at most 2,000 characters); every member of the room
receives ``{"type": "message", "id": ..., "name": ..., "text": ...}``, and
``{"type": "join"|"leave", "id": ..., "name": ..., "room": ...}`` when someone arrives or
goes.  A newcomer then gets ``{"type": "members", "room": ..., "members": [{"id": ...,
"name": ...}, ...]}``: everyone in the room, in every process (``Rooms.presence``).  A
message that could not be delivered (Redis unreachable) is answered, to its sender
only, with ``{"type": "error", "text": "not delivered: try again"}``: it is not
delivered later either.

What closes the connection: a binary message, or text that is not JSON, with 1003; JSON
with a lone surrogate (``"\\ud800"``, which no server can send on) with 1007; a message
that is not ``{"text": str}`` or is too long, with 1008; one over 16 KiB, with 1009
before it is parsed.  A member that falls far behind is closed with 1013 (see
``yaat.rooms``).  Pages of other sites get HTTP 403 (``Origin`` is checked: the same
origin only).
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

from yaat import HTMLResponse, PubSubUnavailable, RedisPubSub, Request, Response, Rooms, Yaat
from yaat.constants import WebSocketCloseEvent
from yaat.websockets import WebSocket, WebSocketDecodeError, WebSocketMessageTypeError

MAX_NAME = 32
MAX_TEXT = 2000
#: The largest message: MAX_TEXT characters of up to 4 UTF-8 bytes each, escaped in JSON.
MAX_MESSAGE_BYTES = 16 * 1024
#: The environment variable naming a Redis URL; without it, rooms live in this process.
REDIS_URL_VARIABLE = "YAAT_REDIS_URL"

logger = logging.getLogger("examples.chat")


def make_rooms() -> Rooms:
    """Rooms through Redis when ``YAAT_REDIS_URL`` names it, in this process otherwise."""
    url = os.environ.get(REDIS_URL_VARIABLE)
    return Rooms(RedisPubSub(url) if url else None)


rooms = make_rooms()
app = Yaat(on_startup=[rooms.connect], on_shutdown=[rooms.disconnect])


@app.route("/")
async def home(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


@app.route("/favicon.ico")
async def favicon(request: Request) -> Response:
    return Response(FAVICON, media_type="image/svg+xml")


# Pages of other sites are refused (the default: the same origin only), and so is a
# message larger than the longest text, in JSON, could be.
@app.websocket_route("/ws/{room}", max_message_size=MAX_MESSAGE_BYTES)
async def chat(websocket: WebSocket, room: str) -> None:
    name = websocket.query_params.get("name", "anonymous")[:MAX_NAME] or "anonymous"
    me = {"id": uuid.uuid4().hex[:12], "name": name}
    await websocket.accept()
    async with rooms.join(room, websocket, presence=me):
        await notify(room, {"type": "join", **me, "room": room})
        try:
            await websocket.send_json(
                {"type": "members", "room": room, "members": await present(room, me)}
            )
            await converse(websocket, room, me)
        finally:
            await notify(room, {"type": "leave", **me, "room": room})


async def present(room: str, me: dict[str, str]) -> list[Any]:
    """Everyone in *room*, in every process; only this member while Redis is away."""
    try:
        return await rooms.presence(room)
    except PubSubUnavailable:
        return [me]


async def converse(websocket: WebSocket, room: str, me: dict[str, str]) -> None:
    """Publish what the member says, until it leaves or breaks the protocol."""
    try:
        async for data in websocket.iter_json():
            text = data.get("text") if isinstance(data, dict) else None
            if not isinstance(text, str) or len(text) > MAX_TEXT:
                await websocket.close(WebSocketCloseEvent.POLICY_VIOLATION, "bad message")
                return
            try:
                await rooms.publish_json(room, {"type": "message", **me, "text": text})
            except PubSubUnavailable:
                await websocket.send_json({"type": "error", "text": "not delivered: try again"})
    except WebSocketDecodeError as error:  # 1007 for a lone surrogate, 1003 for not JSON
        await websocket.close(error.close_code, "send JSON text")
    except WebSocketMessageTypeError:
        await websocket.close(WebSocketCloseEvent.UNSUPPORTED_DATA, "send JSON text")


async def notify(room: str, notice: dict[str, str]) -> None:
    """A join or leave notice: lost, with a warning, while Redis is unreachable."""
    try:
        await rooms.publish_json(room, notice)
    except PubSubUnavailable as error:
        logger.warning("%s notice not delivered: %s", notice["type"], error)


FAVICON = b"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">\
<rect width="16" height="12" rx="3" fill="#2a6"/><path d="M4 12v4l4-4z" fill="#2a6"/></svg>"""

PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>yaat chat</title>
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
<style>
  body { font: 16px system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; }
  main { display: flex; gap: 1rem; }
  #log { flex: 1; border: 1px solid #ccc; height: 20rem; overflow-y: auto; padding: .5rem; }
  #members { width: 10rem; border: 1px solid #ccc; padding: .5rem; margin: 0; list-style: none; }
  #members:before { content: "In the room"; display: block; font-weight: bold; }
  .notice { color: #777; font-style: italic; }
  #state { color: #555; }
  #state[data-state="connected"] { color: #2a6; }
  #count[data-full] { color: #c33; }
</style>
<h1>yaat chat</h1>
<form id="join">
  <input id="room" value="lobby" aria-label="room"> <input id="name" placeholder="your name" aria-label="name">
  <button>Join</button>
</form>
<p id="state" role="status" data-state="idle">Not connected: choose a room and join.</p>
<main>
  <div id="log" aria-live="polite"></div>
  <ul id="members" aria-label="members"></ul>
</main>
<form id="say">
  <input id="text" autocomplete="off" aria-label="message" maxlength="__MAX_TEXT__" size="50" disabled>
  <button disabled>Send</button> <span id="count">0/__MAX_TEXT__</span>
</form>
<script>
const MAX_TEXT = __MAX_TEXT__;
// What a close code means, in words: https://www.rfc-editor.org/rfc/rfc6455#section-7.4.1
const CLOSES = {
  1000: "the connection was closed",
  1001: "the server is going away",
  1003: "the server refused a message it cannot take",
  1006: "the connection was lost",
  1007: "the server refused a message with invalid text",
  1008: "the server refused a message",
  1009: "the message was too long",
  1011: "the server had an error",
  1012: "the server is restarting",
  1013: "you fell behind the room",
};
let socket = null, wanted = null, attempt = 0, timer = null;
const members = new Map();  // id -> name
const $ = (id) => document.getElementById(id);
function show(text, notice) {
  const line = document.createElement("div");
  line.textContent = text;
  if (notice) line.className = "notice";
  $("log").append(line);
  $("log").scrollTop = $("log").scrollHeight;
}
function state(kind, text) {
  $("state").dataset.state = kind;
  $("state").textContent = text;
  const open = kind === "connected";
  document.querySelectorAll("#say input, #say button").forEach((e) => (e.disabled = !open));
  if (open) count();
}
function list() {
  const ul = $("members");
  ul.replaceChildren(...[...members.values()].sort().map((name) => {
    const li = document.createElement("li");
    li.textContent = name;
    return li;
  }));
}
function count() {
  const length = $("text").value.length;
  $("count").textContent = `${length}/${MAX_TEXT}`;
  $("count").toggleAttribute("data-full", length >= MAX_TEXT);
  $("say").querySelector("button").disabled = socket?.readyState !== WebSocket.OPEN || length === 0 || length > MAX_TEXT;
}
function connect() {
  clearTimeout(timer);
  const { room, name } = wanted;
  state("connecting", `Connecting to ${room}…`);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}/ws/${encodeURIComponent(room)}?name=${encodeURIComponent(name)}`;
  const ws = socket = new WebSocket(url);
  ws.onopen = () => {
    attempt = 0;
    state("connected", `Connected to ${room} as ${name}.`);
  };
  ws.onmessage = (event) => {
    const data = JSON.parse(event.data);
    if (data.type === "message") show(`${data.name}: ${data.text}`);
    else if (data.type === "error") show(data.text, true);
    else if (data.type === "members") {
      members.clear();
      data.members.forEach((m) => members.set(m.id, m.name));
      list();
    } else {
      if (data.type === "join") members.set(data.id, data.name);
      else members.delete(data.id);
      list();
      show(`${data.name} ${data.type === "join" ? "joined" : "left"} ${data.room}`, true);
    }
  };
  ws.onclose = (event) => {
    if (ws !== socket) return;  // a socket this page replaced
    members.clear();
    list();
    const why = CLOSES[event.code] || `the connection closed (${event.code})`;
    if (event.code === 1008 || event.code === 1009 || event.code === 1007 || event.code === 1003) {
      state("closed", `Disconnected: ${why}. Join again to reconnect.`);
      return;
    }
    // Back off: 1, 2, 4, 8, 16 then 30 s at most, with jitter so a restart is not a stampede.
    const delay = Math.min(30, 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt += 1;
    state("reconnecting", `Disconnected: ${why}. Reconnecting in ${Math.ceil(delay)} s…`);
    timer = setTimeout(connect, delay * 1000);
  };
}
$("join").onsubmit = (event) => {
  event.preventDefault();
  wanted = { room: $("room").value || "lobby", name: $("name").value || "anonymous" };
  attempt = 0;
  const old = socket;
  socket = null;
  if (old) old.close();
  connect();
};
$("text").oninput = count;
$("say").onsubmit = (event) => {
  event.preventDefault();
  const text = $("text").value;
  if (!socket || socket.readyState !== WebSocket.OPEN || !text || text.length > MAX_TEXT) return;
  socket.send(JSON.stringify({ text }));
  $("text").value = "";
  count();
};
</script>
</html>
""".replace("__MAX_TEXT__", str(MAX_TEXT))
