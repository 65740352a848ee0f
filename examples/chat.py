"""A chat with rooms: an HTML page on ``/`` and JSON messages over ``/ws/{room}``.

Serve it with ``yaat run examples.chat:app`` and open http://127.0.0.1:8000/.

Each client sends ``{"name": ..., "text": ...}``; every member of the room receives
``{"type": "message", "name": ..., "text": ...}``, and ``{"type": "join"|"leave", ...}``
notices when someone arrives or goes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from yaat import HTMLResponse, Request, Yaat
from yaat.constants import WebSocketCloseEvent
from yaat.websockets import WebSocket, WebSocketDecodeError, WebSocketDisconnect

MAX_NAME = 32
MAX_TEXT = 2000


class Rooms:
    """Who is in which room, and how to tell all of them something."""

    def __init__(self) -> None:
        self.members: dict[str, set[WebSocket]] = defaultdict(set)

    async def broadcast(self, room: str, message: dict[str, Any]) -> None:
        # Encoded once for the whole room; a member that has gone is dropped.
        text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        for member in list(self.members.get(room, ())):
            try:
                await member.send_text(text)
            except WebSocketDisconnect:
                self.members[room].discard(member)

    def join(self, room: str, websocket: WebSocket) -> None:
        self.members[room].add(websocket)

    def leave(self, room: str, websocket: WebSocket) -> None:
        self.members[room].discard(websocket)
        if not self.members[room]:
            del self.members[room]


app = Yaat()
rooms = Rooms()


@app.route("/")
async def home(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE)


@app.websocket_route("/ws/{room}")
async def chat(websocket: WebSocket, room: str) -> None:
    name = websocket.query_params.get("name", "anonymous")[:MAX_NAME]
    await websocket.accept()
    rooms.join(room, websocket)
    await rooms.broadcast(room, {"type": "join", "name": name, "room": room})
    try:
        while True:
            try:
                data = await websocket.receive_json()
            except WebSocketDecodeError:
                await websocket.close(WebSocketCloseEvent.UNSUPPORTED_DATA, "send JSON")
                return
            text = data.get("text") if isinstance(data, dict) else None
            if not isinstance(text, str) or len(text) > MAX_TEXT:
                await websocket.close(WebSocketCloseEvent.POLICY_VIOLATION, "bad message")
                return
            await rooms.broadcast(room, {"type": "message", "name": name, "text": text})
    except WebSocketDisconnect:
        pass
    finally:
        rooms.leave(room, websocket)
        await rooms.broadcast(room, {"type": "leave", "name": name, "room": room})


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
