"""Write a Switchboard WebSocket app in Python.

An app is one class with the handlers it needs, plus one export line::

    from switchboard import App, Message, export, send

    class Echo(App):
        def on_message(self, connection: int, message: Message) -> None:
            send(connection, message)

    Handler, Lifecycle = export(Echo)

``switchboard build app.py`` makes a component of the ``stateful-app`` world
in wit/switchboard.wit, the only contract: ``wit_world`` below is the package
componentize-py generates from that WIT at build time (run
``componentize-py -d WIT -w stateful-app bindings .`` to have it beside your
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
from wit_world.imports.attachments import AttachmentError, ConnectionInfo
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
    "Message", "Message_Binary", "Message_Text", "Reject", "Request", "accept", "app_name",
    "app_version", "attachment", "broadcast", "broadcast_json", "close", "connection_info",
    "connections", "export", "header", "log", "message", "query_param", "reject", "send",
    "send_json", "set_attachment", "try_send",
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


def send_json(connection: ConnectionId, value: Any) -> None:
    """Send ``value`` as one JSON text message."""
    send(connection, _json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def broadcast(value: Sendable, except_: Sequence[ConnectionId] = ()) -> int:
    """Queue a message to every connection of this app but ``except_``;
    returns how many it was queued to."""
    return _connections.broadcast(message(value), list(except_))


def broadcast_json(value: Any, except_: Sequence[ConnectionId] = ()) -> int:
    """Broadcast ``value`` as one JSON text message."""
    return broadcast(_json.dumps(value, separators=(",", ":"), ensure_ascii=False), except_)


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


def export(app: Callable[[], App]):
    """The world's ``Handler`` and ``Lifecycle`` export classes, driving one
    instance of ``app`` made before the first event::

        Handler, Lifecycle = export(Echo)
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

    return Handler, Lifecycle
