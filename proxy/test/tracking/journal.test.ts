import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { WriteEvent } from '../../src/events';
import { WriteJournal, type JournalOptions } from '../../src/tracking/journal';
import { decodeJournalLine, encodeJournalLine, segmentFileName } from '../../src/tracking/journal-codec';

const dirs: string[] = [];
const journals: WriteJournal[] = [];

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'journal-test-'));
  dirs.push(d);
  return d;
}

function open(dir: string, opts: Partial<JournalOptions> = {}): WriteJournal {
  const j = WriteJournal.open({ dir, maxBytes: 1 << 20, segmentBytes: 4096, syncIntervalMs: 0, ...opts });
  journals.push(j);
  return j;
}

afterEach(async () => {
  await Promise.all(journals.splice(0).map((j) => j.close()));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const ev = (key: string, extra: Partial<WriteEvent> = {}): WriteEvent => ({
  bucket: 'b',
  key,
  kind: 'put',
  operation: 'PutObject',
  acknowledgedAt: new Date(1_700_000_000_000),
  ...extra,
});

const files = (dir: string): string[] => fs.readdirSync(dir).sort();
const bytesOnDisk = (dir: string): number =>
  files(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);

describe('journal codec', () => {
  test('round-trips every field, including keys with newlines, quotes and unicode', () => {
    const event = ev('a\nb"c\\d/ü/🙂\u0000', {
      kind: 'delete',
      operation: 'DeleteObjects',
      versionId: 'v1',
      etag: '"abc"',
      size: 42,
      contentType: 'text/plain',
      checksums: { CRC32: 'AAAAAA==' },
    });
    const line = encodeJournalLine(event);
    expect(line.indexOf(0x0a)).toBe(line.length - 1);
    expect(decodeJournalLine(line.subarray(0, -1).toString('utf8'))).toEqual(event);
  });

  test.each([
    ['torn JSON', '{"v":1,"b":"b","k":"x","t":"put","o":"PutObject","a":17'],
    ['zeros left by a crash', '\u0000\u0000\u0000'],
    ['unknown format version', '{"v":2,"b":"b","k":"x","t":"put","o":"P","a":1}'],
    ['empty bucket', '{"v":1,"b":"","k":"x","t":"put","o":"P","a":1}'],
    ['bad kind', '{"v":1,"b":"b","k":"x","t":"copy","o":"P","a":1}'],
    ['non-numeric time', '{"v":1,"b":"b","k":"x","t":"put","o":"P","a":"now"}'],
    ['not an object', '42'],
  ])('rejects %s', (_name, text) => {
    expect(decodeJournalLine(text)).toBeUndefined();
  });
});

describe('write-ahead journal', () => {
  test('an entry handed to memory is removed from disk once done (active segment emptied in place)', () => {
    const dir = tempDir();
    const j = open(dir);
    const a = j.append(ev('a'), true);
    const b = j.append(ev('b'), true);
    expect(a.status).toBe('memory');
    expect(bytesOnDisk(dir)).toBeGreaterThan(0);
    if (a.status !== 'memory' || b.status !== 'memory') throw new Error('unexpected');
    j.done(a.ticket);
    expect(bytesOnDisk(dir)).toBeGreaterThan(0);
    j.done(b.ticket);
    expect(bytesOnDisk(dir)).toBe(0);
    expect(j.stats()).toMatchObject({ bytes: 0, inMemory: 0, backlog: false });
    // The emptied segment keeps taking appends.
    expect(j.append(ev('c'), true).status).toBe('memory');
    expect(bytesOnDisk(dir)).toBe(encodeJournalLine(ev('c')).length);
  });

  test('a new process replays every entry a killed one had not marked done, in order', () => {
    const dir = tempDir();
    const first = WriteJournal.open({ dir, maxBytes: 1 << 20, segmentBytes: 300, syncIntervalMs: 0 });
    const tickets = [];
    for (let i = 0; i < 20; i++) {
      const r = first.append(ev(`k${i}`), true);
      if (r.status === 'memory') tickets.push(r.ticket);
    }
    expect(files(dir).length).toBeGreaterThan(2); // rotated by size
    for (const t of tickets.slice(0, 5)) first.done(t); // recorded in Postgres before the "kill"
    // No close(): a SIGKILL leaves the files as they are.
    const second = open(dir);
    expect(second.hasBacklog()).toBe(true);
    const replayed = second.readBacklog(1000).map((r) => r.event.key);
    // Entries of segments fully done are gone; the rest come back in order (a few done ones may repeat:
    // replay is idempotent).
    expect(replayed).toEqual(expect.arrayContaining(Array.from({ length: 15 }, (_, i) => `k${i + 5}`)));
    expect(replayed).toEqual([...replayed].sort((x, y) => Number(x.slice(1)) - Number(y.slice(1))));
    expect(second.hasBacklog()).toBe(false);
  });

  test('old segments are deleted once every replayed entry is done', () => {
    const dir = tempDir();
    const first = WriteJournal.open({ dir, maxBytes: 1 << 20, segmentBytes: 200, syncIntervalMs: 0 });
    for (let i = 0; i < 10; i++) first.append(ev(`k${i}`), true);
    const second = open(dir, { segmentBytes: 200 });
    const items = second.readBacklog(1000);
    expect(items).toHaveLength(10);
    for (const item of items) second.done(item.ticket);
    expect(bytesOnDisk(dir)).toBe(0);
    expect(second.stats()).toMatchObject({ bytes: 0, segments: 1, backlog: false });
  });

  test('when memory is full, entries stay on disk only and later entries queue behind them (order kept)', () => {
    const dir = tempDir();
    const j = open(dir);
    expect(j.append(ev('in-memory'), true).status).toBe('memory');
    expect(j.append(ev('spilled-1'), false).status).toBe('backlog');
    // Memory has room again, but a backlog exists: this one waits its turn on disk.
    expect(j.append(ev('spilled-2'), true).status).toBe('backlog');
    expect(j.readBacklog(1).map((r) => r.event.key)).toEqual(['spilled-1']);
    expect(j.hasBacklog()).toBe(true);
    expect(j.readBacklog(10).map((r) => r.event.key)).toEqual(['spilled-2']);
    // Caught up: memory takes new entries directly again.
    expect(j.readBacklog(10)).toEqual([]);
    expect(j.hasBacklog()).toBe(false);
    expect(j.append(ev('direct'), true).status).toBe('memory');
  });

  test('bounded: beyond maxBytes append refuses with "full", and accepts again once entries are done', () => {
    const dir = tempDir();
    const line = encodeJournalLine(ev('k0')).length;
    const j = open(dir, { maxBytes: line * 3 });
    const r = [j.append(ev('k0'), true), j.append(ev('k1'), true), j.append(ev('k2'), true)];
    expect(r.map((x) => x.status)).toEqual(['memory', 'memory', 'memory']);
    expect(j.append(ev('k3'), true).status).toBe('full');
    expect(bytesOnDisk(dir)).toBe(line * 3);
    for (const x of r) if (x.status === 'memory') j.done(x.ticket);
    expect(j.append(ev('k4'), true).status).toBe('memory');
  });

  test('a torn last line of a previous run is skipped and counted; the lines before it replay', () => {
    const dir = tempDir();
    const good = Buffer.concat([encodeJournalLine(ev('a')), encodeJournalLine(ev('b'))]);
    fs.writeFileSync(
      path.join(dir, segmentFileName(7)),
      Buffer.concat([good, Buffer.from('{"v":1,"b":"b","k')]),
    );
    fs.writeFileSync(path.join(dir, segmentFileName(8)), Buffer.alloc(64)); // zeros after a node crash
    const j = open(dir);
    const items = j.readBacklog(100);
    expect(items.map((i) => i.event.key)).toEqual(['a', 'b']);
    expect(j.stats().damagedLines).toBe(2);
    for (const i of items) j.done(i.ticket);
    expect(files(dir)).toEqual([segmentFileName(9)]);
  });

  test('a segment removed by hand is skipped; the others still replay', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, segmentFileName(1)), encodeJournalLine(ev('one')));
    fs.writeFileSync(path.join(dir, segmentFileName(2)), encodeJournalLine(ev('two')));
    fs.writeFileSync(path.join(dir, segmentFileName(3)), encodeJournalLine(ev('three')));
    const j = open(dir);
    fs.rmSync(path.join(dir, segmentFileName(2)));
    expect(j.readBacklog(10).map((i) => i.event.key)).toEqual(['one', 'three']);
    expect(j.hasBacklog()).toBe(false);
  });

  test('close keeps unfinished entries for the next start and removes an empty active segment', async () => {
    const dir = tempDir();
    const j = WriteJournal.open({ dir, maxBytes: 1 << 20, segmentBytes: 4096, syncIntervalMs: 10 });
    const r = j.append(ev('kept'), true);
    expect(r.status).toBe('memory');
    await j.sync();
    await j.close();
    const again = open(dir);
    expect(again.readBacklog(10).map((x) => x.event.key)).toEqual(['kept']);
    const empty = tempDir();
    await WriteJournal.open({ dir: empty, maxBytes: 1024, segmentBytes: 512, syncIntervalMs: 0 }).close();
    expect(files(empty)).toEqual([]);
  });

  test('syncs in the background after a change, and an idle journal wakes nothing', async () => {
    const synced: number[] = [];
    const j = open(tempDir(), {
      syncIntervalMs: 5,
      fsOps: { fdatasync: (fd, callback) => (synced.push(fd), fs.fdatasync(fd, callback)) },
    });
    const syncs = jest.spyOn(j, 'sync');
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // The new segment's directory entry is synced once, then nothing is left to sync.
    while (syncs.mock.calls.length === 0) await sleep(5);
    await sleep(100);
    expect(syncs).toHaveBeenCalledTimes(1);
    expect(synced).toEqual([]);
    // An append is made durable without anyone calling sync(), and then the journal is idle again.
    expect(j.append(ev('one'), true).status).toBe('memory');
    while (synced.length === 0) await sleep(5);
    await sleep(100);
    expect(syncs).toHaveBeenCalledTimes(2);
    expect(synced).toHaveLength(1);
  });

  test('an unwritable directory fails at open, not on the request path', () => {
    const dir = tempDir();
    const file = path.join(dir, 'not-a-dir');
    fs.writeFileSync(file, 'x');
    expect(() =>
      WriteJournal.open({ dir: file, maxBytes: 1024, segmentBytes: 512, syncIntervalMs: 0 }),
    ).toThrow();
  });
});

describe('journal sync failures', () => {
  /** fdatasync that fails while `failing` is set, and records which fds it was asked to sync. */
  function flakySync() {
    const calls: number[] = [];
    const state = { failing: false };
    const fdatasync = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void => {
      calls.push(fd);
      if (state.failing) return cb(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
      fs.fdatasync(fd, cb);
    };
    return { calls, state, fdatasync };
  }

  test('a failed fdatasync of the active segment is retried by the next sync', async () => {
    const flaky = flakySync();
    const errors: Error[] = [];
    const j = open(tempDir(), { fsOps: { fdatasync: flaky.fdatasync }, onSyncError: (e) => errors.push(e) });
    expect(j.append(ev('k'), true).status).toBe('memory');
    flaky.state.failing = true;
    await j.sync();
    expect(errors.map((e) => e.message)).toEqual(['EIO: i/o error, fdatasync']);
    expect(flaky.calls).toHaveLength(1);
    flaky.state.failing = false;
    await j.sync();
    expect(flaky.calls).toEqual([flaky.calls[0], flaky.calls[0]]); // the same fd, again
    await j.sync();
    expect(flaky.calls).toHaveLength(2); // synced now: nothing left to do
    expect(errors).toHaveLength(1);
  });

  test('a rotated segment whose fdatasync failed is synced again before its fd is closed', async () => {
    const flaky = flakySync();
    const errors: Error[] = [];
    const line = encodeJournalLine(ev('k1'));
    const j = open(tempDir(), {
      segmentBytes: line.length + 1,
      fsOps: { fdatasync: flaky.fdatasync },
      onSyncError: (e) => errors.push(e),
    });
    j.append(ev('k1'), true);
    j.append(ev('k2'), true); // rotates: the first segment's fd retires
    flaky.state.failing = true;
    await j.sync();
    const failed = [...flaky.calls];
    expect(failed).toHaveLength(2); // the retired segment and the active one
    expect(errors).toHaveLength(2);
    flaky.state.failing = false;
    await j.sync();
    expect(flaky.calls.slice(2).sort()).toEqual(failed.sort());
  });
});
