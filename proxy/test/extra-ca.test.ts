import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { generateCa, generateServingCert } from '../../webhook/src/tls/pki';
import { ConfigError } from '../src/config-error';
import {
  checkExtraCaCerts,
  extraCaLog,
  LISTED_CERTIFICATES,
  parseCaBundle,
  type TrustedCa,
} from '../src/extra-ca';

const NOW = Date.parse('2026-12-06T12:00:00Z');
const ca = generateCa('internal storage CA', NOW - 60_000, 3600);
const older = generateCa('retired CA', NOW - 7200_000, 3600);
const future = generateCa('next CA', NOW + 3600_000, 3600);
const leaf = generateServingCert(ca, ['rgw.storage.svc'], NOW - 60_000, 3600);
const broken = '-----BEGIN CERTIFICATE-----\nMIIBroken\n-----END CERTIFICATE-----\n';
/** A certificate whose END line was lost (a truncated copy). */
const truncated = ca.certPem.split('-----END')[0]!;

const files: Record<string, string> = {
  '/ca/bundle.pem': `# internal CAs\n${ca.certPem}\n${older.certPem}${future.certPem}`,
  '/ca/leaf.pem': leaf.certPem,
  '/ca/empty.pem': '',
  '/ca/key.pem': ca.keyPem,
  '/ca/key-and-cert.pem': ca.keyPem + ca.certPem,
  '/ca/broken-last.pem': ca.certPem + broken,
  '/ca/truncated-last.pem': ca.certPem + truncated,
  '/ca/begin-not-at-line-start.pem': `subject=CN x ${ca.certPem}`,
};
/** Node's count is taken to agree with the parse unless a test says otherwise. */
const edges = (loadedByNode?: number) => ({
  readFile: (file: string): string => {
    const text = files[file];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
    return text;
  },
  loadedByNode: () => loadedByNode ?? parseCount,
});
let parseCount = 0;
const check = (file: string | undefined, loadedByNode?: number) => {
  const text = file === undefined ? undefined : files[file];
  const parsed = text === undefined ? undefined : parseCaBundle(text, new Date(NOW));
  parseCount = parsed?.ok ? parsed.certificates.length : 0;
  return checkExtraCaCerts({ NODE_EXTRA_CA_CERTS: file }, edges(loadedByNode), new Date(NOW));
};

function problem(file: string, loadedByNode?: number): ConfigError {
  try {
    check(file, loadedByNode);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('NODE_EXTRA_CA_CERTS', () => {
  test('unset or empty: nothing to check, and no file is read', () => {
    const reads: string[] = [];
    const spy = { readFile: (f: string) => (reads.push(f), ''), loadedByNode: () => 0 };
    expect(checkExtraCaCerts({}, spy)).toBeUndefined();
    expect(checkExtraCaCerts({ NODE_EXTRA_CA_CERTS: '' }, spy)).toBeUndefined();
    expect(reads).toEqual([]);
  });

  test('every certificate of a bundle is listed, with whether it is a CA and in its validity period', () => {
    expect(check('/ca/bundle.pem')).toEqual({
      file: '/ca/bundle.pem',
      certificates: [
        expect.objectContaining({
          subject: 'CN=internal storage CA',
          ca: true,
          expired: false,
          notYetValid: false,
        }),
        expect.objectContaining({ subject: 'CN=retired CA', ca: true, expired: true, notYetValid: false }),
        expect.objectContaining({ subject: 'CN=next CA', ca: true, expired: false, notYetValid: true }),
      ],
    });
    expect(check('/ca/leaf.pem')?.certificates).toEqual([expect.objectContaining({ ca: false })]);
    // Other blocks, a key here, are passed over as Node passes over them.
    expect(check('/ca/key-and-cert.pem')?.certificates).toHaveLength(1);
  });

  test('a file that cannot be read is a configuration error naming the variable and the file', () => {
    const err = problem('/ca/missing.pem');
    expect(err.variable).toBe('NODE_EXTRA_CA_CERTS');
    expect(err.message).toBe(
      'NODE_EXTRA_CA_CERTS: names a file that cannot be read: /ca/missing.pem (ENOENT)',
    );
  });

  test.each([
    ['empty', '/ca/empty.pem'],
    ['a private key alone', '/ca/key.pem'],
    ['BEGIN not at the start of a line', '/ca/begin-not-at-line-start.pem'],
  ])(
    'a file without a certificate Node would read (%s) is an error: Node would ignore it silently',
    (_, file) => {
      expect(problem(file).message).toBe(
        `NODE_EXTRA_CA_CERTS: names a file that holds no PEM certificate: ${file}`,
      );
    },
  );

  test('a certificate that cannot be parsed, or has no END line, is an error naming its line', () => {
    expect(problem('/ca/broken-last.pem').message).toMatch(
      /^NODE_EXTRA_CA_CERTS: the certificate at line \d+ cannot be read \(.+\): \/ca\/broken-last\.pem$/,
    );
    expect(problem('/ca/truncated-last.pem').message).toMatch(
      /^NODE_EXTRA_CA_CERTS: the CERTIFICATE block at line \d+ has no END line: \/ca\/truncated-last\.pem$/,
    );
  });

  test('Node taking fewer certificates than the file holds is an error', () => {
    expect(problem('/ca/bundle.pem', 1).message).toBe(
      'NODE_EXTRA_CA_CERTS: Node took 1 of the 3 certificates in /ca/bundle.pem',
    );
  });
});

describe('the start-up log of the extra CAs', () => {
  const cert = (i: number, over: Partial<TrustedCa> = {}): TrustedCa => ({
    subject: `CN=ca ${i}`,
    ca: true,
    validFrom: '2026-01-01T00:00:00.000Z',
    validTo: '2036-01-01T00:00:00.000Z',
    expired: false,
    notYetValid: false,
    ...over,
  });

  test('a short bundle is listed whole; certificates outside their validity get a warning each', () => {
    const log = extraCaLog({
      file: '/f',
      certificates: [cert(1), cert(2, { expired: true }), cert(3, { notYetValid: true })],
    });
    expect(log.info).toEqual({
      file: '/f',
      count: 3,
      certificates: [1, 2, 3].map((i) => ({
        subject: `CN=ca ${i}`,
        ca: true,
        validTo: '2036-01-01T00:00:00.000Z',
      })),
    });
    expect(log.warnings.map((w) => w.subject)).toEqual(['CN=ca 2', 'CN=ca 3']);
  });

  test('a bundle with the public CAs (about 140) is counted, and only the first few listed', () => {
    const many = Array.from({ length: 140 }, (_, i) => cert(i, { expired: i === 139 }));
    const log = extraCaLog({ file: '/f', certificates: many });
    expect(log.info).toMatchObject({ count: 140, notListed: 140 - LISTED_CERTIFICATES });
    expect(log.info.certificates).toHaveLength(LISTED_CERTIFICATES);
    expect(log.warnings.map((w) => w.subject)).toEqual(['CN=ca 139']);
  });
});

describe("the parse agrees with Node's own reading", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3m-extra-ca-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test.each(Object.keys(files))('%s', (name) => {
    const file = path.join(dir, path.basename(name));
    fs.writeFileSync(file, files[name]!);
    const node = spawnSync(
      process.execPath,
      ['-e', "process.stdout.write(String(require('node:tls').getCACertificates('extra').length))"],
      { env: { ...process.env, NODE_EXTRA_CA_CERTS: file }, encoding: 'utf8' },
    );
    const parsed = parseCaBundle(files[name]!, new Date(NOW));
    const warned = node.stderr.includes('Ignoring extra certs');
    const taken = Number(node.stdout);
    // What the check accepts, Node reads whole and in silence; what it refuses, Node warns about or ignores.
    const agrees = parsed.ok ? !warned && taken === parsed.certificates.length : warned || taken === 0;
    expect({ accepted: parsed.ok, warned, taken, agrees }).toMatchObject({ agrees: true });
  });
});
