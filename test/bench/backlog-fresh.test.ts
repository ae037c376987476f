import { summarizeLags } from './scenarios/lag-summary';
import { freshLagSummary } from './scenarios/backlog';

test('fresh writes’ lags run from their answer to their row backed up; one not backed up is counted apart', () => {
  const lags = summarizeLags(
    [
      { ackedAt: 1_000, copiedAt: 1_250 },
      { ackedAt: 2_000, copiedAt: 9_000 },
      { ackedAt: 3_000, copiedAt: undefined },
    ],
    10_000,
  );
  expect(freshLagSummary(lags)).toBe('3 written, median 3.63 s, max 7 s, 1 not backed up after the drain');
  expect(freshLagSummary(summarizeLags([], 10_000))).toBe('none written');
});
