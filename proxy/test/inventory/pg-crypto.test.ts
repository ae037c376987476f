/**
 * The module the bundle puts in place of pg's `lib/crypto/utils.js` (proxy/bundle.mjs): the same exports, and
 * for the same inputs the same bytes as pg's own, which authenticates through Web Crypto.
 */
import * as ours from '../../src/inventory/pg-crypto';

type PgCrypto = Record<keyof typeof ours, (...args: unknown[]) => Promise<unknown>>;
// pg's own module, as pg's client and SCRAM code require it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pgs = require('pg/lib/crypto/utils') as PgCrypto;

/** pg's digests are ArrayBuffers, ours Buffers. */
const bytesOf = async (result: Promise<unknown>): Promise<Buffer> =>
  Buffer.from((await result) as ArrayBuffer);

test('exports what pg’s module exports, no more and no less', () => {
  expect(Object.keys(ours).sort()).toEqual(Object.keys(pgs).sort());
});

test('SCRAM-SHA-256: the salted password, keys and signatures are pg’s, byte for byte', async () => {
  const salt = Buffer.from('QSXCR+Q6sek8bf92', 'base64');
  for (const [password, iterations] of [
    ['pencil', 4096],
    ['pässwörd ☃', 4096],
    ['', 1],
  ] as const) {
    const mine = await ours.deriveKey(password, salt, iterations);
    const theirs = await bytesOf(pgs.deriveKey(password, salt, iterations));
    expect(mine).toHaveLength(32);
    expect(mine).toEqual(theirs);
    // Chained as pg's SCRAM code chains them, each step on the previous one's result.
    const myClientKey = await ours.hmacSha256(mine, 'Client Key');
    // Handed pg's ArrayBuffer instead, as a mix of the two modules would.
    expect(await ours.hmacSha256(new Uint8Array(theirs).buffer, 'Client Key')).toEqual(myClientKey);
    expect(await ours.sha256(new Uint8Array(myClientKey).buffer)).toEqual(await ours.sha256(myClientKey));
    const theirClientKey = await bytesOf(pgs.hmacSha256(theirs, 'Client Key'));
    expect(myClientKey).toEqual(theirClientKey);
    expect(await ours.sha256(myClientKey)).toEqual(await bytesOf(pgs.sha256(theirClientKey)));
  }
});

test('channel binding digests by Web Crypto name, and MD5 password hashes, are pg’s', async () => {
  const cert = Buffer.from('a certificate’s DER bytes, as tls gives them');
  for (const name of ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512']) {
    expect(await ours.hashByName(name, cert)).toEqual(await bytesOf(pgs.hashByName(name, cert)));
  }
  const salt = Buffer.from([0x93, 0x1a, 0x07, 0xff]);
  expect(await ours.postgresMd5PasswordHash('postgres', 'pässword', salt)).toBe(
    await pgs.postgresMd5PasswordHash('postgres', 'pässword', salt),
  );
  expect(await ours.md5('abc')).toBe(await pgs.md5('abc'));
});

test('a digest it does not know is a rejected promise, as with pg’s', async () => {
  await expect(ours.hashByName('SHA-999', Buffer.from('x'))).rejects.toThrow();
  await expect(pgs.hashByName('SHA-999', Buffer.from('x'))).rejects.toThrow();
});

test('random bytes: the length asked for, different each time', () => {
  const [a, b] = [ours.randomBytes(18), ours.randomBytes(18)];
  expect(a).toHaveLength(18);
  expect(a.equals(b)).toBe(false);
});
