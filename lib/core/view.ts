// Objects that show another object's changing fields: each read goes to the source, so the
// view never holds a stale copy.

/** `target` with read-only properties that read the same `keys` of `source` at each access. */
export function withLiveFields<T extends object, S extends object, K extends keyof S>(target: T, source: S,
  keys: readonly K[]): T & { readonly [P in K]: S[P] }
{
  for (const key of keys) {
    Object.defineProperty(target, key, { get: () => source[key], enumerable: true, configurable: true });
  }
  return target as T & { readonly [P in K]: S[P] };
}
