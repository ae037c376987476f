import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import {
  chooseStateDir,
  IMAGE_STATE_DIR,
  lockStateDir,
  type ProcessTable,
  StateDirError,
} from '../../src/tracking/state-dir';

const probe = (writable: string[]) => ({ writable: (d: string) => writable.includes(d), tmpdir: '/tmp' });

describe('chooseStateDir', () => {
  test('an explicit STATE_DIR is used as given', () => {
    expect(chooseStateDir({ kind: 'path', path: '/data/s3m' }, 8080, probe([]))).toEqual({
      dir: '/data/s3m',
      source: 'STATE_DIR',
    });
  });
  test('STATE_DIR=off is the only way to run without a journal', () => {
    expect(chooseStateDir({ kind: 'off' }, 8080, probe([IMAGE_STATE_DIR]))).toEqual({
      dir: undefined,
      source: 'off',
    });
  });
  test("unset: the image's directory when writable (the webhook's emptyDir)", () => {
    expect(chooseStateDir({ kind: 'default' }, 8080, probe([IMAGE_STATE_DIR]))).toEqual({
      dir: IMAGE_STATE_DIR,
      source: 'default',
    });
  });
  test('unset, outside the image: one directory per listening port under the temp directory', () => {
    expect(chooseStateDir({ kind: 'default' }, 8080, probe([]))).toEqual({
      dir: '/tmp/k8s-s3-mirror-8080',
      source: 'default',
    });
    expect(chooseStateDir({ kind: 'default' }, 8081, probe([])).dir).toBe('/tmp/k8s-s3-mirror-8081');
  });
});

describe('lockStateDir', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-lock-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A process table where `live` pids run, each started at the tick given. */
  const table = (live: Record<number, string | undefined>): ProcessTable => ({
    alive: (pid) => pid in live || pid === process.pid,
    startTime: (pid) => (pid === process.pid ? '777' : live[pid]),
  });

  test('a directory locked by a live process is refused, naming that process', () => {
    fs.writeFileSync(path.join(dir, 'lock'), '4242 100\n');
    expect(() => lockStateDir(dir, table({ 4242: '100' }))).toThrow(StateDirError);
    expect(() => lockStateDir(dir, table({ 4242: '100' }))).toThrow(/in use by process 4242/);
  });

  test('a lock without a start time (or where none can be read) trusts the pid alone', () => {
    fs.writeFileSync(path.join(dir, 'lock'), '4242\n');
    expect(() => lockStateDir(dir, table({ 4242: '100' }))).toThrow(/in use by process 4242/);
    fs.writeFileSync(path.join(dir, 'lock'), '4242 100\n');
    expect(() => lockStateDir(dir, table({ 4242: undefined }))).toThrow(/in use by process 4242/);
  });

  test("a dead process's lock is taken over, holding this process's pid and start time, and released again", () => {
    fs.writeFileSync(path.join(dir, 'lock'), '4242 100\n');
    const release = lockStateDir(dir, table({}));
    expect(fs.readFileSync(path.join(dir, 'lock'), 'utf8')).toBe(`${process.pid} 777\n`);
    release();
    expect(fs.existsSync(path.join(dir, 'lock'))).toBe(false);
  });

  test("a lock whose pid now names another process (started later) is a dead holder's, taken over", () => {
    // A killed proxy's lock outlives it; the kernel may hand its pid to anything afterwards.
    fs.writeFileSync(path.join(dir, 'lock'), '4242 100\n');
    const release = lockStateDir(dir, table({ 4242: '5000' }));
    release();
  });

  test('a lock with this very pid (PID 1 of a restarted container) is a predecessor, taken over', () => {
    fs.writeFileSync(path.join(dir, 'lock'), `${process.pid}\n`);
    const release = lockStateDir(dir, table({}));
    release();
  });

  test('on Linux the real process table knows this process and its start time', () => {
    const release = lockStateDir(dir);
    const [pid, started] = fs.readFileSync(path.join(dir, 'lock'), 'utf8').trim().split(' ');
    expect(pid).toBe(String(process.pid));
    if (process.platform === 'linux') expect(started).toMatch(/^\d+$/);
    release();
  });

  test('two trackers of one process cannot share a directory', () => {
    const release = lockStateDir(dir);
    expect(() => lockStateDir(dir)).toThrow(/another tracker of this process/);
    release();
    lockStateDir(dir)();
  });
});
