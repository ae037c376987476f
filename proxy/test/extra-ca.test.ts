import { generateCa, generateServingCert } from '../../webhook/src/tls/pki';
import { ConfigError } from '../src/config-error';
import { checkExtraCaCerts, parseCaBundle } from '../src/extra-ca';

const NOW = Date.parse('2026-12-06T12:00:00Z');
const ca = generateCa('internal storage CA', NOW - 60_000, 3600);
const older = generateCa('retired CA', NOW - 7200_000, 3600);
const leaf = generateServingCert(ca, ['rgw.storage.svc'], NOW - 60_000, 3600);
const broken = '-----BEGIN CERTIFICATE-----\nMIIBroken\n-----END CERTIFICATE-----\n';

const files: Record<string, string> = {
  '/ca/bundle.pem': `# internal CAs\n${ca.certPem}\n${older.certPem}`,
  '/ca/leaf.pem': leaf.certPem,
  '/ca/empty.pem': '',
  '/ca/key.pem': ca.keyPem,
  '/ca/broken-last.pem': ca.certPem + broken,
};
const readFile = (file: string): string => {
  const text = files[file];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
  return text;
};
const check = (file: string | undefined) =>
  checkExtraCaCerts({ NODE_EXTRA_CA_CERTS: file }, readFile, new Date(NOW));

function problem(file: string): ConfigError {
  try {
    check(file);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('NODE_EXTRA_CA_CERTS', () => {
  test('unset or empty: nothing to check, and no file is read', () => {
    const reads: string[] = [];
    const spy = (f: string) => (reads.push(f), '');
    expect(checkExtraCaCerts({}, spy)).toBeUndefined();
    expect(checkExtraCaCerts({ NODE_EXTRA_CA_CERTS: '' }, spy)).toBeUndefined();
    expect(reads).toEqual([]);
  });

  test('every certificate of a bundle is listed, with whether it is a CA and whether it has expired', () => {
    expect(check('/ca/bundle.pem')).toEqual({
      file: '/ca/bundle.pem',
      certificates: [
        { subject: 'CN=internal storage CA', ca: true, validTo: expect.any(String), expired: false },
        { subject: 'CN=retired CA', ca: true, validTo: expect.any(String), expired: true },
      ],
    });
    expect(check('/ca/leaf.pem')?.certificates).toEqual([expect.objectContaining({ ca: false })]);
  });

  test('a file that cannot be read is a configuration error naming the variable and the file', () => {
    const err = problem('/ca/missing.pem');
    expect(err.variable).toBe('NODE_EXTRA_CA_CERTS');
    expect(err.message).toBe(
      'NODE_EXTRA_CA_CERTS: names a file that cannot be read: /ca/missing.pem (ENOENT)',
    );
  });

  test('a file without a certificate (empty, or a private key) is an error: Node would ignore it silently', () => {
    for (const file of ['/ca/empty.pem', '/ca/key.pem']) {
      expect(problem(file).message).toBe(
        `NODE_EXTRA_CA_CERTS: names a file that holds no PEM certificate: ${file}`,
      );
    }
  });

  test('a certificate that cannot be parsed is an error, naming which', () => {
    expect(problem('/ca/broken-last.pem').message).toMatch(
      /^NODE_EXTRA_CA_CERTS: certificate 2 of 2 cannot be read \(.+\): \/ca\/broken-last\.pem$/,
    );
  });

  test('parseCaBundle reads blocks among other text', () => {
    const parsed = parseCaBundle(`subject=CN x\n${ca.certPem}trailing words`, new Date(NOW));
    expect(parsed).toEqual({ ok: true, certificates: [expect.objectContaining({ ca: true })] });
  });
});
