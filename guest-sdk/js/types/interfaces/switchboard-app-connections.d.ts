/// <reference path="./switchboard-app-types.d.ts" />
declare module 'switchboard:app/connections@0.1.3' {
  /**
   * Queue one message to one connection.
   */
  export function send(connection: ConnectionId, message: Message): void;
  /**
   * Start the closing handshake with a code and a reason. `on-close` follows
   * once the connection is gone.
   */
  export function close(connection: ConnectionId, code: number, reason: string): void;
  /**
   * Queue one message to every open connection of this app except those
   * listed. Returns how many connections it was queued to.
   */
  export function broadcast(message: Message, except: BigUint64Array): number;
  /**
   * Every open connection of this app, oldest first.
   */
  export function connections(): BigUint64Array;
  export type ConnectionId = import('switchboard:app/types@0.1.3').ConnectionId;
  export type Message = import('switchboard:app/types@0.1.3').Message;
  export type ConnectionError = import('switchboard:app/types@0.1.3').ConnectionError;
}
