/**
 * What the image runs: the proxy package's `bin`, the one-file bundle of proxy/dist (proxy/bundle.mjs).
 * Resolved through the workspace package so it also works from the compiled harness (test/dist). A module
 * of its own that imports only node:fs: the bench's proxy entry loads it, and must load nothing else.
 */
import fs from 'node:fs';

const manifest = JSON.parse(
  fs.readFileSync(require.resolve('@k8s-s3-mirror/proxy/package.json'), 'utf8'),
) as { bin: Record<string, string> };

export const PROXY_MAIN = require.resolve(`@k8s-s3-mirror/proxy/${manifest.bin['s3-mirror-proxy']}`);
