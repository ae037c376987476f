/** Without kubectl the deploy tests must fail loudly (never skip): CI then says what to install. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubectlAvailable, render } from './render';

test('a missing kubectl fails the render with a message that says what to install', () => {
  const saved = process.env.PATH;
  process.env.PATH = mkdtempSync(join(tmpdir(), 'no-kubectl-'));
  try {
    expect(kubectlAvailable()).toBe(false);
    expect(() => render('deploy/base')).toThrow(
      /^kubectl is not installed: the deploy tests render the kustomizations with `kubectl kustomize`\. Install kubectl/,
    );
  } finally {
    process.env.PATH = saved;
  }
  expect(kubectlAvailable()).toBe(true);
  expect(render('deploy/base').length).toBeGreaterThan(0);
});
