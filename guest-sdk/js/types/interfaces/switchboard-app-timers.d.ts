declare module 'switchboard:app/timers@0.1.3' {
  /**
   * Set the timer named `key`, replacing any timer of that name. It
   * fires once after `delay-ms` (a delay under
   * `limits.min_timer_interval_ms` is raised to it), then every
   * `repeat-ms` if given. A repeating timer that fell behind fires once,
   * not once for every interval it missed.
   */
  export function set(key: string, delayMs: bigint, repeatMs: bigint | undefined): void;
  /**
   * Cancel a timer. Returns whether there was one of that name.
   */
  export function cancel(key: string): boolean;
  /**
   * The app's timers, soonest first.
   */
  export function pending(): Array<Timer>;
  /**
   * One pending timer.
   */
  export interface Timer {
    key: string,
    /**
     * Milliseconds until it fires next (0 when it is due now).
     */
    dueInMs: bigint,
    /**
     * Its interval, for a repeating timer.
     */
    repeatMs?: bigint,
  }
  /**
   * Why a timer was not set.
   * # Variants
   * 
   * ## `"too-many-timers"`
   * 
   * The app has `limits.max_timers_per_app` timers already (1 024 by
   * default).
   * ## `"interval-too-short"`
   * 
   * A repeat interval under `limits.min_timer_interval_ms` (10 by
   * default).
   * ## `"invalid-key"`
   * 
   * An empty key, or one over 256 bytes.
   */
  export type TimerError = 'too-many-timers' | 'interval-too-short' | 'invalid-key';
}
