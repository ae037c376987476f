import { execFile, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { killOnExit, startWatchdog, tail, type Watchdog } from './cleanup';
import { freePorts } from './free-port';
import { httpStatus, PollAborted, pollUntil } from './wait';

/**
 * A one-OSD, in-memory (memstore) Ceph cluster on loopback with two RADOS gateways on the same cluster:
 * "main" and "mirror". Bring-up follows /work/shared/notes/ceph-rgw-on-loopback.md (see DEVELOPERS.md).
 * Users: `main` (no tenant) and `mirror$mirror` (tenant `mirror`), so buckets of the same name never collide.
 * Either user may talk to either gateway; tests use the "mirror" gateway for the mirror user so that the
 * mirror can be taken down alone (stopMirrorGateway/startMirrorGateway).
 */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface CephCluster {
  /** http://127.0.0.1:PORT of the "main" gateway. */
  mainEndpoint: string;
  /** http://127.0.0.1:PORT of the "mirror" gateway. */
  mirrorEndpoint: string;
  /** SigV4 region RGW accepts (the default zonegroup accepts any; us-east-1 is conventional). */
  region: string;
  main: S3Credentials;
  mirror: S3Credentials;
  /** Tenant of the mirror user (`mirror`). */
  mirrorTenant: string;
  /** Temp dir holding conf, logs, pid files. */
  dir: string;
  /** Its ceph.conf, for `radosgw-admin -c`. */
  conf: string;
  /** How long startCeph() took, in ms. */
  bringUpMs: number;
  /** Kills the mirror gateway and waits for it to exit (its port then refuses connections). */
  stopMirrorGateway(): Promise<void>;
  /** Starts the mirror gateway again on the same port and waits until it answers HTTP. */
  startMirrorGateway(): Promise<void>;
  /** Kills every daemon and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartCephOptions {
  /** memstore capacity in bytes (memory is used only as objects are written). Default 2 GiB. */
  memstoreBytes?: number;
  /** Bring-up guard per step; default 120 s. */
  timeoutMs?: number;
  /** Progress lines, e.g. console.log. */
  log?: (line: string) => void;
}

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`.trim()));
      else resolve(stdout);
    });
  });
}

const randomKey = (len: number, alphabet: string): string => {
  const bytes = crypto.randomBytes(len);
  let out = '';
  for (let i = 0; i < len; i++) out += alphabet[bytes[i]! % alphabet.length];
  return out;
};
const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const newCredentials = (): S3Credentials => ({
  accessKeyId: randomKey(20, UPPER_ALNUM),
  secretAccessKey: randomKey(40, ALNUM),
});

/**
 * Starts a one-OSD cluster with a main and a mirror gateway. Retried once on fresh ports: free ports are
 * only free when probed, and on a shared machine another cluster's client has been seen to reach this mon.
 */
export async function startCeph(opts: StartCephOptions = {}): Promise<CephCluster> {
  try {
    return await startCephOnce(opts);
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    process.stderr.write(`[ceph] bring-up failed, retrying once on fresh ports: ${first}\n`);
    return startCephOnce(opts);
  }
}

async function startCephOnce(opts: StartCephOptions): Promise<CephCluster> {
  const started = Date.now();
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const log = opts.log ?? (() => undefined);
  for (const bin of ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph']) {
    if (!['/usr/bin', '/usr/local/bin', '/bin'].some((d) => fs.existsSync(path.join(d, bin)))) {
      throw new Error(`${bin} not found: install radosgw ceph-mon ceph-osd ceph-common (see .ci/run)`);
    }
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-ceph-'));
  for (const sub of ['run', 'log', 'mon.a', 'rgw']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  const watchdog: Watchdog = startWatchdog(`${dir}/run/*.pid`, dir);
  const conf = path.join(dir, 'ceph.conf');
  const [monPort, mainPort, mirrorPort] = (await freePorts(3)) as [number, number, number];
  const fsid = crypto.randomUUID();
  const cephArgs = ['-c', conf, '--connect-timeout', '30'];

  fs.writeFileSync(
    conf,
    [
      '[global]',
      `fsid = ${fsid}`,
      `mon host = v1:127.0.0.1:${monPort}`,
      'public network = 127.0.0.0/8',
      'ms bind ipv6 = false',
      'auth cluster required = none',
      'auth service required = none',
      'auth client required = none',
      'osd objectstore = memstore',
      `memstore device bytes = ${opts.memstoreBytes ?? 2 * 1024 * 1024 * 1024}`,
      'osd pool default size = 1',
      'osd pool default min size = 1',
      'mon allow pool size one = true',
      'osd crush chooseleaf type = 0',
      'osd pool default pg num = 8',
      'osd pool default pgp num = 8',
      'osd max object name len = 460',
      'osd max object namespace len = 64',
      // The OSD's own start-up mon commands are sent with a zero fsid here and rejected ("wrong fsid"),
      // which is fatal for the device-class update. The CRUSH location is set by hand below instead.
      'osd class update on start = false',
      'osd crush update on start = false',
      `mon data = ${dir}/$name`,
      `osd data = ${dir}/$name`,
      `run dir = ${dir}/run`,
      `log file = ${dir}/log/$name.log`,
      `admin socket = ${dir}/run/$name.asok`,
      `pid file = ${dir}/run/$name.pid`,
      `rgw data = ${dir}/rgw/$name`,
      // Two gateways share the cluster. With the metadata cache on, a write (e.g. CreateBucket) on one
      // gateway notifies the other's watch; after the mirror gateway is killed, its stale watch makes
      // such writes on main hang until the OSD expires it (~25 s measured). No cache, no notify.
      'rgw cache enabled = false',
      // Reclaim deleted and overwritten objects' data within seconds (default: after 2 hours), so big
      // test objects do not pile up in the memstore.
      'rgw gc obj min wait = 5',
      'rgw gc processor period = 5',
      'rgw gc processor max time = 5',
      // Pacific deletes a DeleteObjects request's keys in parallel coroutines (16 by default), and that
      // code crashes the gateway now and then (SIGSEGV in RGWDeleteMultiObj::handle_individual_object,
      // seen twice in one session's suite runs; ceph/ceph#49327's review reports the same). One at a time
      // takes that code out of the path; the answers are the same.
      'rgw multi obj del max aio = 1',
      '',
      '[client.rgw.main]',
      `rgw frontends = beast endpoint=127.0.0.1:${mainPort}`,
      'rgw dns name = localhost',
      '',
      '[client.rgw.mirror]',
      `rgw frontends = beast endpoint=127.0.0.1:${mirrorPort}`,
      'rgw dns name = localhost',
      '',
    ].join('\n'),
  );

  const children = new Map<string, ChildProcess>();
  const daemon = (name: string, cmd: string, args: string[]): ChildProcess => {
    const out = fs.openSync(path.join(dir, 'log', `${name}.out`), 'a');
    const child = spawn(cmd, [...args, '-f', '-c', conf], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    // Our own pid file for the watchdog: radosgw writes none in the foreground.
    if (child.pid) fs.writeFileSync(path.join(dir, 'run', `${name}.child.pid`), `${child.pid}\n`);
    child.on('error', () => undefined);
    // A daemon that dies mid-suite fails the tests after it with "connection refused" only; say which one
    // and why while its log still exists (the temp dir goes at teardown). stopChild() forgets it first.
    child.once('exit', (code, signal) => {
      if (children.get(name) !== child) return;
      process.stderr.write(
        `[harness] ${name} exited unexpectedly (code ${code}, signal ${signal})\n${logsTail([name])}\n`,
      );
    });
    killOnExit(child);
    children.set(name, child);
    return child;
  };
  const exitedEarly = (name: string): boolean => {
    const c = children.get(name);
    return !c || c.exitCode !== null || c.signalCode !== null;
  };
  const logsTail = (names = ['mon.a', 'osd.0', 'client.rgw.main', 'client.rgw.mirror']): string =>
    names
      .map(
        (n) =>
          `--- ${n}.log ---\n${tail(path.join(dir, 'log', `${n}.log`))}\n--- ${n}.out ---\n${tail(path.join(dir, 'log', `${n}.out`), 10)}`,
      )
      .join('\n');

  const stopChild = async (name: string): Promise<void> => {
    const child = children.get(name);
    if (!child) return;
    children.delete(name);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // SIGKILL: memstore keeps nothing worth saving, a gateway "crash" is the outage tests want, and
    // radosgw takes ~10 s to shut down on SIGTERM.
    child.kill('SIGKILL');
    await exited;
  };

  const waitGateway = async (name: string, port: number): Promise<void> => {
    await pollUntil(
      `${name} on 127.0.0.1:${port}`,
      async () => {
        if (exitedEarly(name)) throw new PollAborted(`${name} exited`);
        return (await httpStatus(`http://127.0.0.1:${port}/`)) > 0;
      },
      { timeoutMs, describe: logsTail },
    );
  };

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(['client.rgw.mirror', 'client.rgw.main'].map(stopChild));
    await stopChild('osd.0');
    await stopChild('mon.a');
    watchdog.disarm();
    fs.rmSync(dir, { recursive: true, force: true });
  };

  try {
    const step = (s: string): void => log(`ceph: ${s} (+${Date.now() - started} ms)`);
    const monmap = path.join(dir, 'monmap');
    await run('monmaptool', ['--create', '--add', 'a', `v1:127.0.0.1:${monPort}`, '--fsid', fsid, monmap]);
    await run('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', monmap, '-c', conf]);
    daemon('mon.a', 'ceph-mon', ['-i', 'a']);
    step('mon started');

    let osdId = '';
    await pollUntil(
      'ceph-mon to accept "osd create"',
      async () => {
        if (exitedEarly('mon.a')) throw new PollAborted('ceph-mon exited');
        osdId = (await run('ceph', [...cephArgs, 'osd', 'create'], 40_000)).trim();
        return /^\d+$/.test(osdId);
      },
      { timeoutMs, describe: logsTail },
    );
    step(`osd.${osdId} created`);
    if (osdId !== '0') throw new Error(`expected osd id 0, got ${osdId}`);
    fs.mkdirSync(path.join(dir, `osd.${osdId}`), { recursive: true });

    await Promise.all([
      run('ceph-osd', ['-i', osdId, '--mkfs', '-c', conf]),
      (async () => {
        await run('ceph', [...cephArgs, 'osd', 'crush', 'add-bucket', 'localhost', 'host']);
        await run('ceph', [...cephArgs, 'osd', 'crush', 'move', 'localhost', 'root=default']);
        await run('ceph', [...cephArgs, 'osd', 'crush', 'add', `osd.${osdId}`, '1.0', 'host=localhost']);
      })(),
    ]);
    daemon('osd.0', 'ceph-osd', ['-i', osdId]);
    step('osd started');

    daemon('client.rgw.main', 'radosgw', ['-n', 'client.rgw.main']);
    daemon('client.rgw.mirror', 'radosgw', ['-n', 'client.rgw.mirror']);
    await Promise.all([
      waitGateway('client.rgw.main', mainPort),
      waitGateway('client.rgw.mirror', mirrorPort),
    ]);
    step('gateways answer');

    const main = newCredentials();
    const mirror = newCredentials();
    const admin = ['-c', conf, 'user', 'create'];
    await Promise.all([
      run('radosgw-admin', [
        ...admin,
        '--uid',
        'main',
        '--display-name',
        'main',
        '--access-key',
        main.accessKeyId,
        '--secret',
        main.secretAccessKey,
      ]),
      run('radosgw-admin', [
        ...admin,
        '--tenant',
        'mirror',
        '--uid',
        'mirror',
        '--display-name',
        'mirror',
        '--access-key',
        mirror.accessKeyId,
        '--secret',
        mirror.secretAccessKey,
      ]),
    ]);
    step('users created');

    return {
      mainEndpoint: `http://127.0.0.1:${mainPort}`,
      mirrorEndpoint: `http://127.0.0.1:${mirrorPort}`,
      region: 'us-east-1',
      main,
      mirror,
      mirrorTenant: 'mirror',
      dir,
      conf,
      bringUpMs: Date.now() - started,
      stopMirrorGateway: () => stopChild('client.rgw.mirror'),
      async startMirrorGateway() {
        if (stopped) throw new Error('cluster is stopped');
        if (!exitedEarly('client.rgw.mirror')) return;
        daemon('client.rgw.mirror', 'radosgw', ['-n', 'client.rgw.mirror']);
        await waitGateway('client.rgw.mirror', mirrorPort);
      },
      stop,
    };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const logs = logsTail();
    await stop().catch(() => undefined);
    throw new Error(`Ceph bring-up failed: ${message}\n${message.includes('--- mon.a.log') ? '' : logs}`, {
      cause: err,
    });
  }
}
