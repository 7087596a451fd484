"""Write a Switchboard WebSocket app in Python.

An app is one class with the handlers it needs, plus one ``export`` line::

    from switchboard import App, Message, export, send

    class Echo(App):
        def on_message(self, connection: int, message: Message) -> None:
            send(connection, message)

    export(Echo)

``switchboard build app.py`` makes a component of the ``realtime-app`` world
in wit/switchboard.wit, the only contract: ``wit_world`` below is the package
componentize-py generates from that WIT at build time (run
``componentize-py -d WIT -w realtime-app bindings .`` to have it beside your
app for an editor). Nothing here is copied from the WIT.

The component's entry is a module the build writes beside the app's: it
exports every interface the world asks for, each one the app's module
defines itself (apps written before an export existed unpack
``Handler, Lifecycle, Presence = export(App)``) or else the one ``export``
made (``_world_exports`` below). So an app never lists the world's
exports, and a new one in the WIT breaks no app.
"""

from __future__ import annotations

import json as _json
from datetime import timedelta
from enum import IntEnum
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union
from urllib.parse import parse_qsl

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import app_info as _app_info
from wit_world.imports import attachments as _attachments
from wit_world.imports import connections as _connections
from wit_world.imports import feeds as _feeds
from wit_world.imports import kv as _kv
from wit_world.imports import log as _log
from wit_world.imports import timers as _timers
from wit_world.imports import topics as _topics
from wit_world.imports.attachments import AttachmentError, ConnectionInfo
from wit_world.imports.feeds import FeedError
from wit_world.imports.kv import Entry, KvError
from wit_world.imports.timers import Timer, TimerError
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
    "Entry", "FeedError", "FeedFailed", "HistoryPage", "KvError", "KvFailed", "Member",
    "Message", "Message_Binary", "Message_Text", "Position", "Publication", "Reject",
    "Request", "Subscription", "Timer", "TimerError", "TimerFailed", "TopicError",
    "TopicFailed", "accept", "app_name", "app_version", "attachment", "broadcast",
    "broadcast_json", "close", "connection_info", "connections", "export", "feeds", "header",
    "history", "kv", "log", "members", "message", "publish", "publish_json", "query_param",
    "reject", "send", "send_json", "set_attachment", "subscribe", "subscriptions", "timers",
    "to_json", "try_publish", "try_send", "unsubscribe",
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
        super().__init__(f"topic call refused: {_error_name(error)}")
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
        log.warn(f"publish to {topic!r}: {_error_name(queued)}")
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


def _error_name(error: Any) -> str:
    """A WIT enum case as the WIT spells it, e.g. ``too-many-timers``."""
    return error.name.lower().replace("_", "-")


class TimerFailed(Exception):
    """Raised by ``timers.after``, ``every`` and ``set`` when the host
    refused the timer; ``error`` (a ``TimerError``) says why."""

    def __init__(self, error: TimerError) -> None:
        super().__init__(f"timer refused: {_error_name(error)}")
        self.error = error


Seconds = Union[int, float, timedelta]
"""A time span: seconds (``0.5``), or a ``timedelta``."""


def _millis(span: Seconds) -> int:
    seconds = span.total_seconds() if isinstance(span, timedelta) else float(span)
    return min(max(0, round(seconds * 1000)), (1 << 64) - 1)


class timers:
    """Timers held by the host: each has a key the app chooses, and
    ``App.on_timer`` hears it when it is due. Setting a key again replaces
    its timer. Timers belong to the app, not to this instance: one set by
    an older version fires in the new one, and a trap loses none. Times are
    seconds (or ``timedelta``), to the millisecond."""

    @staticmethod
    def after(key: str, delay: Seconds) -> None:
        """Fire once, ``delay`` from now. Raises ``TimerFailed``."""
        timers.set(key, delay)

    @staticmethod
    def every(key: str, interval: Seconds) -> None:
        """Fire every ``interval``, the first time one interval from now.
        Raises ``TimerFailed``."""
        timers.set(key, interval, interval)

    @staticmethod
    def set(key: str, delay: Seconds, repeat: Optional[Seconds] = None) -> None:
        """Fire after ``delay``, then every ``repeat`` if given. Raises
        ``TimerFailed``."""
        try:
            _timers.set(key, _millis(delay), None if repeat is None else _millis(repeat))
        except Err as error:
            raise TimerFailed(error.value) from None

    @staticmethod
    def cancel(key: str) -> bool:
        """Cancel the timer under ``key``; whether there was one."""
        return _timers.cancel(key)

    @staticmethod
    def pending() -> List[Timer]:
        """The app's timers, soonest first (``key``, ``due_in_ms``,
        ``repeat_ms``)."""
        return _timers.pending()


class KvFailed(Exception):
    """Raised by the ``kv`` functions when the host refused the call;
    ``error`` (a ``KvError``) says why: ``INVALID_KEY``,
    ``VALUE_TOO_LARGE``, ``QUOTA_EXCEEDED``, ``NOT_A_COUNTER``,
    ``OVERFLOW`` or ``STORAGE_FAILED``."""

    def __init__(self, error: KvError) -> None:
        super().__init__(f"key-value call refused: {_error_name(error)}")
        self.error = error


Storable = Union[bytes, bytearray, str]
"""A value ``kv`` stores: bytes, or a str (as UTF-8)."""


def _stored(value: Optional[Storable]) -> Optional[bytes]:
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else bytes(value)


def _kv_call(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Err as error:
        raise KvFailed(error.value) from None


class kv:
    """The app's own key-value store, held by the host on disk: it outlives
    swaps, traps and restarts, and no other app can see it. Keys are str,
    listed in byte order; values are bytes (a str is stored as UTF-8).
    Every call is atomic, and an app's calls run one at a time. Each
    function raises ``KvFailed`` when the host refuses it."""

    @staticmethod
    def get(key: str) -> Optional[bytes]:
        """The value under ``key``, or None."""
        return _kv_call(lambda: _kv.get(key))

    @staticmethod
    def get_text(key: str) -> Optional[str]:
        """The value under ``key`` as text (UTF-8), or None."""
        value = kv.get(key)
        return None if value is None else value.decode()

    @staticmethod
    def get_json(key: str, default: Any = None) -> Any:
        """The value under ``key`` parsed as JSON, or ``default`` when
        absent."""
        value = kv.get(key)
        return default if value is None else _json.loads(value)

    @staticmethod
    def set(key: str, value: Storable) -> None:
        """Store ``value`` under ``key``."""
        data = _stored(value)
        _kv_call(lambda: _kv.set(key, data))

    @staticmethod
    def set_json(key: str, value: Any) -> None:
        """Store ``value`` as JSON text (as ``to_json`` writes it)."""
        kv.set(key, to_json(value))

    @staticmethod
    def delete(key: str) -> bool:
        """Remove ``key``; whether it was there."""
        return _kv_call(lambda: _kv.delete(key))

    @staticmethod
    def list(prefix: str = "", *, start_after: Optional[str] = None, limit: int = 1000) -> List[Entry]:
        """The entries (``key``, ``value``) whose keys start with ``prefix``,
        in key order: at most ``limit`` (1 000 at most, and by default),
        after the key ``start_after`` when given, to read page by page."""
        return _kv_call(lambda: _kv.list(prefix, start_after, limit))

    @staticmethod
    def compare_and_swap(key: str, expected: Optional[Storable], new: Optional[Storable]) -> bool:
        """Store ``new`` under ``key`` (remove it, for None) only if the key
        holds ``expected`` now (None: it is absent); whether it did."""
        old, data = _stored(expected), _stored(new)
        return _kv_call(lambda: _kv.compare_and_swap(key, old, data))

    @staticmethod
    def increment(key: str, delta: int = 1) -> int:
        """Add ``delta`` to the counter under ``key`` (absent: 0) and return
        its new value. The counter is stored as decimal text: ``get_text``
        reads "42"."""
        return _kv_call(lambda: _kv.increment(key, delta))


class FeedFailed(Exception):
    """Raised by ``feeds.tail`` when the host could not read the feed;
    ``error`` (a ``FeedError``) says why: ``UNKNOWN_FEED`` (the config grants
    no feed of that name) or ``UNREADABLE`` (the host's log says why)."""

    def __init__(self, error: FeedError) -> None:
        super().__init__(f"feed call refused: {_error_name(error)}")
        self.error = error


class feeds:
    """Files the host's config grants this app (``[[apps.feeds]]``), by the
    name the config gives them; lines appended to them arrive in
    ``App.on_lines``."""

    @staticmethod
    def granted() -> List[str]:
        """The names of the feeds this app is granted."""
        return _feeds.granted()

    @staticmethod
    def tail(feed: str, lines: int) -> List[str]:
        """The last ``lines`` complete lines of a feed (at most 1 000),
        oldest first. Raises ``FeedFailed``."""
        try:
            return _feeds.tail(feed, lines)
        except Err as error:
            raise FeedFailed(error.value) from None


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

    def on_timer(self, key: str) -> None:
        """The timer set under ``key`` (``timers.after``, ``timers.every``)
        is due. Timers belong to the app: one set by an older version fires
        in the new one."""

    def on_lines(self, feed: str, lines: List[str]) -> None:
        """New complete lines were appended to the file the config grants
        as ``feed`` (``[[apps.feeds]]``), oldest first, without line
        endings."""


# What each export of the world calls on an app: which methods of ``App``
# each one delivers to, by the class name componentize-py looks for.
_DELIVERS: Dict[str, Tuple[str, ...]] = {
    "Handler": ("on_open", "on_message", "on_close"),
    "Lifecycle": ("snapshot", "restore"),
    "Presence": ("on_join", "on_leave"),
    "TimerHandler": ("on_timer",),
    "FeedHandler": ("on_lines",),
}

# Every app ``export`` was given, in order, with the export classes made for it.
_made: List[Tuple[Callable[[], App], Dict[str, type]]] = []


def export(app: Callable[[], App]) -> Tuple[type, type, type]:
    """The app this component serves: ``export(Echo)``. The build exports
    every interface of the world from it, driving one instance of ``app``
    made before the first event.

    Returns the ``Handler``, ``Lifecycle`` and ``Presence`` classes, for
    apps written before 0.1.3 that unpack them
    (``Handler, Lifecycle, Presence = export(Echo)``): they build the same.
    """
    classes = _exports_of(app)
    _made.append((app, classes))
    return classes["Handler"], classes["Lifecycle"], classes["Presence"]


def _overrides(app: Callable[[], App], method: str) -> bool:
    """Whether ``app`` (a class) has its own ``method``, not App's default."""
    return isinstance(app, type) and getattr(app, method, None) is not getattr(App, method)


def _world_exports(module: ModuleType) -> Dict[str, type]:
    """Every export class of the world, for the component's entry (which
    ``switchboard build`` writes), from the app's module: a class the
    module defines itself is used as it is; every other comes from the app
    it gave ``export`` (the one its classes came from, or the only one).
    Raises, and so fails the build, rather than leave unheard a method the
    app has: when the module defines its own ``Presence``, say, while the
    app it exported overrides ``on_join``."""
    own = {name: getattr(module, name) for name in _DELIVERS if getattr(module, name, None) is not None}
    source = next(
        (made for made in _made if any(made[1][name] is cls for name, cls in own.items())),
        None,
    )
    if source is None:
        if len(_made) > 1 and len(own) < len(_DELIVERS):
            raise RuntimeError(
                f"the app calls export() {len(_made)} times: call it once, with the app to serve"
            )
        if _made:
            source = _made[0]
        elif "Handler" not in own:
            raise RuntimeError("the app exports nothing: end it with `export(YourApp)`")
        else:
            # Export classes written by hand, without the SDK's App: the
            # rest do nothing.
            source = (App, _exports_of(App))
    app, classes = source
    for name, cls in own.items():
        unheard = [method for method in _DELIVERS[name] if _overrides(app, method)]
        if cls is not classes[name] and unheard:
            raise RuntimeError(
                f"the app defines a `{name}` of its own, so {' and '.join(unheard)} of "
                f"{getattr(app, '__name__', 'its App')} would never be called: "
                f"use the `{name}` export() returns, or none"
            )
    return {name: own.get(name, classes[name]) for name in _DELIVERS}


def _exports_of(app: Callable[[], App]) -> Dict[str, type]:
    """The world's export classes, driving one instance of ``app`` made
    before the first event."""
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

    class TimerHandler(exports.TimerHandler):
        def on_timer(self, key: str) -> None:
            the_app().on_timer(key)

    class FeedHandler(exports.FeedHandler):
        def on_lines(self, feed: str, lines: List[str]) -> None:
            the_app().on_lines(feed, lines)

    return {
        "Handler": Handler,
        "Lifecycle": Lifecycle,
        "Presence": Presence,
        "TimerHandler": TimerHandler,
        "FeedHandler": FeedHandler,
    }
