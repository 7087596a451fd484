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
} from "switchboard:app/types@0.1.2";
import type {
  AttachmentError,
  ConnectionInfo,
} from "switchboard:app/attachments@0.1.2";
import type {
  HistoryPage,
  Position,
  Publication,
  Subscription,
  TopicError,
} from "switchboard:app/topics@0.1.2";
import type * as handler from "switchboard:app/handler@0.1.2";
import type * as lifecycle from "switchboard:app/lifecycle@0.1.2";
import type * as presence from "switchboard:app/presence@0.1.2";

export type {
  Accept,
  AttachmentError,
  ConnectionError,
  ConnectionId,
  ConnectionInfo,
  HistoryPage,
  Message,
  Position,
  Publication,
  Reject,
  Request,
  Subscription,
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
}

/** The world's exports:
 * `export const { handler, lifecycle, presence } = app({...})`. */
export declare function app(impl: App): {
  handler: typeof handler;
  lifecycle: typeof lifecycle;
  presence: typeof presence;
};
