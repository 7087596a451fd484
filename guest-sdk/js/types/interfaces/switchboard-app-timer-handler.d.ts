declare module 'switchboard:app/timer-handler@0.1.3' {
  /**
   * The timer set under `key` is due.
   */
  export function onTimer(key: string): void;
}
