declare module 'switchboard:app/kv@0.1.3' {
  /**
   * The value stored under `key`, if any.
   */
  export function get(key: string): Uint8Array | undefined;
  /**
   * Store `value` under `key`, replacing what was there.
   */
  export function set(key: string, value: Uint8Array): void;
  /**
   * Remove `key`. Returns whether it was there.
   */
  export { _delete as delete };
  function _delete(key: string): boolean;
  /**
   * The keys starting with `prefix` and their values, in byte order of
   * the keys, starting after `start-after` when given (to read page by
   * page), at most `limit` of them (and never more than 1 000).
   */
  export function list(prefix: string, startAfter: string | undefined, limit: number): Array<Entry>;
  /**
   * Store `new` under `key` (remove it, for `none`) only if the key holds
   * `expected` now (`none`: the key is absent). Returns whether it did.
   */
  export function compareAndSwap(key: string, expected: Uint8Array | undefined, new_: Uint8Array | undefined): boolean;
  /**
   * Add `delta` to the counter under `key` and return its new value. A
   * counter is stored as decimal text (`get` reads "42"); an absent key
   * counts as 0.
   */
  export function increment(key: string, delta: bigint): bigint;
  /**
   * One stored key and its value.
   */
  export interface Entry {
    key: string,
    value: Uint8Array,
  }
  /**
   * Why a call did nothing.
   * # Variants
   * 
   * ## `"invalid-key"`
   * 
   * An empty key, or one over `limits.max_kv_key_bytes` (512 by
   * default).
   * ## `"value-too-large"`
   * 
   * A value over `limits.max_kv_value_bytes` (1 MiB by default).
   * ## `"quota-exceeded"`
   * 
   * The write would take the app past its quota
   * (`limits.max_kv_bytes_per_app`, `limits.max_kv_keys_per_app`).
   * ## `"not-a-counter"`
   * 
   * `increment` on a value that is not a decimal 64-bit integer.
   * ## `"overflow"`
   * 
   * `increment` past the range of a signed 64-bit integer.
   * ## `"storage-failed"`
   * 
   * The store failed (a full disk, an I/O error): nothing was
   * written. The host's log says why.
   */
  export type KvError = 'invalid-key' | 'value-too-large' | 'quota-exceeded' | 'not-a-counter' | 'overflow' | 'storage-failed';
}
