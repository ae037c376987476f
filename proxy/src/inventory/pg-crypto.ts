/**
 * What pg's `lib/crypto/utils.js` exports (SCRAM and MD5 password authentication), over node:crypto alone. The
 * bundle (proxy/bundle.mjs) puts it in that module's place: pg's own reads `crypto.webcrypto.subtle` when it
 * loads and authenticates through Web Crypto, which held 0.6 MB more of an idle proxy's memory. Same inputs,
 * same bytes (proxy/test/inventory/pg-crypto.test.ts holds it to pg's); PBKDF2 runs on libuv's thread pool,
 * as Web Crypto's does.
 */
import { createHash, createHmac, pbkdf2, randomBytes as nodeRandomBytes } from 'node:crypto';

type Bytes = Buffer | ArrayBuffer | Uint8Array;

const asBuffer = (data: Bytes): Buffer =>
  Buffer.isBuffer(data)
    ? data
    : Buffer.from(
        data instanceof ArrayBuffer
          ? data
          : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
      );

export function randomBytes(length: number): Buffer {
  return nodeRandomBytes(length);
}

export function md5(text: string | Buffer): Promise<string> {
  return Promise.resolve(createHash('md5').update(text).digest('hex'));
}

/** AuthenticationMD5Password: 'md5' + md5(md5(password + user) + salt). */
export async function postgresMd5PasswordHash(user: string, password: string, salt: Buffer): Promise<string> {
  const inner = await md5(password + user);
  return 'md5' + (await md5(Buffer.concat([Buffer.from(inner), salt])));
}

export function sha256(data: Bytes): Promise<Buffer> {
  return Promise.resolve(createHash('sha256').update(asBuffer(data)).digest());
}

/** Channel binding: a certificate's digest by its Web Crypto name ('SHA-256', ...), which OpenSSL knows too. */
export function hashByName(hashName: string, data: Bytes): Promise<Buffer> {
  return Promise.resolve(createHash(hashName).update(asBuffer(data)).digest());
}

export function hmacSha256(key: Bytes, message: string): Promise<Buffer> {
  return Promise.resolve(createHmac('sha256', asBuffer(key)).update(message).digest());
}

/** SCRAM's SaltedPassword: PBKDF2-HMAC-SHA-256, 32 bytes. */
export function deriveKey(password: string, salt: Uint8Array, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    pbkdf2(password, salt, iterations, 32, 'sha256', (err, key) => (err ? reject(err) : resolve(key))),
  );
}
