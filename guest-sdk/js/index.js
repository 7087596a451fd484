// Write a Switchboard WebSocket app in JavaScript.
//
// An app is one object with the handlers it needs, given to `app`:
//
//     import { app, send } from "switchboard";
//
//     export default app({
//       onMessage(connection, message) {
//         send(connection, message);
//       },
//     });
//
// `switchboard build app.js` bundles this module with the app and makes a
// component of the `realtime-app` world in wit/switchboard.wit, the only
// contract: the imports below are that world's interfaces, and the types in
// types/ are generated from it (`jco guest-types`). The component's entry is
// world.js beside this file: it exports every interface the world asks for,
// each one the app module exports itself (as apps written before an export
// existed do: `export const { handler, lifecycle, presence } = app({...})`)
// or else the one made by `app`, so an app never lists the world's exports
// and a new one in the WIT breaks no app. Connection ids, topic offsets and
// counters are 64-bit, so they are BigInts here.

import * as host from "switchboard:app/connections@0.1.3";
import { log as hostLog } from "switchboard:app/log@0.1.3";
import * as hostAttachments from "switchboard:app/attachments@0.1.3";
import * as hostAppInfo from "switchboard:app/app-info@0.1.3";
import * as hostTopics from "switchboard:app/topics@0.1.3";
import * as hostTimers from "switchboard:app/timers@0.1.3";
import * as hostKv from "switchboard:app/kv@0.1.3";
import * as hostFeeds from "switchboard:app/feeds@0.1.3";

/** Close codes an app may send (RFC 6455 7.4.1), by name. */
export const CloseCode = Object.freeze({
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  Unsupported: 1003,
  InvalidData: 1007,
  PolicyViolation: 1008,
  TooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
});

/** A `message` variant from a string (text), bytes (binary), or a variant. */
export function message(value) {
  if (typeof value === "string") return { tag: "text", val: value };
  if (value instanceof Uint8Array) return { tag: "binary", val: value };
  if (value instanceof ArrayBuffer) return { tag: "binary", val: new Uint8Array(value) };
  if (value && (value.tag === "text" || value.tag === "binary")) return value;
  throw new TypeError("a message is a string, a Uint8Array, or {tag, val}");
}

// A host call that returns result<_, connection-error> throws on `err`;
// this turns that into a return value: undefined, or the error's name.
function attempt(call) {
  try {
    call();
    return undefined;
  } catch (error) {
    return error && error.payload !== undefined ? error.payload : String(error);
  }
}

/**
 * Queue a message to one connection and forget it. A full outbox means the
 * client is too slow (the host closes it); a closed connection has no one
 * to tell. Use `trySend` to see why a send did nothing.
 */
export function send(connection, value) {
  attempt(() => host.send(connection, message(value)));
}

/** Queue a message; returns undefined, or why it was not queued
 * ("unknown-connection", "outbox-full"). */
export function trySend(connection, value) {
  return attempt(() => host.send(connection, message(value)));
}

// JSON.stringify refuses BigInts; ids and offsets are BigInts. Written as
// numbers while they are exact (every offset and id a host hands out in
// practice), as strings past 2^53 so that none is ever rounded.
function bigIntsAsNumbers(_key, value) {
  if (typeof value !== "bigint") return value;
  const number = Number(value);
  return Number.isSafeInteger(number) ? number : value.toString();
}

/** `value` as JSON text; BigInts (ids, offsets) become numbers. */
export function toJson(value) {
  return JSON.stringify(value, bigIntsAsNumbers);
}

/** Send `value` as one JSON text message. */
export function sendJson(connection, value) {
  send(connection, toJson(value));
}

/** Queue a message to every connection of this app but `except`; returns
 * how many it was queued to. */
export function broadcast(value, except = []) {
  return host.broadcast(message(value), BigUint64Array.from(except));
}

/** Broadcast `value` as one JSON text message. */
export function broadcastJson(value, except = []) {
  return broadcast(toJson(value), except);
}

/** Start closing a connection; `onClose` follows. Returns undefined, or why
 * nothing happened ("unknown-connection", "invalid-close"). */
export function close(connection, code = CloseCode.Normal, reason = "") {
  return attempt(() => host.close(connection, code, reason));
}

/** Every open connection of this app, oldest first. */
export function connections() {
  return [...host.connections()];
}

/** How a connection was opened ({request, subprotocol}), or undefined. */
export function connectionInfo(connection) {
  return hostAttachments.info(connection);
}

/** Attach bytes (or a string, as UTF-8) to a connection; the host keeps
 * them across hot swaps. Returns undefined, or why it did nothing. */
export function setAttachment(connection, data) {
  const bytes = typeof data === "string" ? utf8Encode(data) : data;
  return attempt(() => hostAttachments.set(connection, bytes));
}

/** What is attached to a connection; empty if nothing is. */
export function attachment(connection) {
  return hostAttachments.get(connection);
}

/** This app's name, as the host's config and admin API know it. */
export function appName() {
  return hostAppInfo.name();
}

/** The running version (12 hex digits of the module's SHA-256). */
export function appVersion() {
  return hostAppInfo.version();
}

/** Thrown by `subscribe` and `history` when the host refused the call.
 * `error` says why, by the WIT's name: "unknown-connection",
 * "invalid-topic", "too-many-topics", "info-too-large" or "outbox-full". */
export class TopicFailed extends Error {
  constructor(error) {
    super(`topic call refused: ${error}`);
    this.name = "TopicFailed";
    this.error = error;
  }
}

// A host call that returns result<T, E> throws E's name as `payload` on
// `err`; this returns T, or throws `Failed` (TopicFailed, KvFailed ...)
// with that name.
function hostCall(Failed, call) {
  try {
    return call();
  } catch (error) {
    if (error && typeof error.payload === "string") throw new Failed(error.payload);
    throw error;
  }
}

const topicCall = (call) => hostCall(TopicFailed, call);

function bytes(value, what) {
  if (value === undefined || value === null) return new Uint8Array();
  if (typeof value === "string") return utf8Encode(value);
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new TypeError(`${what} is a string or a Uint8Array`);
}

/** A position ({epoch, offset}) as the host takes it: the offset may be a
 * number or a BigInt (or a string of digits), as it came back from a client. */
function position(since) {
  if (since === undefined || since === null) return undefined;
  return { epoch: String(since.epoch), offset: BigInt(since.offset) };
}

/** One subscriber of a topic: `id` (unique across hosts), `connection` (a
 * BigInt, or undefined when it is connected to another host), `info` (the
 * bytes given to `subscribe`) and `infoText()`. */
class Member {
  constructor({ id, connection, info }) {
    this.id = id;
    this.connection = connection;
    this.info = info;
  }

  /** The info as text, or undefined when it is not UTF-8. */
  infoText() {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(this.info);
    } catch {
      return undefined;
    }
  }
}

/**
 * Subscribe a connection to a topic: from now on it receives every message
 * published to it, in order. The subscription is the host's: it survives hot
 * swaps and traps, and ends with the connection. `options.info` (a string
 * or bytes) is what `members` and `onJoin` show for it, e.g. a user name;
 * `options.since` ({epoch, offset}, the last position the client saw)
 * resumes a stream: what was published after it is sent first, none missed,
 * none twice. Returns {position, recovered, replayed}; throws TopicFailed.
 */
export function subscribe(connection, topic, options = {}) {
  return topicCall(() =>
    hostTopics.subscribe(connection, topic, {
      info: bytes(options.info, "subscribe's info"),
      since: position(options.since),
    }),
  );
}

/** End a connection's subscription; false if it was not subscribed. */
export function unsubscribe(connection, topic) {
  return hostTopics.unsubscribe(connection, topic);
}

/**
 * Send a message to every subscriber of a topic (and keep it in the topic's
 * history when the config keeps one). Fire and forget: returns how many
 * connections it was queued to; an invalid topic name is logged and sends
 * nothing. `tryPublish` says why instead.
 */
export function publish(topic, value) {
  const queued = tryPublish(topic, value);
  if (typeof queued === "string") {
    log.warn(`publish to ${JSON.stringify(topic)}: ${queued}`);
    return 0;
  }
  return queued;
}

/** `publish`, returning how many connections it was queued to, or why
 * nothing was sent ("invalid-topic"). */
export function tryPublish(topic, value) {
  try {
    return topicCall(() => hostTopics.publish(topic, message(value)));
  } catch (error) {
    if (error instanceof TopicFailed) return error.error;
    throw error;
  }
}

/** Publish `value` as one JSON text message. */
export function publishJson(topic, value) {
  return publish(topic, toJson(value));
}

/** Who is subscribed to a topic, in the order they joined: Members. */
export function members(topic) {
  return hostTopics.members(topic).map((member) => new Member(member));
}

/** The latest `limit` publications a topic keeps, oldest first, and where
 * its stream stands: {publications: [{offset, message}], position}. Throws
 * TopicFailed for an invalid topic name. */
export function history(topic, limit) {
  return topicCall(() => hostTopics.history(topic, limit));
}

/** The topics a connection is subscribed to, in the order it subscribed. */
export function subscriptions(connection) {
  return [...hostTopics.subscriptions(connection)];
}

/** Thrown by `timers.after`, `every` and `set` when the host refused the
 * timer. `error` says why: "too-many-timers", "interval-too-short" or
 * "invalid-key". */
export class TimerFailed extends Error {
  constructor(error) {
    super(`timer refused: ${error}`);
    this.name = "TimerFailed";
    this.error = error;
  }
}

// Milliseconds as the host takes them (a u64): a number is rounded, and
// one below zero counts as 0.
function millis(value, what) {
  if (typeof value === "bigint") return value < 0n ? 0n : value;
  const number = Number(value);
  if (Number.isNaN(number)) throw new TypeError(`${what} is a number of milliseconds`);
  if (number === Infinity) return 2n ** 64n - 1n;
  return BigInt(Math.max(0, Math.round(number)));
}

/**
 * Timers held by the host: each has a key the app chooses, and `onTimer(key)`
 * hears it when it is due. Setting a key again replaces its timer. Timers
 * belong to the app, not to this instance: one set by an older version
 * fires in the new one, and a trap loses none. Times are milliseconds.
 */
export const timers = Object.freeze({
  /** Fire once, `delayMs` from now. Throws TimerFailed. */
  after(key, delayMs) {
    hostCall(TimerFailed, () => hostTimers.set(key, millis(delayMs, "a delay"), undefined));
  },
  /** Fire every `intervalMs`, the first time one interval from now.
   * Throws TimerFailed. */
  every(key, intervalMs) {
    const interval = millis(intervalMs, "an interval");
    hostCall(TimerFailed, () => hostTimers.set(key, interval, interval));
  },
  /** Fire after `delayMs`, then every `repeatMs` if given. Throws
   * TimerFailed. */
  set(key, delayMs, repeatMs) {
    const repeat = repeatMs === undefined || repeatMs === null ? undefined : millis(repeatMs, "a repeat");
    hostCall(TimerFailed, () => hostTimers.set(key, millis(delayMs, "a delay"), repeat));
  },
  /** Cancel the timer under `key`; whether there was one. */
  cancel(key) {
    return hostTimers.cancel(key);
  },
  /** The app's timers, soonest first: {key, dueInMs, repeatMs}, the times
   * as numbers (repeatMs undefined for a one-shot timer). */
  pending() {
    return hostTimers.pending().map(({ key, dueInMs, repeatMs }) => ({
      key,
      dueInMs: Number(dueInMs),
      repeatMs: repeatMs === undefined ? undefined : Number(repeatMs),
    }));
  },
});

/** Thrown by the `kv` functions when the host refused the call. `error`
 * says why: "invalid-key", "value-too-large", "quota-exceeded",
 * "not-a-counter", "overflow" or "storage-failed". */
export class KvFailed extends Error {
  constructor(error) {
    super(`key-value call refused: ${error}`);
    this.name = "KvFailed";
    this.error = error;
  }
}

const kvCall = (call) => hostCall(KvFailed, call);

// A stored value: bytes as they are, a string as UTF-8; undefined (or null)
// stands for "absent" where the host takes an option.
function storedOrAbsent(value, what) {
  return value === undefined || value === null ? undefined : bytes(value, what);
}

/**
 * The app's own key-value store, held by the host on disk: it outlives
 * swaps, traps and restarts, and no other app can see it. Keys are strings,
 * listed in byte order; values are bytes (a string is stored as UTF-8).
 * Every call is atomic, and an app's calls run one at a time. Each function
 * throws KvFailed when the host refuses it.
 */
export const kv = Object.freeze({
  /** The value under `key` (a Uint8Array), or undefined. */
  get(key) {
    return kvCall(() => hostKv.get(key));
  },
  /** The value under `key` as text (UTF-8), or undefined. */
  getText(key) {
    const value = kv.get(key);
    return value === undefined ? undefined : utf8Decode(value);
  },
  /** The value under `key` parsed as JSON, or undefined when absent. */
  getJson(key) {
    const value = kv.get(key);
    return value === undefined ? undefined : JSON.parse(utf8Decode(value));
  },
  /** Store `value` (a string or bytes) under `key`. */
  set(key, value) {
    kvCall(() => hostKv.set(key, bytes(value, "a kv value")));
  },
  /** Store `value` as JSON text (BigInts written as numbers, as `toJson`). */
  setJson(key, value) {
    kv.set(key, toJson(value));
  },
  /** Remove `key`; whether it was there. */
  delete(key) {
    return kvCall(() => hostKv.delete(key));
  },
  /** The entries ({key, value}) whose keys start with `prefix`, in key
   * order: at most `limit` (1 000 at most, and by default), after the key
   * `startAfter` when given, to read page by page. */
  list(prefix = "", { startAfter, limit = 1000 } = {}) {
    return kvCall(() => hostKv.list(prefix, startAfter ?? undefined, limit));
  },
  /** Store `next` under `key` (remove it, for undefined) only if the key
   * holds `expected` now (undefined: it is absent); whether it did. Values
   * are strings or bytes. */
  compareAndSwap(key, expected, next) {
    return kvCall(() =>
      hostKv.compareAndSwap(key, storedOrAbsent(expected, "expected"), storedOrAbsent(next, "next")),
    );
  },
  /** Add `delta` (1 by default; a number or a BigInt) to the counter under
   * `key` (absent: 0) and return its new value, a BigInt. The counter is
   * stored as decimal text: `getText` reads "42". */
  increment(key, delta = 1) {
    return kvCall(() => hostKv.increment(key, BigInt(delta)));
  },
});

/** Thrown by `feeds.tail` when the host could not read the feed. `error`
 * says why: "unknown-feed" (the config grants no feed of that name) or
 * "unreadable" (the host's log says why). */
export class FeedFailed extends Error {
  constructor(error) {
    super(`feed call refused: ${error}`);
    this.name = "FeedFailed";
    this.error = error;
  }
}

/**
 * Files the host's config grants this app (`[[apps.feeds]]`), by the name
 * the config gives them; lines appended to them arrive in `onLines`.
 */
export const feeds = Object.freeze({
  /** The names of the feeds this app is granted. */
  granted() {
    return [...hostFeeds.granted()];
  },
  /** The last `lines` complete lines of a feed (at most 1 000), oldest
   * first. Throws FeedFailed. */
  tail(feed, lines) {
    return [...hostCall(FeedFailed, () => hostFeeds.tail(feed, lines))];
  },
});

/** Logging into the host's log, tagged with the app's name. */
export const log = Object.freeze({
  trace: (text) => hostLog("trace", String(text)),
  debug: (text) => hostLog("debug", String(text)),
  info: (text) => hostLog("info", String(text)),
  warn: (text) => hostLog("warn", String(text)),
  error: (text) => hostLog("error", String(text)),
});

/** The first value of a query parameter, percent-decoded; undefined when
 * absent. */
export function queryParam(request, name) {
  if (request.query == null) return undefined;
  for (const pair of request.query.split("&")) {
    const at = pair.indexOf("=");
    const key = decode(at < 0 ? pair : pair.slice(0, at));
    if (key === name) return at < 0 ? "" : decode(pair.slice(at + 1));
  }
  return undefined;
}

function decode(text) {
  const spaced = text.replace(/\+/g, " ");
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

/** The first value of a request header; `name` is matched ignoring case. */
export function header(request, name) {
  const wanted = name.toLowerCase();
  const found = request.headers.find(([key]) => key.toLowerCase() === wanted);
  return found ? found[1] : undefined;
}

/** Accept a connection, confirming `subprotocol` if given. */
export function accept(subprotocol) {
  return { subprotocol };
}

/** Refuse a connection with an HTTP status (400..=599) and a body. */
export function reject(status, body = "") {
  return new Rejection(status, body);
}

class Rejection {
  constructor(status, body) {
    this.status = status;
    this.body = body;
  }
}

/** UTF-8 bytes of a string, and back (for snapshots and attachments). */
export function utf8Encode(text) {
  return new TextEncoder().encode(text);
}
export function utf8Decode(bytes) {
  return new TextDecoder().decode(bytes);
}

/** A value as JSON bytes, and back. */
export const json = Object.freeze({
  encode: (value) => utf8Encode(JSON.stringify(value)),
  decode: (bytes) => JSON.parse(utf8Decode(bytes)),
});

// What each export of the world calls on an app: which methods of the
// object given to `app` each one delivers to.
const DELIVERS = Object.freeze({
  handler: ["onOpen", "onMessage", "onClose"],
  lifecycle: ["snapshot", "restore"],
  presence: ["onJoin", "onLeave"],
  timerHandler: ["onTimer"],
  feedHandler: ["onLines"],
});

// Every app `app` made, in order: the object it was given, and its exports.
const made = [];

/**
 * The app: every export of the world, from an object with any of onOpen,
 * onMessage, onClose, snapshot, restore, onJoin, onLeave, onTimer and
 * onLines; each missing one has a default (accept everyone, ignore, hand
 * over nothing). `onOpen` returns `accept(...)`, `reject(status, body)` or
 * nothing (accept); `snapshot` returns bytes, a string or nothing;
 * `restore` throws (any value) to refuse a snapshot, which fails the
 * deploy. `onJoin(topic, member)` and `onLeave(topic, member)` hear who
 * joins and leaves each topic, after the event in which a connection
 * subscribed, unsubscribed or closed. `onTimer(key)` hears a timer of
 * `timers` fire; `onLines(feed, lines)` the lines appended to a feed.
 *
 * `export default app({...})`: `switchboard build` exports what the world
 * asks for from it. (`export const { handler, lifecycle, presence } =
 * app({...})`, as older apps write it, works the same.)
 */
export function app(impl) {
  const exports = exportsOf(impl);
  made.push({ impl, exports });
  return exports;
}

function exportsOf(impl) {
  const call = (name, ...args) => (impl[name] ? impl[name](...args) : undefined);
  return {
    handler: {
      onOpen(connection, request) {
        const answer = call("onOpen", connection, request);
        if (answer instanceof Rejection) {
          // An exported result's `err` is what the function throws.
          throw { status: answer.status, body: answer.body };
        }
        return answer === undefined ? { subprotocol: undefined } : answer;
      },
      onMessage(connection, msg) {
        call("onMessage", connection, msg);
      },
      onClose(connection, code, reason) {
        call("onClose", connection, code, reason);
      },
    },
    lifecycle: {
      snapshot() {
        const state = call("snapshot");
        return typeof state === "string" ? utf8Encode(state) : state;
      },
      restore(snapshot) {
        try {
          call("restore", snapshot);
        } catch (error) {
          throw error instanceof Error ? error.message : String(error);
        }
      },
    },
    presence: {
      onJoin(topic, member) {
        call("onJoin", topic, new Member(member));
      },
      onLeave(topic, member) {
        call("onLeave", topic, new Member(member));
      },
    },
    timerHandler: {
      onTimer(key) {
        call("onTimer", key);
      },
    },
    feedHandler: {
      onLines(feed, lines) {
        call("onLines", feed, [...lines]);
      },
    },
  };
}

/**
 * Every export of the world, for the component, from the app's module (its
 * namespace object): world.js, the entry `switchboard build` bundles, calls
 * this while the component is made. An export the module has itself is
 * used as it is; every other comes from the app the module made with
 * `app` (the one it exports from, or the only one). Throws, and so fails
 * the build, rather than leave unheard a method the app was given: when
 * the module exports its own `presence`, say, while the object given to
 * `app` has `onJoin`.
 */
export function worldExports(module) {
  const names = Object.keys(DELIVERS);
  const own = names.filter((name) => module[name] !== undefined);
  let source = made.find(
    ({ exports }) => module.default === exports || own.some((name) => module[name] === exports[name]),
  );
  if (source === undefined && made.length > 1 && own.length < names.length) {
    throw new Error(
      `the app calls app() ${made.length} times: export default the one the component serves`,
    );
  }
  source ??= made[0];
  if (source === undefined && !own.includes("handler")) {
    throw new Error(
      "the app's module calls no app(): write `export default app({ onMessage(connection, message) { ... } })`",
    );
  }
  const exports = source?.exports ?? exportsOf({});
  for (const name of own) {
    const unheard = (DELIVERS[name] ?? []).filter(
      (method) => source !== undefined && module[name] !== exports[name] && source.impl[method],
    );
    if (unheard.length > 0) {
      throw new Error(
        `the app exports a \`${name}\` of its own, so the ${unheard.join(" and ")} given to app() ` +
          `would never be called: export the \`${name}\` app() returns, or none`,
      );
    }
  }
  return Object.fromEntries(names.map((name) => [name, own.includes(name) ? module[name] : exports[name]]));
}
