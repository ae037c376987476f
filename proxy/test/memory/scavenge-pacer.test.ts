import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import ts from 'typescript';

import { onBodyBytes } from '../../src/memory/body-bytes';
import { ScavengePacer } from '../../src/memory/scavenge-pacer';
import { relayBody } from '../../src/http/relay-body';

const MiB = 1024 * 1024;

/** A process streaming a body: every MiB noted adds a MiB of dead Buffers (and `live` more that stay); a collection frees the dead. */
function streamingProcess(opts: { failing?: 'look' | 'collection' } = {}) {
  // promoted: dead Buffers in the old generation, which only a full collection frees.
  const p = { dead: 0, live: 0, promoted: 0, collections: 0, fulls: 0, looks: 0, errors: [] as string[] };
  const pacer = new ScavengePacer(
    {
      arrayBufferBytes: () => {
        p.looks++;
        if (opts.failing === 'look') throw new Error('no /proc');
        return p.dead + p.live + p.promoted;
      },
      scavenge: () => {
        if (opts.failing === 'collection') throw new Error('no gc');
        p.collections++;
        p.dead = 0;
      },
      collectFull: () => {
        p.fulls++;
        p.dead = 0;
        p.promoted = 0;
      },
      onError: (err) => p.errors.push(err.message),
    },
    { checkEveryBytes: 4 * MiB, slackBytes: 16 * MiB },
  );
  /** The most Buffer memory seen dead at once (young or promoted). */
  let deadPeak = 0;
  const stream = (mib: number, live = 0, promoted = 0): void => {
    for (let i = 0; i < mib; i++) {
      p.dead += MiB - promoted;
      p.promoted += promoted;
      p.live += live;
      deadPeak = Math.max(deadPeak, p.dead + p.promoted);
      pacer.note(MiB);
    }
  };
  return { p, pacer, stream, deadPeak: () => deadPeak };
}

describe('young-generation collections paced by streamed body bytes', () => {
  it('look every 4 MiB; collect once the dead Buffers stand 16 MiB above the floor, and never let them pile up', () => {
    const { p, pacer, stream } = streamingProcess();
    stream(3);
    expect(p.looks).toBe(0);
    stream(1024);
    expect(p.looks).toBe(256);
    // The first look sets the floor at 4 MiB; 16 MiB above it is 20 MiB, then every 20 MiB after a collection.
    expect(p.collections).toBeGreaterThanOrEqual(45);
    expect(p.collections).toBeLessThanOrEqual(52);
    expect(pacer.started).toBe(p.collections);
    expect(p.dead).toBeLessThanOrEqual(24 * MiB);
  });

  it('no collection for small bodies, whose Buffers V8’s own collections free: a look every thousand', () => {
    const { p, pacer } = streamingProcess();
    for (let i = 1; i <= 100_000; i++) {
      p.dead += 4096;
      pacer.note(4096);
      // The JavaScript objects of each request fill the young generation: V8 collects every 1,000 or so.
      if (i % 1000 === 0) p.dead = 0;
    }
    expect(p.looks).toBe(97);
    expect(p.collections).toBe(0);
  });

  it('a look or a collection that fails stops the pacer for good, once reported, and never throws into the stream', () => {
    for (const failing of ['look', 'collection'] as const) {
      const { p, stream } = streamingProcess({ failing });
      expect(() => stream(256)).not.toThrow();
      expect(p.errors).toEqual([failing === 'look' ? 'no /proc' : 'no gc']);
      expect(p.looks).toBe(failing === 'look' ? 1 : 5);
      expect(p.collections).toBe(0);
    }
  });

  it('Buffers that live on raise the floor: a collection that frees nothing is not repeated at every look', () => {
    const { p, stream } = streamingProcess();
    // Each MiB streamed leaves another MiB live (a reader slower than the writer): half of the growth stays.
    stream(256, MiB);
    // Memory grows 8 MiB a look: the look after a collection sets the floor again and the second one after
    // it is 16 MiB above, so one collection every third look (21). A floor kept from before would start one
    // at nearly every look (64).
    expect(p.collections).toBeGreaterThan(0);
    expect(p.collections + p.fulls).toBeLessThanOrEqual(22);
    // Buffers that live on cost a full collection per 16 MiB they grow at most: 256 MiB, 16 at most.
    expect(p.fulls).toBeLessThanOrEqual(16);
  });

  it('dead Buffers only a full collection frees (held across collections, then dropped) start one once they raise the floor 16 MiB', () => {
    const { p, pacer, stream, deadPeak } = streamingProcess();
    // A quarter of each MiB streamed dies in the old generation (a paced copy's chunks): scavenges free the rest.
    stream(1024, 0, MiB / 4);
    expect(p.fulls).toBeGreaterThan(0);
    expect(pacer.startedFull).toBe(p.fulls);
    expect(p.collections).toBeGreaterThan(p.fulls); // most collections stay young-generation ones
    // 256 MiB of dead Buffers would pile up without full collections.
    expect(deadPeak()).toBeLessThanOrEqual(48 * MiB);
  });

  it('the mark for full collections is the lowest seen since the last one: Buffers that lived at its first look and went do not raise it', () => {
    const { p, stream, deadPeak } = streamingProcess();
    p.live = 24 * MiB; // a queue full at the first look...
    stream(8, 0, MiB / 4);
    p.live = 0; // ...that drained
    stream(1024, 0, MiB / 4);
    expect(p.fulls).toBeGreaterThan(0);
    expect(deadPeak()).toBeLessThanOrEqual(48 * MiB);
  });

  it('without such garbage no full collection: dead Buffers all young', () => {
    const { p, stream } = streamingProcess();
    stream(1024);
    expect(p.fulls).toBe(0);
  });

  it('the relay counts every byte of a body it streams to the app, for whoever listens', async () => {
    let counted = 0;
    onBodyBytes((n) => (counted += n));
    try {
      const body = Readable.from([Buffer.alloc(1000), Buffer.alloc(24), Buffer.alloc(64 * 1024)]);
      const app = new PassThrough();
      app.resume();
      await relayBody(body, app);
    } finally {
      onBodyBytes(undefined);
    }
    expect(counted).toBe(1000 + 24 + 64 * 1024);
  });

  it('a real young-generation collection frees dead Buffers V8 had not collected yet', () => {
    // In a child: exposing gc is process-wide, and a jest worker's next test file would find gc on its global.
    const source = fs.readFileSync(path.join(__dirname, '../../src/memory/garbage-collection.ts'), 'utf8');
    const compiled = ts.transpileModule(source, {
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
      },
    }).outputText;
    const driver = `
      const module = { exports: {} }; const exports = module.exports;
      ${compiled}
      const minor = module.exports.scavenge;
      minor();
      const before = process.memoryUsage().arrayBuffers;
      for (let i = 0; i < 256; i++) Buffer.allocUnsafeSlow(64 * 1024).fill(1);
      const grown = process.memoryUsage().arrayBuffers;
      minor();
      // V8 frees the backing stores on a background thread; the next collection waits for that.
      setImmediate(() => {
        minor();
        const after = process.memoryUsage().arrayBuffers;
        console.log(JSON.stringify({ before, grown, after, globalGc: typeof globalThis.gc }));
      });
    `;
    const child = spawnSync(process.execPath, ['--max-semi-space-size=2', '-e', driver], {
      encoding: 'utf8',
    });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    const m = JSON.parse(child.stdout) as { before: number; grown: number; after: number; globalGc: string };
    expect(m.grown - m.before).toBeGreaterThanOrEqual(15 * MiB);
    expect(m.after).toBeLessThan(m.grown - 12 * MiB);
    expect(m.globalGc).toBe('undefined');
  });
});
