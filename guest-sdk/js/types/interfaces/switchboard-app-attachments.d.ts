/// <reference path="./switchboard-app-types.d.ts" />
declare module 'switchboard:app/attachments@0.1.3' {
  /**
   * How the connection was opened; `none` for an id that is not (or no
   * longer) one of this app's connections. Readable until `on-close`
   * returns.
   */
  export function info(connection: ConnectionId): ConnectionInfo | undefined;
  /**
   * Attach bytes to a connection, replacing what was attached before. An
   * empty list clears it.
   */
  export function set(connection: ConnectionId, data: Uint8Array): void;
  /**
   * What is attached to a connection; empty if nothing is. Readable until
   * `on-close` returns.
   */
  export function get(connection: ConnectionId): Uint8Array;
  export type ConnectionId = import('switchboard:app/types@0.1.3').ConnectionId;
  export type Request = import('switchboard:app/types@0.1.3').Request;
  /**
   * How a connection was opened.
   */
  export interface ConnectionInfo {
    /**
     * The upgrade request, as `on-open` saw it.
     */
    request: Request,
    /**
     * The subprotocol the app confirmed in `on-open`, if any.
     */
    subprotocol?: string,
  }
  /**
   * Why `set` did nothing.
   * # Variants
   * 
   * ## `"unknown-connection"`
   * 
   * The connection is gone, or was never this app's.
   * ## `"too-large"`
   * 
   * Over the host's limit (`limits.max_attachment_bytes`, 16 KiB by
   * default).
   */
  export type AttachmentError = 'unknown-connection' | 'too-large';
}
