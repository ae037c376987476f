/**
 * NODE_EXTRA_CA_CERTS, checked before anything opens a TLS connection. Node reads the file at the first
 * TLS context: a file it cannot read or parse gets a plain-text warning on stderr (after a broken certificate
 * the rest of the file is dropped), and a file without a certificate is ignored in silence, so a proxy in
 * front of a private-CA S3 would start and fail every request. Here each is a configuration error naming the
 * variable.
 */
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { ConfigError } from './config-error';

export const EXTRA_CA_VARIABLE = 'NODE_EXTRA_CA_CERTS';

export interface TrustedCa {
  subject: string;
  /** Whether the certificate may sign others (a server's own certificate trusted directly may not). */
  ca: boolean;
  validFrom: string;
  validTo: string;
  /** Outside its validity period now: connections it alone verifies fail. */
  expired: boolean;
  notYetValid: boolean;
}

export type CaBundleResult = { ok: true; certificates: TrustedCa[] } | { ok: false; problem: string };

/** The PEM labels OpenSSL reads as a certificate. */
const CERTIFICATE_LABELS = new Set(['CERTIFICATE', 'X509 CERTIFICATE', 'TRUSTED CERTIFICATE']);

/**
 * Pure: the PEM text of a bundle → its certificates, or what is wrong with it. Read as OpenSSL reads it:
 * a block starts at a line beginning `-----BEGIN `, other text between blocks is skipped, a block without
 * its END line is an error, and blocks other than certificates (a key) are passed over.
 */
export function parseCaBundle(pem: string, now: Date): CaBundleResult {
  const lines = pem.split(/\r?\n/);
  const certificates: TrustedCa[] = [];
  for (let i = 0; i < lines.length; i++) {
    const label = /^-----BEGIN (.+)-----\s*$/.exec(lines[i]!)?.[1];
    if (label === undefined) continue;
    const end = lines.findIndex((l, j) => j > i && l.trimEnd() === `-----END ${label}-----`);
    if (end < 0) return { ok: false, problem: `the ${label} block at line ${i + 1} has no END line` };
    if (CERTIFICATE_LABELS.has(label)) {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(lines.slice(i, end + 1).join('\n'));
      } catch (err) {
        return {
          ok: false,
          problem: `the certificate at line ${i + 1} cannot be read (${(err as Error).message})`,
        };
      }
      certificates.push({
        subject: cert.subject.replace(/\n/g, ', '),
        ca: cert.ca,
        validFrom: cert.validFromDate.toISOString(),
        validTo: cert.validToDate.toISOString(),
        expired: cert.validToDate.getTime() < now.getTime(),
        notYetValid: cert.validFromDate.getTime() > now.getTime(),
      });
    }
    i = end;
  }
  if (certificates.length === 0) return { ok: false, problem: 'names a file that holds no PEM certificate' };
  return { ok: true, certificates };
}

export interface ExtraCaEdges {
  readFile(path: string): string;
  /** How many certificates Node itself took from the file (tls.getCACertificates('extra')). */
  loadedByNode(): number;
}

const nodeEdges: ExtraCaEdges = {
  readFile: (file) => fs.readFileSync(file, 'latin1'),
  // Loaded only here, when the variable is set: an idle proxy over plain HTTP never needs tls.
  loadedByNode: () => process.getBuiltinModule('node:tls').getCACertificates('extra').length,
};

/**
 * The extra CAs the process will trust, or undefined when the variable is unset or empty. Throws ConfigError
 * when the file cannot be read, holds no usable certificate, or Node took fewer from it than it holds.
 */
export function checkExtraCaCerts(
  env: Readonly<Record<string, string | undefined>>,
  edges: ExtraCaEdges = nodeEdges,
  now = new Date(),
): { file: string; certificates: TrustedCa[] } | undefined {
  const file = env[EXTRA_CA_VARIABLE] ?? '';
  if (file === '') return undefined;
  let pem: string;
  try {
    pem = edges.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(EXTRA_CA_VARIABLE, `names a file that cannot be read: ${file} (${code})`);
  }
  const parsed = parseCaBundle(pem, now);
  if (!parsed.ok) throw new ConfigError(EXTRA_CA_VARIABLE, `${parsed.problem}: ${file}`);
  const loaded = edges.loadedByNode();
  if (loaded !== parsed.certificates.length) {
    throw new ConfigError(
      EXTRA_CA_VARIABLE,
      `Node took ${loaded} of the ${parsed.certificates.length} certificates in ${file}`,
    );
  }
  return { file, certificates: parsed.certificates };
}

/** How many certificates the start-up line lists: a bundle with the public CAs holds about 140. */
export const LISTED_CERTIFICATES = 10;

/**
 * Pure: what the proxy logs at start about the extra CAs, so an operator sees the mount took effect: one
 * line with the count and the first certificates, and a warning for each one outside its validity period.
 */
export function extraCaLog(trust: { file: string; certificates: TrustedCa[] }): {
  info: Record<string, unknown>;
  warnings: Record<string, unknown>[];
} {
  const listed = trust.certificates.slice(0, LISTED_CERTIFICATES);
  return {
    info: {
      file: trust.file,
      count: trust.certificates.length,
      certificates: listed.map(({ subject, ca, validTo }) => ({ subject, ca, validTo })),
      ...(trust.certificates.length > listed.length
        ? { notListed: trust.certificates.length - listed.length }
        : {}),
    },
    warnings: trust.certificates
      .filter((c) => c.expired || c.notYetValid)
      .map((c) => ({ file: trust.file, subject: c.subject, validFrom: c.validFrom, validTo: c.validTo })),
  };
}
