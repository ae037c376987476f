/**
 * What the image runs: the proxy package's `bin`, the one-file bundle of proxy/dist (proxy/bundle.mjs).
 * Resolved through the workspace package so it also works from the compiled harness (test/dist). A module
 * of its own that imports only node:fs: the bench's proxy entry loads it, and must do nothing else (walking
 * proxy/dist there to check the bundle's age made node's path functions hot: +5 MB at rest, proxy.ts does it).
 */
import fs from 'node:fs';

export const PROXY_PACKAGE_JSON = require.resolve('@k8s-s3-mirror/proxy/package.json');

const manifest = JSON.parse(fs.readFileSync(PROXY_PACKAGE_JSON, 'utf8')) as { bin: Record<string, string> };

export const PROXY_MAIN = require.resolve(`@k8s-s3-mirror/proxy/${manifest.bin['s3-mirror-proxy']}`);
