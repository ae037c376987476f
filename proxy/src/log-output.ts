/**
 * Where the running proxy's log lines go: stdout, several lines to one write. Every line was a write
 * system call of its own, a synchronous one on a file or a pipe (a container's stdout), and the access log
 * writes a line per request: about 5 % of the proxy's CPU per small GET at c=16. Lines logged in the same
 * turn of the event loop now leave together when the turn ends, in order. `flush()` writes what is pending
 * at once (before a line on stderr, so the two streams keep their order); `close()` flushes and writes every
 * later line at once (main.ts calls it on exit: no line before or during a process.exit is lost).
 */
export interface LineOutput {
  write(line: string): void;
  flush(): void;
  close(): void;
}

/** A batch is written as soon as it holds this many characters (or more: the check follows each line). */
const MAX_PENDING_CHARS = 64 * 1024;

export function batchedLines(
  writeOut: (text: string) => void,
  schedule: (flush: () => void) => void = (flush) => void setImmediate(flush).unref(),
): LineOutput {
  let pending = '';
  let scheduled = false;
  let closed = false;
  const flush = (): void => {
    if (pending === '') return;
    const text = pending;
    pending = '';
    writeOut(text);
  };
  const turnEnded = (): void => {
    scheduled = false;
    flush();
  };
  return {
    write(line) {
      if (closed) return writeOut(line);
      pending += line;
      if (pending.length >= MAX_PENDING_CHARS) flush();
      else if (!scheduled) {
        scheduled = true;
        schedule(turnEnded);
      }
    },
    flush,
    close() {
      closed = true;
      flush();
    },
  };
}
