import { freshLagSummary, freshWriteLags } from './scenarios/backlog';

test('a fresh write’s lag runs from its answer to its row backed up; one not backed up is NaN and counted apart', () => {
  const written = new Map([
    ['fresh-0', 1_000],
    ['fresh-1', 2_000],
    ['fresh-2', 3_000],
  ]);
  const lags = freshWriteLags(
    written,
    new Map([
      ['fresh-0', { t: 1_250 }],
      ['fresh-1', { t: 9_000 }],
    ]),
  );
  expect(lags).toEqual([250, 7_000, NaN]);
  expect(freshLagSummary(lags)).toBe('3 written, median 3.63 s, max 7 s, 1 not backed up after the drain');
  expect(freshLagSummary([])).toBe('none written');
});
