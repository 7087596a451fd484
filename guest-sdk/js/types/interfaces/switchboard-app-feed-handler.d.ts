declare module 'switchboard:app/feed-handler@0.1.3' {
  /**
   * New complete lines of a feed, oldest first, without their line
   * endings. Bytes that are not UTF-8 are replaced (U+FFFD); a line over
   * `limits.max_feed_line_bytes` (64 KiB by default) is cut there.
   */
  export function onLines(feed: string, lines: Array<string>): void;
}
