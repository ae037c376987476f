import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

import { OpenResponses } from '../../src/http/open-responses';

describe('OpenResponses', () => {
  it('holds what was added until it is removed, and reuses freed slots', () => {
    const open = new OpenResponses<{ id: number }>();
    const a = { id: 1 };
    const b = { id: 2 };
    const slotA = open.add(a);
    const slotB = open.add(b);
    expect(open.size).toBe(2);

    open.remove(slotA, a);
    const seen: number[] = [];
    open.forEach((item) => seen.push(item.id));
    expect(seen).toEqual([2]);
    expect(open.size).toBe(1);

    const c = { id: 3 };
    expect(open.add(c)).toBe(slotA);
    // A late remove of the slot's former occupant leaves the new one in place.
    open.remove(slotA, a);
    open.remove(slotB, b);
    seen.length = 0;
    open.forEach((item) => seen.push(item.id));
    expect(seen).toEqual([3]);
    expect(open.size).toBe(1);
  });

  /**
   * The reason the class exists: responses that came and went must die young. A child Node runs a burst and
   * then 60,000 request-like graphs (about 4 KB each, 16 open at a time) through the class with V8's young
   * generation as the image sets it, and reports what each scavenge promoted (`--trace-gc-nvp`). With a Set
   * in its place nearly every graph is promoted (about 800 KB per scavenge against 5 KB, measured).
   */
  it('lets finished responses die in the young generation', () => {
    const source = fs.readFileSync(path.join(__dirname, '../../src/http/open-responses.ts'), 'utf8');
    const compiled = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const driver = `
      const module = { exports: {} }; const exports = module.exports;
      ${compiled}
      const open = new module.exports.OpenResponses();
      const graph = (i) => ({ i, parts: Array.from({ length: 40 }, (_, k) => ({ k, s: 'x'.repeat(16) + i })) });
      const live = [];
      // A burst first (4,000 open at once, all closed): a Set's table grows, reaches the old generation, and
      // is replaced as it empties, which is what lets the churn below keep its entries.
      const burst = Array.from({ length: 4000 }, (_, i) => graph(-i)).map((g) => ({ g, slot: open.add(g) }));
      for (const { g, slot } of burst) open.remove(slot, g);
      burst.length = 0;
      for (let i = 0; i < 60000; i++) {
        const g = graph(i);
        live.push({ g, slot: open.add(g) });
        if (live.length > 16) { const { g: done, slot } = live.shift(); open.remove(slot, done); }
      }
    `;
    const child = spawnSync(process.execPath, ['--max-semi-space-size=2', '--trace-gc-nvp', '-e', driver], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(child.status).toBe(0);
    const promoted = child.stdout
      .split('\n')
      .filter((line) => / gc=s /.test(line))
      .map((line) => Number(/ promoted=(\d+)/.exec(line)?.[1]));
    // The burst and the load together run well over a hundred scavenges.
    expect(promoted.length).toBeGreaterThan(100);
    const load = promoted.slice(Math.floor(promoted.length / 2));
    const meanKb = load.reduce((sum, bytes) => sum + bytes, 0) / load.length / 1024;
    expect(meanKb).toBeLessThan(64);
  });
});
