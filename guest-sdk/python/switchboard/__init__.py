"""Write a Switchboard WebSocket app in Python.

An app is one class with the handlers it needs, plus one export line::

    from switchboard import App, Message, export, send

    class Echo(App):
        def on_message(self, connection: int, message: Message) -> None:
            send(connection, message)

    Handler, Lifecycle, Presence = export(Echo)

``switchboard build app.py`` makes a component of the ``realtime-app`` world
in wit/switchboard.wit, the only contract: ``wit_world`` below is the package
componentize-py generates from that WIT at build time (run
``componentize-py -d WIT -w realtime-app bindings .`` to have it beside your
app for an editor). Nothing here is copied from the WIT.
"""

from __future__ import annotations

import json as _json
from enum import IntEnum
from typing import Any, Callable, List, Optional, Sequence, Union
from urllib.parse import parse_qsl

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import app_info as _app_info
from wit_world.imports import attachments as _attachments
from wit_world.imports import connections as _connections
from wit_world.imports import log as _log
from wit_world.imports import topics as _topics
from wit_world.imports.attachments import AttachmentError, ConnectionInfo
from wit_world.imports.topics import HistoryPage, Position, Publication, Subscription, TopicError
from wit_world.imports.types import (
    Accept,
    ConnectionError,
    Message,
    Message_Binary,
    Message_Text,
    Reject,
    Request,
)

__all__ = [
    "Accept", "App", "AttachmentError", "CloseCode", "ConnectionError", "ConnectionInfo",
    "HistoryPage", "Member", "Message", "Message_Binary", "Message_Text", "Position",
    "Publication", "Reject", "Request", "Subscription", "TopicError", "TopicFailed", "accept",
    "app_name", "app_version", "attachment", "broadcast", "broadcast_json", "close",
    "connection_info", "connections", "export", "header", "history", "log", "members",
    "message", "publish", "publish_json", "query_param", "reject", "send", "send_json",
    "set_attachment", "subscribe", "subscriptions", "to_json", "try_publish", "try_send",
    "unsubscribe",
]

ConnectionId = int
"""One WebSocket connection, as the host names it (a u64, never reused)."""


class CloseCode(IntEnum):
    """Close codes an app may send (RFC 6455 7.4.1), by name."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED = 1003
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014


Sendable = Union[str, bytes, bytearray, Message_Text, Message_Binary]


def message(value: Sendable) -> Message:
    """A ``message`` variant from a str (text), bytes (binary), or a variant."""
    if isinstance(value, str):
        return Message_Text(value)
    if isinstance(value, (bytes, bytearray)):
        return Message_Binary(bytes(value))
    if isinstance(value, (Message_Text, Message_Binary)):
        return value
    raise TypeError("a message is str, bytes, Message_Text or Message_Binary")


def try_send(connection: ConnectionId, value: Sendable) -> Optional[ConnectionError]:
    """Queue a message to one connection; None, or why it was not queued."""
    try:
        _connections.send(connection, message(value))
        return None
    except Err as error:
        return error.value


def send(connection: ConnectionId, value: Sendable) -> None:
    """Queue a message and forget it: a full outbox means the client is too
    slow (the host closes it), a closed one has no one to tell. ``try_send``
    says why a send did nothing."""
    try_send(connection, value)


def to_json(value: Any) -> str:
    """``value`` as compact JSON text (UTF-8 left as it is), as the SDK's
    ``*_json`` helpers send it."""
    return _json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def send_json(connection: ConnectionId, value: Any) -> None:
    """Send ``value`` as one JSON text message."""
    send(connection, to_json(value))


def broadcast(value: Sendable, except_: Sequence[ConnectionId] = ()) -> int:
    """Queue a message to every connection of this app but ``except_``;
    returns how many it was queued to."""
    return _connections.broadcast(message(value), list(except_))


def broadcast_json(value: Any, except_: Sequence[ConnectionId] = ()) -> int:
    """Broadcast ``value`` as one JSON text message."""
    return broadcast(to_json(value), except_)


def close(
    connection: ConnectionId, code: int = CloseCode.NORMAL, reason: str = ""
) -> Optional[ConnectionError]:
    """Start closing a connection (``on_close`` follows); None, or why
    nothing happened."""
    try:
        _connections.close(connection, int(code), reason)
        return None
    except Err as error:
        return error.value


def connections() -> List[ConnectionId]:
    """Every open connection of this app, oldest first."""
    return _connections.connections()


def connection_info(connection: ConnectionId) -> Optional[ConnectionInfo]:
    """How a connection was opened (request, subprotocol), if it is open."""
    return _attachments.info(connection)


def set_attachment(connection: ConnectionId, data: Union[bytes, str]) -> Optional[AttachmentError]:
    """Attach bytes (a str as UTF-8) to a connection; the host keeps them
    across hot swaps. None, or why it did nothing."""
    try:
        _attachments.set(connection, data.encode() if isinstance(data, str) else bytes(data))
        return None
    except Err as error:
        return error.value


def attachment(connection: ConnectionId) -> bytes:
    """What is attached to a connection; empty if nothing is."""
    return _attachments.get(connection)


def app_name() -> str:
    """This app's name, as the host's config and admin API know it."""
    return _app_info.name()


def app_version() -> str:
    """The running version (12 hex digits of the module's SHA-256)."""
    return _app_info.version()


class TopicFailed(Exception):
    """Raised by ``subscribe`` and ``history`` when the host refused the
    call; ``error`` (a ``TopicError``) says why."""

    def __init__(self, error: TopicError) -> None:
        super().__init__(f"topic call refused: {error.name.lower().replace('_', '-')}")
        self.error = error


class Member:
    """One subscriber of a topic: ``id`` (unique across hosts),
    ``connection`` (None when it is connected to another host) and ``info``,
    the bytes it gave ``subscribe``."""

    __slots__ = ("id", "connection", "info")

    def __init__(self, id: str, connection: Optional[ConnectionId], info: bytes) -> None:
        self.id = id
        self.connection = connection
        self.info = info

    @classmethod
    def _of(cls, member: _topics.Member) -> "Member":
        return cls(member.id, member.connection, bytes(member.info))

    def info_text(self) -> Optional[str]:
        """The info as text, or None when it is not UTF-8."""
        try:
            return self.info.decode()
        except UnicodeDecodeError:
            return None

    def __repr__(self) -> str:
        return f"Member(id={self.id!r}, connection={self.connection!r}, info={self.info!r})"


def _position(since: Any) -> Optional[Position]:
    if since is None or isinstance(since, Position):
        return since
    if isinstance(since, dict):
        return Position(str(since["epoch"]), int(since["offset"]))
    epoch, offset = since
    return Position(str(epoch), int(offset))


def subscribe(
    connection: ConnectionId,
    topic: str,
    *,
    info: Union[str, bytes] = b"",
    since: Any = None,
) -> Subscription:
    """Subscribe a connection to a topic: from now on it receives every
    message published to it, in order. The subscription is the host's: it
    survives hot swaps and traps, and ends with the connection.

    ``info`` (str or bytes) is what ``members`` and ``on_join`` show for it,
    e.g. a user name. ``since``, the last position the client saw (a
    ``Position``, a dict with ``epoch`` and ``offset``, or a pair), resumes a
    stream: what was published after it is sent first, none missed, none
    twice, when the history still reaches back (``recovered``). Returns the
    ``Subscription`` (``position``, ``recovered``, ``replayed``); raises
    ``TopicFailed``."""
    options = _topics.SubscribeOptions(
        info.encode() if isinstance(info, str) else bytes(info), _position(since)
    )
    try:
        return _topics.subscribe(connection, topic, options)
    except Err as error:
        raise TopicFailed(error.value) from None


def unsubscribe(connection: ConnectionId, topic: str) -> bool:
    """End a connection's subscription; False if it was not subscribed."""
    return _topics.unsubscribe(connection, topic)


def try_publish(topic: str, value: Sendable) -> Union[int, TopicError]:
    """``publish``, returning how many connections it was queued to, or the
    ``TopicError`` saying why nothing was sent."""
    try:
        return _topics.publish(topic, message(value))
    except Err as error:
        return error.value


def publish(topic: str, value: Sendable) -> int:
    """Send a message to every subscriber of a topic (and keep it in the
    topic's history when the config keeps one). Fire and forget: returns how
    many connections it was queued to; an invalid topic name is logged and
    sends nothing. ``try_publish`` says why instead."""
    queued = try_publish(topic, value)
    if isinstance(queued, TopicError):
        log.warn(f"publish to {topic!r}: {queued.name.lower().replace('_', '-')}")
        return 0
    return queued


def publish_json(topic: str, value: Any) -> int:
    """Publish ``value`` as one JSON text message."""
    return publish(topic, to_json(value))


def members(topic: str) -> List[Member]:
    """Who is subscribed to a topic, in the order they joined."""
    return [Member._of(member) for member in _topics.members(topic)]


def history(topic: str, limit: int) -> HistoryPage:
    """The latest ``limit`` publications a topic keeps, oldest first
    (``publications``, each with ``offset`` and ``message``), and where its
    stream stands (``position``). Raises ``TopicFailed`` for an invalid
    topic name."""
    try:
        return _topics.history(topic, limit)
    except Err as error:
        raise TopicFailed(error.value) from None


def subscriptions(connection: ConnectionId) -> List[str]:
    """The topics a connection is subscribed to, in the order it subscribed."""
    return _topics.subscriptions(connection)


class log:
    """Logging into the host's log, tagged with the app's name."""

    @staticmethod
    def trace(text: str) -> None:
        _log.log(_log.Level.TRACE, text)

    @staticmethod
    def debug(text: str) -> None:
        _log.log(_log.Level.DEBUG, text)

    @staticmethod
    def info(text: str) -> None:
        _log.log(_log.Level.INFO, text)

    @staticmethod
    def warn(text: str) -> None:
        _log.log(_log.Level.WARN, text)

    @staticmethod
    def error(text: str) -> None:
        _log.log(_log.Level.ERROR, text)


def query_param(request: Request, name: str) -> Optional[str]:
    """The first value of a query parameter, percent-decoded."""
    for key, value in parse_qsl(request.query or "", keep_blank_values=True):
        if key == name:
            return value
    return None


def header(request: Request, name: str) -> Optional[str]:
    """The first value of a request header; ``name`` ignores case."""
    wanted = name.lower()
    for key, value in request.headers:
        if key.lower() == wanted:
            return value
    return None


def accept(subprotocol: Optional[str] = None) -> Accept:
    """Accept a connection, confirming ``subprotocol`` if given."""
    return Accept(subprotocol)


def reject(status: int, body: str = "") -> Reject:
    """Refuse a connection with an HTTP status (400..=599) and a body."""
    return Reject(status, body)


class App:
    """What an app does. Every method has a default, so override only what
    your app needs: the default ``on_open`` accepts everyone.

    The host calls one method at a time, and for each connection in order:
    ``on_open``, then its messages, then ``on_close`` exactly once."""

    def on_open(self, connection: ConnectionId, request: Request) -> Union[Accept, Reject, None]:
        """A client asks to connect; return ``reject(...)`` to refuse it."""
        return None

    def on_message(self, connection: ConnectionId, message: Message) -> None:
        """A whole message arrived."""

    def on_close(self, connection: ConnectionId, code: int, reason: str) -> None:
        """The connection is gone (1005: no code given, 1006: dropped, 1001:
        the host is shutting down)."""

    def snapshot(self) -> Optional[bytes]:
        """A new version is about to replace this one: the state it should
        start from, or None to hand over nothing."""
        return None

    def restore(self, snapshot: bytes) -> None:
        """Take over from an older version's ``snapshot``; raise to refuse
        it, which fails the deploy and keeps the old version serving."""

    def on_join(self, topic: str, member: Member) -> None:
        """A connection joined ``topic`` (its first ``subscribe`` to it);
        called after the event in which it subscribed."""

    def on_leave(self, topic: str, member: Member) -> None:
        """A member left ``topic``: it was unsubscribed, or its connection
        ended (after its ``on_close``)."""


def export(app: Callable[[], App]):
    """The world's ``Handler``, ``Lifecycle`` and ``Presence`` export
    classes, driving one instance of ``app`` made before the first event::

        Handler, Lifecycle, Presence = export(Echo)
    """
    instance: List[App] = []

    def the_app() -> App:
        if not instance:
            instance.append(app())
        return instance[0]

    class Handler(exports.Handler):
        def on_open(self, connection: int, request: Request) -> Accept:
            answer = the_app().on_open(connection, request)
            if isinstance(answer, Reject):
                raise Err(answer)
            return answer if answer is not None else Accept(None)

        def on_message(self, connection: int, message: Message) -> None:
            the_app().on_message(connection, message)

        def on_close(self, connection: int, code: int, reason: str) -> None:
            the_app().on_close(connection, code, reason)

    class Lifecycle(exports.Lifecycle):
        def snapshot(self) -> Optional[bytes]:
            state = the_app().snapshot()
            return state.encode() if isinstance(state, str) else state

        def restore(self, snapshot: bytes) -> None:
            try:
                the_app().restore(snapshot)
            except Err:
                raise
            except Exception as error:
                raise Err(str(error) or type(error).__name__)

    class Presence(exports.Presence):
        def on_join(self, topic: str, member: _topics.Member) -> None:
            the_app().on_join(topic, Member._of(member))

        def on_leave(self, topic: str, member: _topics.Member) -> None:
            the_app().on_leave(topic, Member._of(member))

    return Handler, Lifecycle, Presence
