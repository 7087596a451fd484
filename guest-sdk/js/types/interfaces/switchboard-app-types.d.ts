declare module 'switchboard:app/types@0.1.3' {
  /**
   * One WebSocket connection. Unique for the lifetime of the host process
   * and never reused, so a stale id can only ever name a closed connection.
   */
  export type ConnectionId = bigint;
  /**
   * A complete WebSocket message. Fragmented input is reassembled and text
   * is checked to be UTF-8 by the host before the app sees it.
   */
  export type Message = MessageText | MessageBinary;
  export interface MessageText {
    tag: 'text',
    val: string,
  }
  export interface MessageBinary {
    tag: 'binary',
    val: Uint8Array,
  }
  /**
   * The HTTP upgrade request that opened a connection.
   */
  export interface Request {
    /**
     * The path the client asked for, e.g. `/chat`.
     */
    path: string,
    /**
     * The raw query string without the leading `?`, if any.
     */
    query?: string,
    /**
     * Every request header, names in lower case, in the order sent.
     * Values that are not valid UTF-8 are omitted.
     */
    headers: Array<[string, string]>,
    /**
     * The peer's address as `ip:port`.
     */
    remoteAddress: string,
    /**
     * The subprotocols the client offered in `Sec-WebSocket-Protocol`,
     * in the client's order of preference.
     */
    subprotocols: Array<string>,
  }
  /**
   * Accept the connection; the host completes the upgrade (HTTP 101).
   */
  export interface Accept {
    /**
     * One of `request.subprotocols`, to confirm to the client. A value
     * the client did not offer is refused by the host (HTTP 500).
     */
    subprotocol?: string,
  }
  /**
   * Refuse the connection with an HTTP response instead of an upgrade.
   */
  export interface Reject {
    /**
     * An HTTP status in 400..=599; anything else is answered with 500.
     */
    status: number,
    /**
     * Sent as the plain-text response body.
     */
    body: string,
  }
  /**
   * Why a call addressing a connection did nothing.
   * # Variants
   * 
   * ## `"unknown-connection"`
   * 
   * The connection is closed, closing, or was never this app's.
   * ## `"outbox-full"`
   * 
   * The connection's outbox is full: the client is not reading fast
   * enough. The host closes such a connection (1008).
   * ## `"invalid-close"`
   * 
   * A close code that may not be sent (RFC 6455 7.4: only 1000,
   * 1001-1003, 1007-1014 and 3000-4999), or a reason over 123 bytes.
   */
  export type ConnectionError = 'unknown-connection' | 'outbox-full' | 'invalid-close';
}
