"""Chat rooms: the Python twin of examples/rooms/rust, with the same wire
protocol (its doc comment describes it), the same bytes on the wire and the
same keys and values in the key-value store. Many rooms, each a topic. The
app keeps nothing in its own memory: who is in a room is the host's
presence, each client's name is attached to its connection, and what was
said is kept by the host twice: each room's last 50 messages in the app's
key-value store, for the scrollback (across a host restart too), and the
topic's history, for catching up a client that lost its connection. A hot
swap or a trap therefore loses nothing, and needs no snapshot.

In short: connect with ``?name=NAME``, then send JSON:
{"type":"join","room":R} (or with "since":{"epoch":E,"offset":N} to come
back after a lost connection), {"type":"message","room":R,"text":T},
{"type":"typing","room":R}, {"type":"leave","room":R}."""

import json
from typing import Any, Dict, List, Optional, Union

from switchboard import (
    Accept, App, KvFailed, Member, Message, Message_Text, Reject, Request, TopicError,
    TopicFailed, accept, attachment, export, kv, log, members, publish, query_param, reject,
    send, set_attachment, subscribe, subscriptions, unsubscribe,
)

# Names longer than this are refused, so one client cannot flood a room's
# notices with a huge name.
MAX_NAME_CHARS = 64
# Room names are short words: letters, digits, `-` and `_`.
MAX_ROOM_CHARS = 32
# Messages a joining client is shown from before it joined: how many each
# room keeps in the key-value store.
SCROLLBACK = 50

USAGE = 'send {"type": "join" | "message" | "typing" | "leave", "room": ...}'


def room_topic(room: str) -> str:
    return f"room:{room}"


def typing_topic(room: str) -> str:
    return f"typing:{room}"


def valid_room(room: str) -> bool:
    return 0 < len(room) <= MAX_ROOM_CHARS and all(c.isalnum() or c in "-_" for c in room)


def to_text(value: Any) -> str:
    """JSON with its keys sorted, as the Rust twin's serde_json writes it, so
    every language sends the same bytes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def name_of(connection: int) -> str:
    """The name a connection joined with, kept by the host."""
    try:
        return attachment(connection).decode()
    except UnicodeDecodeError:
        return ""


def error(connection: int, text: str) -> None:
    send(connection, to_text({"type": "error", "text": text}))


def member_names(topic: str) -> List[str]:
    return [name for name in (m.info_text() for m in members(topic)) if name is not None]


def say(room: str, message: Dict[str, Any]) -> None:
    """Publish ``message`` to room ``room`` and keep it as the room's latest."""
    publish(room_topic(room), to_text(message))
    try:
        remember(room, message)
    except KvFailed as failed:
        log.warn(f"room {room}: a message was not kept: {failed}")


def remember(room: str, message: Dict[str, Any]) -> None:
    """Keep ``message`` in the room's ring: numbered by the room's counter,
    in the slot of that number (``said:R:00`` to ``said:R:49``), over the
    message 50 before it."""
    n = kv.increment(f"count:{room}")
    kv.set_json(f"said:{room}:{n % SCROLLBACK:02}", {"n": n, "message": message})


def scrollback(connection: int, room: str) -> None:
    """The room's last messages, oldest first, each the JSON that was
    published."""
    said = []
    try:
        for entry in kv.list(f"said:{room}:", limit=SCROLLBACK):
            try:
                said.append(json.loads(entry.value))
            except ValueError:
                pass  # Not JSON: not one of ours, left out.
    except KvFailed as failed:
        log.warn(f"room {room}: the scrollback cannot be read: {failed}")
    said.sort(key=lambda kept: kept["n"])
    messages = [kept["message"] for kept in said]
    send(connection, to_text({"type": "scrollback", "room": room, "messages": messages}))


def describe(failed: TopicFailed) -> str:
    if failed.error == TopicError.TOO_MANY_TOPICS:
        return "you are in too many rooms; leave one first"
    if failed.error == TopicError.INFO_TOO_LARGE:
        return "that name is too long"
    if failed.error == TopicError.INVALID_TOPIC:
        return "that room name is not allowed"
    return "you are disconnected"


def is_position(since: Any) -> bool:
    """A position as a client sends it back: {"epoch": str, "offset": int}."""
    return (
        isinstance(since, dict)
        and isinstance(since.get("epoch"), str)
        and type(since.get("offset")) is int
        and 0 <= since["offset"] < 1 << 64
    )


def parse(text: str) -> Optional[Dict[str, Any]]:
    """What a client sends, checked as strictly as the Rust twin's serde
    types: the command, or None."""
    try:
        command = json.loads(text)
    except ValueError:
        return None
    if not isinstance(command, dict) or not isinstance(command.get("room"), str):
        return None
    kind = command.get("type")
    if kind == "join":
        since = command.get("since")
        return command if since is None or is_position(since) else None
    if kind == "message":
        return command if isinstance(command.get("text"), str) else None
    if kind in ("typing", "leave"):
        return command
    return None


def room_of(topic: str) -> Optional[str]:
    return topic[len("room:"):] if topic.startswith("room:") else None


class Rooms(App):
    def on_open(self, connection: int, request: Request) -> Union[Accept, Reject]:
        name = (query_param(request, "name") or "").strip()
        if not name:
            return reject(400, "join with ?name=YOUR_NAME")
        if len(name) > MAX_NAME_CHARS:
            return reject(400, "that name is too long")
        if set_attachment(connection, name) is not None:
            return reject(400, "that name is too long")
        return accept()

    def on_message(self, connection: int, message: Message) -> None:
        if not isinstance(message, Message_Text):
            return error(connection, "messages are JSON text")
        command = parse(message.value)
        if command is None:
            return error(connection, USAGE)
        room = command["room"]
        kind = command["type"]
        if kind == "join":
            self.join(connection, room, command.get("since"))
        elif kind == "message":
            if room_topic(room) not in subscriptions(connection):
                return error(connection, "join the room first")
            text = command["text"]
            say(room, {"type": "message", "room": room, "from": name_of(connection), "text": text})
        elif kind == "typing":
            if room_topic(room) in subscriptions(connection):
                publish(
                    typing_topic(room),
                    to_text({"type": "typing", "room": room, "name": name_of(connection)}),
                )
        elif kind == "leave":
            unsubscribe(connection, room_topic(room))
            unsubscribe(connection, typing_topic(room))

    def join(self, connection: int, room: str, since: Optional[Dict[str, Any]]) -> None:
        if not valid_room(room):
            return error(connection, "room names are 1-32 letters, digits, - or _")
        name = name_of(connection)
        if since is None:
            # Scrollback first: nothing can be published between it and the
            # subscription, so the client misses nothing in between.
            scrollback(connection, room)
        try:
            subscription = subscribe(connection, room_topic(room), info=name, since=since)
            if since is not None and not subscription.recovered:
                # Too late to catch up: start the client over.
                scrollback(connection, room)
            subscribe(connection, typing_topic(room), info=name)
        except TopicFailed as failed:
            return error(connection, describe(failed))
        position = subscription.position
        send(
            connection,
            to_text({
                "type": "joined",
                "room": room,
                "position": {"epoch": position.epoch, "offset": position.offset},
                "recovered": subscription.recovered,
                "members": member_names(room_topic(room)),
            }),
        )

    # Everyone in the room hears who came in: a notice said in the room, so
    # it is in its scrollback and history too.
    def on_join(self, topic: str, member: Member) -> None:
        room, name = room_of(topic), member.info_text()
        if room is not None and name is not None:
            say(room, {"type": "join", "room": room, "name": name})

    def on_leave(self, topic: str, member: Member) -> None:
        room, name = room_of(topic), member.info_text()
        if room is not None and name is not None:
            say(room, {"type": "leave", "room": room, "name": name})


export(Rooms)
