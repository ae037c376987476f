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

test('a batch is written as soon as it holds 64 Ki characters, without waiting for the turn to end', () => {
  const { out, writes } = captured();
  const line = `${'x'.repeat(1023)}\n`;
  for (let i = 0; i < 64; i++) out.write(line);
  expect(writes).toHaveLength(1);
  expect(writes[0]).toHaveLength(64 * 1024);
});

test('after a batch written for its size, later lines of the same turn wait for its one flush', () => {
  const { out, writes, endTurn } = captured();
  const line = `${'x'.repeat(1023)}\n`;
  for (let i = 0; i < 64; i++) out.write(line);
  out.write('after\n');
  expect(writes).toHaveLength(1);
  endTurn();
  expect(writes).toEqual([line.repeat(64), 'after\n']);
});

test('close() writes what is pending, and every later line at once (lines logged during exit)', () => {
  const { out, writes } = captured();
  out.write('pending\n');
  out.close();
  out.write('from another exit listener\n');
  expect(writes).toEqual(['pending\n', 'from another exit listener\n']);
});
