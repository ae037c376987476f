/**
 * NODE_EXTRA_CA_CERTS, checked before anything opens a TLS connection. Node reads the file at the first
 * TLS context: a missing file gets a plain-text warning on stderr and a file without a readable certificate
 * is ignored in silence, so a proxy in front of a private-CA S3 would start and fail every request. Here
 * either is a configuration error naming the variable.
 */
import { X509Certificate } from 'node:crypto';
import { ConfigError } from './config-error';

export const EXTRA_CA_VARIABLE = 'NODE_EXTRA_CA_CERTS';

export interface TrustedCa {
  subject: string;
  /** Whether the certificate may sign others (a server's own certificate trusted directly may not). */
  ca: boolean;
  validTo: string;
  expired: boolean;
}

export type CaBundleResult = { ok: true; certificates: TrustedCa[] } | { ok: false; problem: string };

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Pure: the PEM text of a bundle → its certificates, or what is wrong with it. */
export function parseCaBundle(pem: string, now: Date): CaBundleResult {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return { ok: false, problem: 'names a file that holds no PEM certificate' };
  const certificates: TrustedCa[] = [];
  for (const [i, block] of blocks.entries()) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch (err) {
      // Node stops reading the file at a certificate it cannot parse: the ones after it would be lost too.
      return {
        ok: false,
        problem: `certificate ${i + 1} of ${blocks.length} cannot be read (${(err as Error).message})`,
      };
    }
    certificates.push({
      subject: cert.subject.replace(/\n/g, ', '),
      ca: cert.ca,
      validTo: new Date(cert.validTo).toISOString(),
      expired: new Date(cert.validTo).getTime() < now.getTime(),
    });
  }
  return { ok: true, certificates };
}

/**
 * The extra CAs the process will trust, or undefined when the variable is unset or empty. Throws ConfigError
 * when the file cannot be read or holds no usable certificate.
 */
export function checkExtraCaCerts(
  env: Readonly<Record<string, string | undefined>>,
  readFile: (path: string) => string,
  now = new Date(),
): { file: string; certificates: TrustedCa[] } | undefined {
  const file = env[EXTRA_CA_VARIABLE] ?? '';
  if (file === '') return undefined;
  let pem: string;
  try {
    pem = readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(EXTRA_CA_VARIABLE, `names a file that cannot be read: ${file} (${code})`);
  }
  const parsed = parseCaBundle(pem, now);
  if (!parsed.ok) throw new ConfigError(EXTRA_CA_VARIABLE, `${parsed.problem}: ${file}`);
  return { file, certificates: parsed.certificates };
}
