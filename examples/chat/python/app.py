"""Chat: one room, the Python twin of examples/chat/rust, with the same wire
protocol. A client joins with ``?name=...``; each text it sends goes to
everyone else as {"type":"message","from":NAME,"text":TEXT}, and everyone
hears {"type":"join",...} and {"type":"leave",...} notices. No name: HTTP
400 before the upgrade. ``/quit`` closes the connection (1000, "goodbye").
A client offering the subprotocol ``chat.v1`` gets it confirmed.

The member list lives in guest memory; ``snapshot`` and ``restore`` hand it
to the next version during a hot swap, so everyone stays in the room."""

import json
from typing import Dict, Optional, Union

from switchboard import (
    Accept, App, CloseCode, Message, Message_Text, Reject, Request, accept, broadcast_json,
    close, export, log, query_param, reject, send_json,
)

# Names longer than this are refused, so one client cannot flood the room's
# notices with a huge name.
MAX_NAME_CHARS = 64
SUBPROTOCOL = "chat.v1"


class Chat(App):
    def __init__(self) -> None:
        self.names: Dict[int, str] = {}

    def on_open(self, connection: int, request: Request) -> Union[Accept, Reject]:
        name = (query_param(request, "name") or "").strip()
        if not name:
            return reject(400, "join with ?name=YOUR_NAME")
        if len(name) > MAX_NAME_CHARS:
            return reject(400, "that name is too long")
        send_json(connection, {"type": "welcome", "name": name, "members": list(self.names.values())})
        broadcast_json({"type": "join", "name": name}, [connection])
        log.info(f"{name} joined")
        self.names[connection] = name
        return accept(SUBPROTOCOL if SUBPROTOCOL in request.subprotocols else None)

    def on_message(self, connection: int, message: Message) -> None:
        sender = self.names.get(connection)
        if sender is None:
            return
        if not isinstance(message, Message_Text):
            send_json(connection, {"type": "error", "text": "chat messages are text"})
            return
        if message.value.strip() == "/quit":
            # on_close follows once the closing handshake is done.
            close(connection, CloseCode.NORMAL, "goodbye")
            return
        broadcast_json({"type": "message", "from": sender, "text": message.value}, [connection])

    def on_close(self, connection: int, code: int, reason: str) -> None:
        name = self.names.pop(connection, None)
        if name is not None:
            log.info(f"{name} left")
            broadcast_json({"type": "leave", "name": name})

    # The room as JSON, the shape the Rust and JavaScript chats use too:
    # {"members": [[connection, name], ...]}.
    def snapshot(self) -> Optional[bytes]:
        return json.dumps({"members": [[c, n] for c, n in self.names.items()]}).encode()

    def restore(self, snapshot: bytes) -> None:
        room = json.loads(snapshot)
        self.names = {int(connection): name for connection, name in room["members"]}
        log.info(f"took over a room of {len(self.names)} from the previous version")


Handler, Lifecycle, Presence = export(Chat)
