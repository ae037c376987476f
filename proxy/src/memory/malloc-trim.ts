/**
 * glibc's malloc_trim(0), through the Node-API addon proxy/native/malloc-trim.c that `npm run build` compiles
 * into dist/native (the image always has it). Where it was not built (no C compiler) or cannot load, there is
 * none, and a reclaim collects garbage only.
 */
import path from 'node:path';

/** Returns every free page of glibc's arenas to the system; true when any went back. */
export type MallocTrim = () => boolean;

export const MALLOC_TRIM_ADDON = path.join(__dirname, '..', 'native', 'malloc-trim.node');

export type MallocTrimLoad = { ok: true; trim: MallocTrim } | { ok: false; reason: string };

export function loadMallocTrim(file: string = MALLOC_TRIM_ADDON): MallocTrimLoad {
  const addon: { exports: { trim?: unknown } } = { exports: {} };
  try {
    process.dlopen(addon, file);
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  const trim = addon.exports.trim;
  if (typeof trim !== 'function') return { ok: false, reason: `${file} exports no trim()` };
  return { ok: true, trim: () => trim() === true };
}
