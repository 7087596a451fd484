// The SDK's helpers, declared. The world's own types come from types/,
// which `switchboard build --sdk` generates from wit/switchboard.wit (jco's
// guest types); a test fails when the copy committed here is stale.

/// <reference path="./types/stateful-app.d.ts" />

import type {
  Accept,
  ConnectionError,
  ConnectionId,
  Message,
  Reject,
  Request,
} from "switchboard:app/types@0.1.1";
import type {
  AttachmentError,
  ConnectionInfo,
} from "switchboard:app/attachments@0.1.1";
import type * as handler from "switchboard:app/handler@0.1.1";
import type * as lifecycle from "switchboard:app/lifecycle@0.1.1";

export type {
  Accept,
  AttachmentError,
  ConnectionError,
  ConnectionId,
  ConnectionInfo,
  Message,
  Reject,
  Request,
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
}

/** The world's exports: `export const { handler, lifecycle } = app({...})`. */
export declare function app(impl: App): {
  handler: typeof handler;
  lifecycle: typeof lifecycle;
};
