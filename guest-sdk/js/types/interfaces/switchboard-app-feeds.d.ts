declare module 'switchboard:app/feeds@0.1.3' {
  /**
   * The names of the feeds the config grants this app.
   */
  export function granted(): Array<string>;
  /**
   * The last `lines` complete lines of a feed's file (at most 1 000,
   * and at most 1 MiB of it), oldest first: what a page that just
   * opened shows before new lines arrive.
   */
  export function tail(feed: string, lines: number): Array<string>;
  /**
   * Why `tail` read nothing.
   * # Variants
   * 
   * ## `"unknown-feed"`
   * 
   * The config grants this app no feed of that name.
   * ## `"unreadable"`
   * 
   * The file is missing or cannot be read now. The host's log says
   * why.
   */
  export type FeedError = 'unknown-feed' | 'unreadable';
}
