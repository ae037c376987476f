/**
 * Per-file setup for the integration project. Jest ignores `testTimeout` inside a `projects` entry (it is a
 * global option), so the integration timeout is set here. A test timeout is a hang guard, not a pass condition.
 */
jest.setTimeout(300_000);
