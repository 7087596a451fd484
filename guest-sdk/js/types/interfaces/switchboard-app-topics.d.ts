/// <reference path="./switchboard-app-types.d.ts" />
declare module 'switchboard:app/topics@0.1.3' {
  /**
   * Subscribe a connection to a topic. Subscribing again to a topic it
   * is in replaces its presence info (and replays, if `since` is given).
   */
  export function subscribe(connection: ConnectionId, topic: string, options: SubscribeOptions): Subscription;
  /**
   * End a connection's subscription. Returns whether it was subscribed.
   */
  export function unsubscribe(connection: ConnectionId, topic: string): boolean;
  /**
   * Queue a message to every subscriber of a topic, and keep it in the
   * topic's history when the app's config keeps one for this topic.
   * Returns how many connections it was queued to on this host.
   */
  export function publish(topic: string, message: Message): number;
  /**
   * Who is subscribed to a topic, in the order they subscribed.
   */
  export function members(topic: string): Array<Member>;
  /**
   * The latest `limit` publications the topic's history keeps (fewer
   * when it keeps fewer), and where the stream stands.
   */
  export function history(topic: string, limit: number): HistoryPage;
  /**
   * The topics a connection is subscribed to, in the order it subscribed.
   */
  export function subscriptions(connection: ConnectionId): Array<string>;
  export type ConnectionId = import('switchboard:app/types@0.1.3').ConnectionId;
  export type Message = import('switchboard:app/types@0.1.3').Message;
  /**
   * A place in a topic's stream of publications.
   */
  export interface Position {
    /**
     * Names one life of the topic's stream. It changes when the host
     * could no longer tell what was published before (the topic was
     * idle past its history's lifetime, or the host restarted): offsets
     * of another epoch say nothing about this one.
     */
    epoch: string,
    /**
     * How many publications the stream has had: the offset of the
     * latest one (publications are numbered from 1), 0 before any.
     */
    offset: bigint,
  }
  /**
   * One publication kept in a topic's history.
   */
  export interface Publication {
    offset: bigint,
    message: Message,
  }
  /**
   * One subscriber of a topic, as presence lists it.
   */
  export interface Member {
    /**
     * Unique across every host that may ever share this app's topics
     * (a node id and the connection id), so it stays a key when
     * presence spans hosts.
     */
    id: string,
    /**
     * The subscribing connection when it is on this host; `none` for a
     * member connected elsewhere.
     */
    connection?: ConnectionId,
    /**
     * What was given at subscribe time (`subscribe-options.info`), e.g.
     * a user name as JSON.
     */
    info: Uint8Array,
  }
  export interface SubscribeOptions {
    /**
     * Presence info for `members` and the `presence` export; at most
     * `limits.max_presence_info_bytes` (1 KiB by default).
     */
    info: Uint8Array,
    /**
     * Resume a stream: the last position the client saw. What was
     * published after it is queued to the connection first, then live
     * publications follow, with no gap and no duplicate.
     */
    since?: Position,
  }
  /**
   * What a subscribe did.
   */
  export interface Subscription {
    /**
     * Where the topic's stream stands now: the connection receives
     * every publication after this one.
     */
    position: Position,
    /**
     * `true` when `since` was given and everything published after it
     * was queued to the connection (`replayed` of them). `false` when
     * `since` was given but the history no longer reaches back to it
     * (trimmed, expired, or another epoch): nothing was replayed, and
     * the client should start over from `position`. `false` too when
     * `since` was not given.
     */
    recovered: boolean,
    /**
     * How many missed publications were queued.
     */
    replayed: number,
  }
  /**
   * The latest publications a topic keeps, oldest first.
   */
  export interface HistoryPage {
    publications: Array<Publication>,
    /**
     * Where the stream stands: the offset of the last publication.
     */
    position: Position,
  }
  /**
   * Why a topic call did nothing.
   * # Variants
   * 
   * ## `"unknown-connection"`
   * 
   * The connection is closed, closing, or was never this app's.
   * ## `"invalid-topic"`
   * 
   * A topic name that is empty or longer than
   * `limits.max_topic_name_bytes` (256 by default).
   * ## `"too-many-topics"`
   * 
   * The connection is already in `limits.max_topics_per_connection`
   * topics (64 by default).
   * ## `"info-too-large"`
   * 
   * Presence info over `limits.max_presence_info_bytes`.
   * ## `"outbox-full"`
   * 
   * The missed publications did not fit the connection's outbox: the
   * client was too slow and is being closed (1008).
   */
  export type TopicError = 'unknown-connection' | 'invalid-topic' | 'too-many-topics' | 'info-too-large' | 'outbox-full';
}
