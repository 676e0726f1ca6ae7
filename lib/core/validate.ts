// Argument checks shared by every public entry point: they name the option at fault and run
// before any syscall.

export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'symbol') return String(value);
  return typeof value === 'function' ? 'a function' : 'undefined';
}

export function assertObject<T>(value: T, name: string): asserts value is T & Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`${name} must be an object, got ${describeValue(value)}`);
  }
}

/**
 * Refuses keys that are not in `known`, suggesting the closest one. Lists are short: a plain
 * search, with nothing allocated or cached per call (callers on hot paths pass a new array
 * literal each time).
 */
export function assertKnownKeys(obj: Record<string, unknown>, known: readonly string[], name: string): void {
  for (const key in obj) {
    if (known.includes(key) || !Object.hasOwn(obj, key)) continue;
    const lower = key.toLowerCase();
    const hint = known.find((k) => k.toLowerCase() === lower);
    throw new TypeError(`${name}: unknown option '${key}'${hint ? `; did you mean '${hint}'?` : ''}`);
  }
}

/**
 * integer() for hot paths: the option's name (`${where}.${key}`) is only built when the value
 * is refused.
 */
export function int(value: unknown, where: string, key: string, min: number, max: number): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
  return integer(value, `${where}.${key}`, min, max);
}

export function optionalInt(value: unknown, where: string, key: string, min: number, max: number): number | undefined {
  return value === undefined ? undefined : int(value, where, key, min, max);
}

export function integer(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`${name} must be an integer, got ${describeValue(value)}`);
  }
  if (value < min || value > max) {
    throw new RangeError(`${name} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

export function optionalInteger(value: unknown, name: string, min: number, max: number): number | undefined {
  return value === undefined ? undefined : integer(value, name, min, max);
}

export function boolean(value: unknown, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describeValue(value)}`);
  return value;
}

export function oneOf<T extends string>(value: unknown, allowed: readonly T[], name: string): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new TypeError(
      `${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describeValue(value)}`,
    );
  }
  return value as T;
}

/** A value or a non-empty array of values, as an array. */
export function list<T>(value: T | readonly T[], name: string): readonly T[] {
  if (Array.isArray(value)) {
    if (value.length === 0) throw new TypeError(`${name} must not be an empty array`);
    return value;
  }
  return [value as T];
}
