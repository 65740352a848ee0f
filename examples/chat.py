"""A chat with rooms: an HTML page on ``/`` and JSON messages over ``/ws/{room}?name=``.

Serve it with ``yaat run examples.chat:app`` and open http://127.0.0.1:8000/.  With
``YAAT_REDIS_URL=redis://127.0.0.1:6379/0`` in the environment, rooms go through Redis,
so that several processes (``yaat run ... --port 8001``) share them.

Each client sends ``{"text": ...}``; every member of the room receives
``{"type": "message", "name": ..., "text": ...}``, and ``{"type": "join"|"leave",
"name": ..., "room": ...}`` when someone arrives or goes.  A message that could not be
delivered (Redis unreachable) is answered, to its sender only, with ``{"type": "error",
"text": ...}``.  Anything but a JSON text message closes with 1003, a malformed one with
1008, one over 16 KiB with 1009 before it is parsed.  A member that falls far behind is
closed with 1013 (see ``yaat.rooms``).  Pages of other sites get HTTP 403 (``Origin``
is checked: the same origin only).
"""

from __future__ import annotations

import logging
import os

from yaat import HTMLResponse, PubSubUnavailable, RedisPubSub, Request, Rooms, Yaat
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


# Pages of other sites are refused (the default: the same origin only), and so is a
# message larger than the longest text, in JSON, could be.
@app.websocket_route("/ws/{room}", max_message_size=MAX_MESSAGE_BYTES)
async def chat(websocket: WebSocket, room: str) -> None:
    name = websocket.query_params.get("name", "anonymous")[:MAX_NAME] or "anonymous"
    await websocket.accept()
    async with rooms.join(room, websocket):
        await notify(room, {"type": "join", "name": name, "room": room})
        try:
            await converse(websocket, room, name)
        finally:
            await notify(room, {"type": "leave", "name": name, "room": room})


async def converse(websocket: WebSocket, room: str, name: str) -> None:
    """Publish what the member says, until it leaves or breaks the protocol."""
    try:
        async for data in websocket.iter_json():
            text = data.get("text") if isinstance(data, dict) else None
            if not isinstance(text, str) or len(text) > MAX_TEXT:
                await websocket.close(WebSocketCloseEvent.POLICY_VIOLATION, "bad message")
                return
            try:
                await rooms.publish_json(room, {"type": "message", "name": name, "text": text})
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


PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>yaat chat</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
  #log { border: 1px solid #ccc; height: 20rem; overflow-y: auto; padding: .5rem; }
  .notice { color: #777; font-style: italic; }
</style>
<h1>yaat chat</h1>
<form id="join">
  <input id="room" value="lobby" aria-label="room"> <input id="name" placeholder="your name" aria-label="name">
  <button>Join</button>
</form>
<div id="log" aria-live="polite"></div>
<form id="say"><input id="text" autocomplete="off" aria-label="message" disabled> <button disabled>Send</button></form>
<script>
let socket = null;
const log = document.getElementById("log");
function show(text, notice) {
  const line = document.createElement("div");
  line.textContent = text;
  if (notice) line.className = "notice";
  log.append(line);
  log.scrollTop = log.scrollHeight;
}
document.getElementById("join").onsubmit = (event) => {
  event.preventDefault();
  if (socket) socket.close();
  const room = encodeURIComponent(document.getElementById("room").value || "lobby");
  const name = encodeURIComponent(document.getElementById("name").value || "anonymous");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/${room}?name=${name}`);
  socket.onopen = () => document.querySelectorAll("#say *").forEach((e) => (e.disabled = false));
  socket.onmessage = (event) => {
    const data = JSON.parse(event.data);
    if (data.type === "message") show(`${data.name}: ${data.text}`);
    else if (data.type === "error") show(data.text, true);
    else show(`${data.name} ${data.type === "join" ? "joined" : "left"} ${data.room}`, true);
  };
  socket.onclose = (event) => show(`disconnected (${event.code}${event.reason ? ": " + event.reason : ""})`, true);
};
document.getElementById("say").onsubmit = (event) => {
  event.preventDefault();
  const input = document.getElementById("text");
  if (socket && input.value) socket.send(JSON.stringify({ text: input.value }));
  input.value = "";
};
</script>
</html>
"""
