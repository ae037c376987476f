/**
 * What pg's `lib/crypto/utils.js` exports (SCRAM and MD5 password authentication), over node:crypto alone. The
 * bundle (proxy/bundle.mjs) puts it in that module's place: pg's own reads `crypto.webcrypto.subtle` when it
 * loads and authenticates through Web Crypto, which held 0.6 MB more of an idle proxy's memory. Same inputs,
 * same bytes (proxy/test/inventory/pg-crypto.test.ts holds it to pg's), errors as rejected promises; PBKDF2
 * runs on libuv's thread pool, as Web Crypto's does. One difference: for channel binding, a certificate signed
 * with SHA-224 or SHA-512/224 or /256 gets its digest here, where Web Crypto knows no such hash and pg fails.
 */
import { createHash, createHmac, pbkdf2, randomBytes as nodeRandomBytes } from 'node:crypto';

type Bytes = Buffer | ArrayBuffer | Uint8Array;

/** pg passes Buffers, strings, and what these functions returned (ArrayBuffers from pg's own). */
const asView = (data: Bytes): Uint8Array => (ArrayBuffer.isView(data) ? data : new Uint8Array(data));

export function randomBytes(length: number): Buffer {
  return nodeRandomBytes(length);
}

export async function md5(text: string | Buffer): Promise<string> {
  return createHash('md5').update(text).digest('hex');
}

/** AuthenticationMD5Password: 'md5' + md5(md5(password + user) + salt). */
export async function postgresMd5PasswordHash(user: string, password: string, salt: Buffer): Promise<string> {
  const inner = await md5(password + user);
  return 'md5' + (await md5(Buffer.concat([Buffer.from(inner), salt])));
}

export async function sha256(data: Bytes): Promise<Buffer> {
  return createHash('sha256').update(asView(data)).digest();
}

/** Channel binding: a certificate's digest by its Web Crypto name ('SHA-256', ...), which OpenSSL knows too. */
export async function hashByName(hashName: string, data: Bytes): Promise<Buffer> {
  return createHash(hashName).update(asView(data)).digest();
}

export async function hmacSha256(key: Bytes, message: string): Promise<Buffer> {
  return createHmac('sha256', asView(key)).update(message).digest();
}

/** SCRAM's SaltedPassword: PBKDF2-HMAC-SHA-256, 32 bytes. */
export function deriveKey(password: string, salt: Uint8Array, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    pbkdf2(password, salt, iterations, 32, 'sha256', (err, key) => (err ? reject(err) : resolve(key))),
  );
}
