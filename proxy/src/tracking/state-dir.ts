/** Files the proxy keeps under STATE_DIR (only when it is set: without it the proxy writes nothing to disk). */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const JOURNAL_SUBDIR = 'journal';
const INSTANCE_ID_FILE = 'instance-id';

/**
 * A stable id for this state directory, created once. The proxy's lease owner is `<id>:<random per start>`,
 * so a restarted proxy (same STATE_DIR, e.g. a pod's emptyDir after a container restart) knows that leases
 * carrying its id but another start's suffix belong to its dead predecessor and may be taken at once.
 */
export function stableInstanceId(stateDir: string): string {
  const file = path.join(stateDir, INSTANCE_ID_FILE);
  try {
    const id = fs.readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f-]{36}$/.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const id = randomUUID();
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${id}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
  return id;
}
