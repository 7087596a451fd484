declare module 'switchboard:app/lifecycle@0.1.3' {
  /**
   * Called on the running version right before it is replaced. `none`
   * means there is nothing to hand over.
   */
  export function snapshot(): Uint8Array | undefined;
  /**
   * Called on the new version, before it handles any event, with what
   * the old version's `snapshot` returned. An error fails the deploy: the
   * old version keeps serving.
   */
  export function restore(snapshot: Uint8Array): void;
}
