declare module 'switchboard:app/app-info@0.1.3' {
  /**
   * The app's name, as the config and the admin API know it.
   */
  export function name(): string;
  /**
   * The running version: the first 12 hex digits of the module's
   * SHA-256, as the admin API lists it.
   */
  export function version(): string;
}
