/** RFC 6902 JSON Patch helpers: pointer escaping and ops that create missing parents instead of assuming them. */

export type PatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'test'; path: string; value: unknown };

/** RFC 6901: `~` → `~0` first, then `/` → `~1`. */
export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Builds a pointer from raw (unescaped) tokens. */
export function pointer(...tokens: (string | number)[]): string {
  return tokens.map((t) => '/' + escapePointerToken(String(t))).join('');
}

/**
 * Sets `key` in the map at `mapPath`. If the map does not exist (`existing` undefined or null), the whole map
 * is created in one op, because `add /metadata/annotations/x` fails when `annotations` is missing.
 */
export function setMapEntry(
  mapPath: string,
  existing: Readonly<Record<string, unknown>> | null | undefined,
  key: string,
  value: unknown,
): PatchOp {
  if (existing === undefined || existing === null)
    return { op: 'add', path: mapPath, value: { [key]: value } };
  return { op: 'add', path: `${mapPath}/${escapePointerToken(key)}`, value };
}

/** Appends to the array at `arrayPath`, creating it when missing. */
export function appendToArray(
  arrayPath: string,
  existing: readonly unknown[] | null | undefined,
  value: unknown,
): PatchOp {
  if (!Array.isArray(existing)) return { op: 'add', path: arrayPath, value: [value] };
  return { op: 'add', path: `${arrayPath}/-`, value };
}

/** Inserts at the front of the array at `arrayPath`, creating it when missing. */
export function prependToArray(
  arrayPath: string,
  existing: readonly unknown[] | null | undefined,
  value: unknown,
): PatchOp {
  if (!Array.isArray(existing)) return { op: 'add', path: arrayPath, value: [value] };
  return { op: 'add', path: `${arrayPath}/0`, value };
}

/** Appends several values, creating the array with all of them when missing. */
export function appendAllToArray(
  arrayPath: string,
  existing: readonly unknown[] | null | undefined,
  values: readonly unknown[],
): PatchOp[] {
  if (values.length === 0) return [];
  if (!Array.isArray(existing)) return [{ op: 'add', path: arrayPath, value: [...values] }];
  return values.map((value) => ({ op: 'add', path: `${arrayPath}/-`, value }));
}
