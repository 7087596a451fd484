/// <reference path="./switchboard-app-types.d.ts" />
declare module 'switchboard:app/handler@0.1.3' {
  /**
   * A client asks to connect. Called before the HTTP 101 response, so this
   * is where authentication lives. Messages sent to the connection here are
   * delivered right after the upgrade completes.
   */
  export function onOpen(connection: ConnectionId, request: Request): Accept;
  /**
   * A complete message arrived.
   */
  export function onMessage(connection: ConnectionId, message: Message): void;
  /**
   * The connection is gone. Called exactly once for every accepted
   * connection, however it ended: `code` is the close code the client sent
   * (or the app or host sent), 1005 if a close frame carried none, 1006 if
   * the connection dropped without a close frame, 1001 on host shutdown.
   */
  export function onClose(connection: ConnectionId, code: number, reason: string): void;
  export type ConnectionId = import('switchboard:app/types@0.1.3').ConnectionId;
  export type Message = import('switchboard:app/types@0.1.3').Message;
  export type Request = import('switchboard:app/types@0.1.3').Request;
  export type Accept = import('switchboard:app/types@0.1.3').Accept;
  export type Reject = import('switchboard:app/types@0.1.3').Reject;
}
