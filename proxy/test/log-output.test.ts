/** The line batching of the proxy's log output; main.ts's flush at exit is held by security-secrets' fatal-error test. */
import { batchedLines } from '../src/log-output';

/** A batched output over an array of writes, with the end of the turn in the test's hands. */
function captured(): { out: ReturnType<typeof batchedLines>; writes: string[]; endTurn: () => void } {
  const writes: string[] = [];
  let pending: (() => void) | undefined;
  const out = batchedLines(
    (text) => writes.push(text),
    (flush) => {
      expect(pending).toBeUndefined(); // one flush scheduled per batch
      pending = flush;
    },
  );
  const endTurn = (): void => {
    const flush = pending;
    pending = undefined;
    flush?.();
  };
  return { out, writes, endTurn };
}

test('lines of one turn leave in one write, in order, when the turn ends', () => {
  const { out, writes, endTurn } = captured();
  out.write('a\n');
  out.write('b\n');
  out.write('c\n');
  expect(writes).toEqual([]);
  endTurn();
  expect(writes).toEqual(['a\nb\nc\n']);
  out.write('d\n');
  endTurn();
  expect(writes).toEqual(['a\nb\nc\n', 'd\n']);
});

test('flush() writes what is pending at once, and the scheduled flush then finds nothing', () => {
  const { out, writes, endTurn } = captured();
  out.write('before exit\n');
  out.flush();
  expect(writes).toEqual(['before exit\n']);
  endTurn();
  expect(writes).toEqual(['before exit\n']);
});

test('a batch never grows past 64 KiB: it is written as soon as it reaches that', () => {
  const { out, writes } = captured();
  const line = `${'x'.repeat(1023)}\n`;
  for (let i = 0; i < 64; i++) out.write(line);
  expect(writes).toHaveLength(1);
  expect(writes[0]).toHaveLength(64 * 1024);
});
