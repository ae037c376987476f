/**
 * Static checks of Dockerfile.proxy and Dockerfile.webhook (there is no Docker engine here): every file the
 * build copies exists and is not excluded by .dockerignore, the entrypoint is what the workspace's package
 * names (the webhook's `main`, built by `tsc -b`; the proxy's `bin`, its bundle of that main), the runtime
 * stage has only production dependencies of that workspace, the user is numeric and non-root and matches
 * the injected securityContext, and EXPOSE matches the code's ports.
 */
import { IMAGE_STATE_DIR } from '../../../proxy/src/tracking/state-dir';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { loadConfig } from '../../../proxy/src/config';
import { PROXY_IMAGE_ENV, PROXY_IMAGE_NODE_ARGS } from '../../../test/harness/proxy';
import { CONFIG_KEYS, DEFAULT_METRICS_PORT, DEFAULT_WEBHOOK_PORT } from '../../src/config';
import { buildProxyContainer } from '../../src/sidecar-container';
import {
  dockerIgnored,
  envOf,
  parseCopy,
  parseDockerfile,
  readDockerfile,
  readDockerignore,
  workdirAt,
  type Dockerfile,
  type Stage,
} from './dockerfile';

const ROOT = join(__dirname, '..', '..', '..');
const ignore = readDockerignore(join(ROOT, '.dockerignore'));
const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  workspaces: string[];
  engines: { node: string };
};
/** The Node.js major the images ship, the suite runs on (test/install-node.sh) and `engines` requires. */
const NODE_MAJOR = readFileSync(join(ROOT, '.nvmrc'), 'utf8').trim().replace(/^v/, '');

interface Workspace {
  dir: 'proxy' | 'webhook';
  name: string;
  main: string;
  /** What runs it: the package's `bin` if it has one (the proxy's bundle), else its main. */
  entry: string;
  rootDir: string;
  outDir: string;
}

function workspace(dir: 'proxy' | 'webhook'): Workspace {
  const pkg = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as {
    name: string;
    main: string;
    bin?: Record<string, string>;
  };
  const ts = JSON.parse(readFileSync(join(ROOT, dir, 'tsconfig.json'), 'utf8')) as {
    compilerOptions: { rootDir: string; outDir: string };
  };
  const entry = Object.values(pkg.bin ?? {})[0] ?? pkg.main;
  return { dir, name: pkg.name, main: pkg.main, entry, ...ts.compilerOptions };
}

function stageByRef(df: Dockerfile, ref: string, before: number): Stage | undefined {
  return df.stages.slice(0, before).find((s) => s.name === ref || String(s.index) === ref);
}

/**
 * Whether `path` exists in `stage` after its first `upTo` instructions, traced back through COPY (build
 * context or other stages), `npx tsc -b <ws>` (dist/*.js from src/*.ts) and stage bases.
 */
function produced(df: Dockerfile, ws: Workspace, stage: Stage, path: string, upTo?: number): boolean {
  const end = upTo ?? stage.instructions.length;
  for (let i = end - 1; i >= 0; i--) {
    const ins = stage.instructions[i]!;
    const wd = workdirAt(stage, i);
    if (ins.keyword === 'COPY') {
      const c = parseCopy(ins);
      const from = c.from === undefined ? undefined : stageByRef(df, c.from, stage.index);
      if (c.from !== undefined && !from) throw new Error(`line ${c.line}: unknown stage ${c.from}`);
      for (const src of c.sources) {
        const destDir = c.dest.endsWith('/') || c.sources.length > 1;
        const target = posix.resolve(wd, destDir ? posix.join(c.dest, posix.basename(src)) : c.dest);
        if (path !== target && !path.startsWith(target + '/')) continue;
        const rest = path.slice(target.length);
        if (from) return produced(df, ws, from, posix.resolve('/', src) + rest);
        const rel = posix.normalize(src + rest);
        return existsSync(join(ROOT, rel)) && !dockerIgnored(ignore, rel);
      }
    }
    if (ins.keyword === 'RUN') {
      // proxy/native/build.mjs compiles the malloc_trim addon into the workspace's outDir.
      const addon = /node (\S+)\/native\/build\.mjs/.exec(ins.args)?.[1];
      if (addon === ws.dir && path === posix.join(wd, ws.dir, ws.outDir, 'native', 'malloc-trim.node')) {
        return ['build.mjs', 'malloc-trim.c'].every((f) =>
          produced(df, ws, stage, posix.join(wd, ws.dir, 'native', f), i),
        );
      }
      // proxy/bundle.mjs bundles the compiled main into the outDir's bundle/ folder.
      const bundled = /node (\S+)\/bundle\.mjs/.exec(ins.args)?.[1];
      if (bundled === ws.dir && path === posix.join(wd, ws.dir, ws.outDir, 'bundle', 'main.js')) {
        return (
          produced(df, ws, stage, posix.join(wd, ws.dir, 'bundle.mjs'), i) &&
          produced(df, ws, stage, posix.join(wd, ws.dir, ws.main), i)
        );
      }
      const m = /npx tsc -b (\S+)/.exec(ins.args);
      const out = posix.join(wd, m?.[1] ?? '', ws.outDir) + '/';
      if (m && m[1] === ws.dir && path.startsWith(out) && path.endsWith('.js')) {
        const src = posix.join(wd, ws.dir, ws.rootDir, path.slice(out.length).replace(/\.js$/, '.ts'));
        return (
          produced(df, ws, stage, src, i) &&
          produced(df, ws, stage, posix.join(wd, ws.dir, 'tsconfig.json'), i)
        );
      }
    }
  }
  const base = stageByRef(df, stage.base, stage.index);
  return base ? produced(df, ws, base, path) : false;
}

/** The stage that provides `path` in the final stage (through one COPY --from). */
function providerOf(df: Dockerfile, stage: Stage, path: string): Stage | undefined {
  for (const ins of [...stage.instructions].reverse()) {
    if (ins.keyword !== 'COPY') continue;
    const c = parseCopy(ins);
    const target = posix.resolve(workdirAt(stage), c.dest);
    if (c.from && (path === target || path.startsWith(target + '/')))
      return stageByRef(df, c.from, stage.index);
  }
  return undefined;
}

function proxyPorts(): { listen: number; admin: number } {
  const c = loadConfig({
    MAIN_ACCESS_KEY: 'a',
    MAIN_SECRET_KEY: 'b',
    MIRROR_S3_ENDPOINT: 'http://mirror.example:9000',
    MIRROR_ACCESS_KEY: 'c',
    MIRROR_SECRET_KEY: 'd',
    POSTGRES_URL: 'postgres://u:p@db/x',
  });
  return { listen: c.listen.port, admin: c.admin.port };
}

const cases: { dir: 'proxy' | 'webhook'; ports: number[] }[] = [
  { dir: 'proxy', ports: [proxyPorts().listen, proxyPorts().admin] },
  { dir: 'webhook', ports: [DEFAULT_WEBHOOK_PORT, DEFAULT_METRICS_PORT] },
];

describe('the Node.js version', () => {
  test('.nvmrc names one major version', () => {
    expect(NODE_MAJOR).toMatch(/^\d+$/);
  });

  test.each(['.', 'proxy', 'webhook'])('%s/package.json requires it in engines', (dir) => {
    const pkg = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as typeof rootPkg;
    expect(pkg.engines.node).toBe(`>=${NODE_MAJOR}`);
  });
});

describe.each(cases)('Dockerfile.$dir', ({ dir, ports }) => {
  const ws = workspace(dir);
  const df = readDockerfile(join(ROOT, `Dockerfile.${dir}`));
  const final = df.stages[df.stages.length - 1]!;
  const entry = final.instructions.filter((i) => i.keyword === 'ENTRYPOINT');
  const runs = (s: Stage) => s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);

  test(`multi-stage, built on node:${NODE_MAJOR} slim of the runtime's Debian release, with a distroless node ${NODE_MAJOR} runtime without a shell`, () => {
    expect(df.stages.length).toBeGreaterThanOrEqual(2);
    expect(final.base).toMatch(new RegExp(`^gcr\\.io/distroless/nodejs${NODE_MAJOR}-debian1\\d(:nonroot)?$`));
    // What the build compiles (the proxy's malloc_trim addon) links against the runtime's glibc.
    const debian = /-debian(\d+)/.exec(final.base)![1]!;
    const release = { '12': 'bookworm', '13': 'trixie' }[debian];
    for (const s of df.stages.slice(0, -1)) expect(s.base).toBe(`node:${NODE_MAJOR}-${release}-slim`);
    // Distroless has no shell: a RUN in the final stage could not work, and none is needed.
    expect(runs(final)).toEqual([]);
  });

  test('builds with npm ci from the lockfile and tsc -b of the workspace', () => {
    const build = df.stages.find((s) => runs(s).some((r) => r.includes(`npx tsc -b ${dir}`)));
    expect(build).toBeDefined();
    expect(runs(build!).some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    const wd = workdirAt(build!);
    // npm ci needs the lockfile and every workspace manifest; tsc needs the base config.
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.base.json']) {
      expect(produced(df, ws, build!, posix.join(wd, f))).toBe(true);
    }
    for (const w of rootPkg.workspaces) {
      expect(produced(df, ws, build!, posix.join(wd, w, 'package.json'))).toBe(true);
    }
  });

  test('ENTRYPOINT runs node directly (PID 1) on the built main of the workspace', () => {
    expect(entry).toHaveLength(1);
    const argv = JSON.parse(entry[0]!.args) as string[]; // exec form, or JSON.parse throws
    expect(posix.basename(argv[0]!)).toBe('node');
    // The proxy's V8 flags are the ones the tests and the bench run it with; the webhook has none.
    expect(argv.slice(1, -1)).toEqual(dir === 'proxy' ? PROXY_IMAGE_NODE_ARGS : []);
    // The workspace's package.json main, under its tsconfig outDir, built from rootDir; the image runs what
    // the package's bin names (the tests run that too): the proxy's bundle of that main, the webhook's main.
    expect(ws.main).toBe(posix.join(ws.outDir, 'main.js'));
    expect(ws.entry).toBe(dir === 'proxy' ? posix.join(ws.outDir, 'bundle', 'main.js') : ws.main);
    expect(existsSync(join(ROOT, dir, ws.rootDir, 'main.ts'))).toBe(true);
    const wd = workdirAt(final);
    const main = argv[argv.length - 1]!;
    expect(main).toBe(posix.join(wd, dir, ws.entry));
    expect(produced(df, ws, final, main)).toBe(true);
    expect(produced(df, ws, final, posix.join(wd, dir, 'package.json'))).toBe(true);
    expect(final.instructions.some((i) => i.keyword === 'CMD')).toBe(false);
  });

  test('node is on PATH in the runtime image (the classic-mode postStart hook runs `node -e`)', () => {
    const argv = JSON.parse(entry[0]!.args) as string[];
    const path = envOf(final).PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
    expect(path.split(':')).toContain(posix.dirname(argv[0]!));
    if (dir === 'proxy') {
      const container = buildProxyContainer({
        image: 'x',
        imagePullPolicy: 'IfNotPresent',
        port: 8080,
        adminPort: 9090,
        logLevel: 'info',
        allowedBuckets: '',
        resources: { cpuRequest: '', cpuLimit: '', memoryRequest: '', memoryLimit: '' },
        runAsUser: 65532,
        stateSizeLimit: '',
        mainEndpoint: 'http://a',
        mainRegion: 'r',
        mirrorEndpoint: 'http://b',
        mirrorRegion: 'r',
        credentialsSecretName: 's',
        credentialsMode: 'secret',
        mirrorRoleArn: '',
        mirrorBucketTemplate: '',
        deletePolicy: '',
        mode: 'classic',
      }) as { lifecycle?: { postStart?: { exec?: { command?: string[] } } } };
      expect(container.lifecycle?.postStart?.exec?.command?.[0]).toBe(posix.basename(argv[0]!));
    }
  });

  if (dir === 'proxy') {
    test('bakes in the runtime memory settings the integration tests measure the proxy with', () => {
      expect(envOf(final)).toMatchObject(PROXY_IMAGE_ENV);
    });

    test('carries the malloc_trim addon, built where it is compiled or the build fails', () => {
      const build = df.stages.find((s) => runs(s).some((r) => r.includes('proxy/native/build.mjs')));
      expect(build).toBeDefined();
      expect(runs(build!).find((r) => r.includes('proxy/native/build.mjs'))).toContain('--required');
      expect(runs(build!).some((r) => /apt-get install\b.*\bgcc\b/.test(r))).toBe(true);
      const addon = posix.join(workdirAt(final), 'proxy', ws.outDir, 'native', 'malloc-trim.node');
      expect(produced(df, ws, final, addon)).toBe(true);
    });

    test(`node ${NODE_MAJOR} accepts the V8 flags of the ENTRYPOINT (a flag V8 dropped would stop the sidecar)`, () => {
      const run = (flags: readonly string[]) =>
        spawnSync(process.execPath, [...flags, '-e', ''], { encoding: 'utf8' });
      expect(process.versions.node.split('.')[0]).toBe(NODE_MAJOR);
      const accepted = run(PROXY_IMAGE_NODE_ARGS);
      expect(accepted.stderr).toBe('');
      expect(accepted.status).toBe(0);
      // The check can fail: node refuses a V8 flag it does not know, and says which.
      const refused = run([...PROXY_IMAGE_NODE_ARGS, '--incremental-marking-no-such-trigger=1']);
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain('--incremental-marking-no-such-trigger');
    });
  }

  test('runtime has only the production dependencies of this workspace', () => {
    const wd = workdirAt(final);
    const deps = providerOf(df, final, posix.join(wd, 'node_modules'));
    expect(deps).toBeDefined();
    const install = runs(deps!).filter((r) => /\bnpm (ci|prune)\b/.test(r));
    expect(install.length).toBeGreaterThan(0);
    for (const r of install) {
      expect(r).toMatch(/--omit=dev\b/);
      expect(r).toContain(`-w ${ws.name}`);
      expect(r).not.toContain('--include-workspace-root');
    }
    // Nothing else from the repository reaches the runtime image.
    for (const ins of final.instructions.filter((i) => i.keyword === 'COPY')) {
      const c = parseCopy(ins);
      expect(c.from).toBeDefined();
      // Besides: the proxy's default state directory, created empty and owned by the runtime user.
      if (c.dest === IMAGE_STATE_DIR) {
        expect([ws.name, c.sources, ins.args]).toEqual([
          '@k8s-s3-mirror/proxy',
          ['/state'],
          expect.stringContaining('--chown=65532:65532'),
        ]);
        continue;
      }
      for (const s of c.sources) expect(['/src/node_modules', `/src/${dir}`]).toContain(s);
    }
  });

  test('USER is numeric, non-root, and the UID the webhook injects (PROXY_RUN_AS_USER)', () => {
    const users = final.instructions.filter((i) => i.keyword === 'USER');
    expect(users).toHaveLength(1);
    const m = /^(\d+)(?::(\d+))?$/.exec(users[0]!.args);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(m![1]).toBe(CONFIG_KEYS.PROXY_RUN_AS_USER);
    expect(m![2]).toBe(CONFIG_KEYS.PROXY_RUN_AS_USER);
  });

  test('EXPOSE lists exactly the ports of the code', () => {
    const exposed = final.instructions
      .filter((i) => i.keyword === 'EXPOSE')
      .flatMap((i) => i.args.split(/\s+/))
      .map((p) => Number(p.replace(/\/tcp$/, '')));
    expect(exposed.sort()).toEqual([...ports].sort());
  });

  test('the build context keeps sources and drops node_modules, dist and tests', () => {
    expect(dockerIgnored(ignore, `${dir}/src/main.ts`)).toBe(false);
    expect(dockerIgnored(ignore, 'package-lock.json')).toBe(false);
    expect(dockerIgnored(ignore, 'node_modules/x/index.js')).toBe(true);
    expect(dockerIgnored(ignore, `${dir}/node_modules/x`)).toBe(true);
    expect(dockerIgnored(ignore, `${dir}/dist/main.js`)).toBe(true);
    expect(dockerIgnored(ignore, `${dir}/test/a.test.ts`)).toBe(true);
  });
});

describe('the checks themselves', () => {
  const good = readFileSync(join(ROOT, 'Dockerfile.webhook'), 'utf8');
  /** Whether the Dockerfile `text` of workspace `dir` produces the file its ENTRYPOINT runs. */
  const entryOf = (text: string, dir: 'proxy' | 'webhook' = 'webhook') => {
    const df = parseDockerfile(text);
    const final = df.stages[df.stages.length - 1]!;
    const argv = JSON.parse(final.instructions.find((i) => i.keyword === 'ENTRYPOINT')!.args) as string[];
    return produced(df, workspace(dir), final, argv[argv.length - 1]!);
  };

  test('the real file traces its entrypoint back to webhook/src/main.ts', () => {
    expect(entryOf(good)).toBe(true);
  });
  test('a wrong tsc target, a missing source copy or a wrong entrypoint is caught', () => {
    expect(entryOf(good.replace('npx tsc -b webhook', 'npx tsc -b proxy'))).toBe(false);
    expect(entryOf(good.replace('COPY webhook/src webhook/src', 'COPY webhook/srcx webhook/src'))).toBe(
      false,
    );
    expect(entryOf(good.replace('/app/webhook/dist/main.js', '/app/webhook/dist/server2.js'))).toBe(false);
    expect(entryOf(good.replace('COPY --from=deps /src/webhook /app/webhook', ''))).toBe(false);
  });
  test('the proxy’s entrypoint is its bundle, built after tsc from the bundler script', () => {
    const proxyFile = readFileSync(join(ROOT, 'Dockerfile.proxy'), 'utf8');
    expect(entryOf(proxyFile, 'proxy')).toBe(true);
    expect(entryOf(proxyFile.replace('RUN node proxy/bundle.mjs', 'RUN true'), 'proxy')).toBe(false);
    expect(entryOf(proxyFile.replace('COPY proxy/bundle.mjs proxy/', ''), 'proxy')).toBe(false);
    expect(entryOf(proxyFile.replace('RUN npx tsc -b proxy', 'RUN true'), 'proxy')).toBe(false);
  });
  test('dockerignore matching', () => {
    expect(dockerIgnored(['**/dist'], 'a/b/dist/x.js')).toBe(true);
    expect(dockerIgnored(['**/dist'], 'dist')).toBe(true);
    expect(dockerIgnored(['coverage'], 'proxy/coverage')).toBe(false);
    expect(dockerIgnored(['*.md'], 'README.md')).toBe(true);
    expect(dockerIgnored(['*.md'], 'docs/a.md')).toBe(false);
  });
});
