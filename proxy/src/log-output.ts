/**
 * Where the running proxy's log lines go: stdout, several lines to one write. Every line was a write
 * system call of its own, a synchronous one on a file or a pipe (a container's stdout), and the access log
 * writes a line per request: about 5 % of the proxy's CPU per small GET at c=16. Lines logged in the same
 * turn of the event loop now leave together when the turn ends, in order; `flush()` writes what is pending
 * at once (main.ts calls it on exit, so the lines before a process.exit are never lost).
 */
export interface LineOutput {
  write(line: string): void;
  flush(): void;
}

/** A batch never grows past this: a larger one is written at once. */
const MAX_PENDING_CHARS = 64 * 1024;

export function batchedLines(
  writeOut: (text: string) => void,
  schedule: (flush: () => void) => void = (flush) => void setImmediate(flush).unref(),
): LineOutput {
  let pending = '';
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending === '') return;
    const text = pending;
    pending = '';
    writeOut(text);
  };
  return {
    write(line) {
      pending += line;
      if (pending.length >= MAX_PENDING_CHARS) flush();
      else if (!scheduled) {
        scheduled = true;
        schedule(flush);
      }
    },
    flush,
  };
}
