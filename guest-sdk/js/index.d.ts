// The SDK's helpers, declared. The world's own types come from types/,
// which `switchboard build --sdk` generates from wit/switchboard.wit (jco's
// guest types); a test fails when the copy committed here is stale.

/// <reference path="./types/realtime-app.d.ts" />

import type {
  Accept,
  ConnectionError,
  ConnectionId,
  Message,
  Reject,
  Request,
} from "switchboard:app/types@0.1.3";
import type {
  AttachmentError,
  ConnectionInfo,
} from "switchboard:app/attachments@0.1.3";
import type {
  HistoryPage,
  Position,
  Publication,
  Subscription,
  TopicError,
} from "switchboard:app/topics@0.1.3";
import type { Entry, KvError } from "switchboard:app/kv@0.1.3";
import type { TimerError } from "switchboard:app/timers@0.1.3";
import type { FeedError } from "switchboard:app/feeds@0.1.3";
import type * as handler from "switchboard:app/handler@0.1.3";
import type * as lifecycle from "switchboard:app/lifecycle@0.1.3";
import type * as presence from "switchboard:app/presence@0.1.3";
import type * as timerHandler from "switchboard:app/timer-handler@0.1.3";
import type * as feedHandler from "switchboard:app/feed-handler@0.1.3";

export type {
  Accept,
  AttachmentError,
  ConnectionError,
  ConnectionId,
  ConnectionInfo,
  Entry,
  FeedError,
  HistoryPage,
  KvError,
  Message,
  Position,
  Publication,
  Reject,
  Request,
  Subscription,
  TimerError,
  TopicError,
};

/** Close codes an app may send (RFC 6455 7.4.1), by name. */
export declare const CloseCode: Readonly<{
  Normal: 1000;
  GoingAway: 1001;
  ProtocolError: 1002;
  Unsupported: 1003;
  InvalidData: 1007;
  PolicyViolation: 1008;
  TooBig: 1009;
  MandatoryExtension: 1010;
  InternalError: 1011;
  ServiceRestart: 1012;
  TryAgainLater: 1013;
  BadGateway: 1014;
}>;

/** What `send` and `broadcast` take: text, bytes, or a message variant. */
export type Sendable = string | Uint8Array | ArrayBuffer | Message;

export declare function message(value: Sendable): Message;
/** `value` as JSON text; BigInts (ids, offsets) become numbers (strings
 * past 2^53, so none is rounded). */
export declare function toJson(value: unknown): string;
/** Queue a message and forget it (see `trySend` for why one did nothing). */
export declare function send(connection: ConnectionId, value: Sendable): void;
/** Queue a message; undefined, or why it was not queued. */
export declare function trySend(connection: ConnectionId, value: Sendable): ConnectionError | undefined;
export declare function sendJson(connection: ConnectionId, value: unknown): void;
/** Queue to every connection of this app but `except`; how many it reached. */
export declare function broadcast(value: Sendable, except?: ConnectionId[]): number;
export declare function broadcastJson(value: unknown, except?: ConnectionId[]): number;
/** Start closing a connection; undefined, or why nothing happened. */
export declare function close(connection: ConnectionId, code?: number, reason?: string): ConnectionError | undefined;
export declare function connections(): ConnectionId[];
export declare function connectionInfo(connection: ConnectionId): ConnectionInfo | undefined;
export declare function setAttachment(connection: ConnectionId, data: Uint8Array | string): AttachmentError | undefined;
export declare function attachment(connection: ConnectionId): Uint8Array;
export declare function appName(): string;
export declare function appVersion(): string;

/** Thrown by `subscribe` and `history` when the host refused the call. */
export declare class TopicFailed extends Error {
  readonly error: TopicError;
  constructor(error: TopicError);
}

/** One subscriber of a topic, as `members`, `onJoin` and `onLeave` see it. */
export interface Member {
  /** Unique even when topics span several hosts. */
  readonly id: string;
  /** Its connection, when it is connected to this host. */
  readonly connection: ConnectionId | undefined;
  /** What it gave `subscribe` as `info`. */
  readonly info: Uint8Array;
  /** The info as text, or undefined when it is not UTF-8. */
  infoText(): string | undefined;
}

/** A position as a client may send it back: the offset as a number, a
 * BigInt or a string of digits. */
export interface Since {
  epoch: string;
  offset: bigint | number | string;
}

export interface SubscribeOptions {
  /** What `members` and `onJoin` show for this subscriber, e.g. a name. */
  info?: string | Uint8Array;
  /** Resume from the last position the client saw. */
  since?: Since;
}

/** Subscribe a connection to a topic; throws TopicFailed. */
export declare function subscribe(connection: ConnectionId, topic: string, options?: SubscribeOptions): Subscription;
/** End a subscription; false if there was none. */
export declare function unsubscribe(connection: ConnectionId, topic: string): boolean;
/** Send to every subscriber of a topic and forget it; how many it reached
 * (0, logged, when the topic name is invalid). */
export declare function publish(topic: string, value: Sendable): number;
/** `publish`, returning why nothing was sent instead of logging it. */
export declare function tryPublish(topic: string, value: Sendable): number | TopicError;
export declare function publishJson(topic: string, value: unknown): number;
/** Who is subscribed to a topic, in the order they joined. */
export declare function members(topic: string): Member[];
/** The latest `limit` publications a topic keeps; throws TopicFailed. */
export declare function history(topic: string, limit: number): HistoryPage;
/** The topics a connection is subscribed to. */
export declare function subscriptions(connection: ConnectionId): string[];

/** Thrown by `timers.after`, `every` and `set` when the host refused. */
export declare class TimerFailed extends Error {
  readonly error: TimerError;
  constructor(error: TimerError);
}

/** A number of milliseconds (a BigInt is taken as it is). */
export type Millis = number | bigint;

/** One pending timer, its times in milliseconds. */
export interface PendingTimer {
  key: string;
  /** Until it fires next (0 when it is due now). */
  dueInMs: number;
  /** Its interval, for a repeating timer. */
  repeatMs: number | undefined;
}

/** Timers held by the host; `onTimer(key)` hears them fire. */
export declare const timers: Readonly<{
  /** Fire once, `delayMs` from now; throws TimerFailed. */
  after(key: string, delayMs: Millis): void;
  /** Fire every `intervalMs`, the first time one interval from now. */
  every(key: string, intervalMs: Millis): void;
  /** Fire after `delayMs`, then every `repeatMs` if given. */
  set(key: string, delayMs: Millis, repeatMs?: Millis): void;
  /** Cancel the timer under `key`; whether there was one. */
  cancel(key: string): boolean;
  /** The app's timers, soonest first. */
  pending(): PendingTimer[];
}>;

/** Thrown by the `kv` functions when the host refused the call. */
export declare class KvFailed extends Error {
  readonly error: KvError;
  constructor(error: KvError);
}

/** What `kv` stores: bytes, or a string (as UTF-8). */
export type Storable = string | Uint8Array | ArrayBuffer;

export interface ListOptions {
  /** Start after this key, to read page by page. */
  startAfter?: string;
  /** At most this many entries (1 000 at most, and by default). */
  limit?: number;
}

/** The app's own key-value store, on disk in the host; every function
 * throws KvFailed when the host refuses it. */
export declare const kv: Readonly<{
  get(key: string): Uint8Array | undefined;
  getText(key: string): string | undefined;
  /** The value parsed as JSON; undefined when the key is absent. */
  getJson(key: string): any;
  set(key: string, value: Storable): void;
  /** Store `value` as JSON text (BigInts written as numbers). */
  setJson(key: string, value: unknown): void;
  /** Remove `key`; whether it was there. */
  delete(key: string): boolean;
  /** The entries whose keys start with `prefix`, in key order. */
  list(prefix?: string, options?: ListOptions): Entry[];
  /** Store `next` (undefined: remove) only if the key holds `expected`
   * (undefined: absent); whether it did. */
  compareAndSwap(key: string, expected: Storable | undefined, next: Storable | undefined): boolean;
  /** Add `delta` (1 by default) to the counter under `key`; its new value. */
  increment(key: string, delta?: number | bigint): bigint;
}>;

/** Thrown by `feeds.tail` when the host could not read the feed. */
export declare class FeedFailed extends Error {
  readonly error: FeedError;
  constructor(error: FeedError);
}

/** Files the config grants this app; `onLines` hears what is appended. */
export declare const feeds: Readonly<{
  /** The names of the feeds this app is granted. */
  granted(): string[];
  /** The last `lines` complete lines of a feed, oldest first; throws
   * FeedFailed. */
  tail(feed: string, lines: number): string[];
}>;

export declare const log: Readonly<{
  trace(text: unknown): void;
  debug(text: unknown): void;
  info(text: unknown): void;
  warn(text: unknown): void;
  error(text: unknown): void;
}>;

/** The first value of a query parameter, percent-decoded. */
export declare function queryParam(request: Request, name: string): string | undefined;
/** The first value of a header; `name` ignores case. */
export declare function header(request: Request, name: string): string | undefined;

/** What `onOpen` returns to refuse a connection. */
export interface Rejection {
  readonly status: number;
  readonly body: string;
}
export declare function accept(subprotocol?: string): Accept;
export declare function reject(status: number, body?: string): Rejection;

export declare function utf8Encode(text: string): Uint8Array;
export declare function utf8Decode(bytes: Uint8Array): string;
export declare const json: Readonly<{
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): any;
}>;

/** An app: any of these, each with a default. */
export interface App {
  onOpen?(connection: ConnectionId, request: Request): Accept | Rejection | undefined | void;
  onMessage?(connection: ConnectionId, message: Message): void;
  onClose?(connection: ConnectionId, code: number, reason: string): void;
  /** The state the next version starts from; nothing hands over nothing. */
  snapshot?(): Uint8Array | string | undefined | void;
  /** Take over from `snapshot`; throw to refuse it (the deploy fails). */
  restore?(snapshot: Uint8Array): void;
  /** A connection joined `topic` (its first subscribe to it). */
  onJoin?(topic: string, member: Member): void;
  /** A member left `topic`: unsubscribed, or its connection ended. */
  onLeave?(topic: string, member: Member): void;
  /** The timer set under `key` (`timers`) is due. */
  onTimer?(key: string): void;
  /** New complete lines of the feed the config grants as `feed`, oldest
   * first, without their line endings. */
  onLines?(feed: string, lines: string[]): void;
}

/** Every export of the world, each from the app. */
export interface WorldExports {
  handler: typeof handler;
  lifecycle: typeof lifecycle;
  presence: typeof presence;
  timerHandler: typeof timerHandler;
  feedHandler: typeof feedHandler;
}

/** The app: `export default app({...})`. `switchboard build` exports every
 * interface of the world from it; a module that exports some itself
 * (`export const { handler, lifecycle, presence } = app({...})`) builds
 * the same, the rest taken from this app. */
export declare function app(impl: App): WorldExports;

/** The world's exports of the app's module, the rest from its app: what
 * the component's entry (world.js) exports. */
export declare function worldExports(module: Partial<WorldExports> & { default?: unknown }): WorldExports;
