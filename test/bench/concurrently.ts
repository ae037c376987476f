/**
 * Runs `op(i)` for every i in [0, count), `concurrency` at a time: each of `concurrency` workers takes the
 * next index as soon as its last operation ended, as a closed-loop client does.
 */
export async function forEachConcurrently(
  count: number,
  concurrency: number,
  op: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await op(next++);
    }),
  );
}
