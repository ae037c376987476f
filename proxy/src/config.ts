/** Proxy configuration from the environment. Pure: takes an env map, returns a config or throws ConfigError. */
import { ConfigError } from './config-error';
import { credentialSettingFrom, credentialSourceFor, type CredentialSource } from './credentials';
import { DEFAULT_CATCHUP_BYTES_PER_SECOND } from './mirror/app-priority';
import { DEFAULT_MIRROR_BUCKET_TEMPLATE, mirrorBucketTemplateProblem } from './mirror/bucket-name';
import { parseDeletePolicy, type DeletePolicy } from './mirror/delete-policy';

export { ConfigError };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'off';

export interface S3Endpoint {
  url: URL;
  region: string;
  /** What requests to this endpoint are signed with (static keys, or fetched and refreshed). */
  credentials: CredentialSource;
}

export type StateDirSetting = { kind: 'path'; path: string } | { kind: 'default' } | { kind: 'off' };

export interface AntiEntropySettings {
  /** A new pass over a bucket starts this long after the last one ended (SCAN_INTERVAL_SECONDS); 0: off. */
  intervalSeconds: number;
  /** S3 requests per second the scan may send, main and mirror together (SCAN_REQUESTS_PER_SECOND). */
  requestsPerSecond: number;
  /** Objects and rows changed more recently than this are left to the next pass (SCAN_SETTLE_SECONDS). */
  settleSeconds: number;
}

export interface HostPort {
  host: string;
  port: number;
}

export interface ProxyConfig {
  main: S3Endpoint;
  mirror: S3Endpoint;
  /** Names main bucket B's copy on the mirror, `{bucket}` standing for B (MIRROR_BUCKET_TEMPLATE). */
  mirrorBucketTemplate: string;
  postgresUrl: string;
  logLevel: LogLevel;
  listen: HostPort;
  admin: HostPort;
  virtualHostBases: string[];
  /** Empty means every bucket is allowed. */
  allowedBuckets: string[];
  /** How long a client may leave the connection idle mid-request before it is cut. */
  clientIdleTimeoutMs: number;
  /** Bounded wait for in-flight requests on SIGTERM. */
  shutdownGraceMs: number;
  /** How many acknowledged writes are held in memory while Postgres is unreachable. */
  pendingMemoryLimit: number;
  /** Concurrent mirror copies per sidecar. */
  mirrorConcurrency: number;
  /**
   * Bytes per second the catch-up copies (of a backlog's rows: repository.ts, ClaimedRow.catching_up) stream
   * together while the app has requests in flight (MIRROR_CATCHUP_BYTES_PER_SECOND; 0: they never give way).
   * See mirror/app-priority.ts.
   */
  mirrorCatchupBytesPerSecond?: number;
  /** Failed copies of one write before its row is parked for the anti-entropy scan (MIRROR_MAX_ATTEMPTS). */
  mirrorMaxAttempts: number;
  /** What a delete on main does to the mirror (MIRROR_DELETE_POLICY: mirror, keep, delay:<duration>). */
  deletePolicy: DeletePolicy;
  antiEntropy: AntiEntropySettings;
  /**
   * Where the write-ahead journal of acknowledged writes and the upload spool live (STATE_DIR): a path; the
   * default directory (unset: see tracking/state-dir.ts); or off (`STATE_DIR=off`: memory only, nothing on
   * disk, and a kill can lose acknowledged writes until the scanner finds them).
   */
  stateDir: StateDirSetting;
  /** Bound of the journal on disk (JOURNAL_MAX_BYTES, default 256 MiB). */
  journalMaxBytes?: number;
  /**
   * Bound of the upload spool under STATE_DIR/spool (SPOOL_MAX_BYTES, block-rounded bytes on disk); 0 turns
   * the spool off. Without STATE_DIR there is no spool. Unset: the default.
   */
  spoolMaxBytes?: number;
  /** Largest single PutObject body the spool takes (SPOOL_MAX_OBJECT_BYTES). */
  spoolMaxObjectBytes?: number;
  /** Memory for small spooled bodies (≤ 64 KiB each) kept off the disk (SPOOL_MEMORY_BYTES); 0: all on disk. */
  spoolMemoryBytes?: number;
  /**
   * GET and HEAD of an object answered from the mirror when main fails them, if the mirror holds exactly
   * what the inventory recorded as backed up (FAILOVER_READS, on by default; see docs/failover-reads.md).
   */
  failoverReads?: boolean;
  /**
   * Whether a quiet proxy gives back the memory a burst left it holding, and streamed bodies' dead Buffers are
   * collected as they go (MEMORY_RECLAIM, on by default; see memory/reclaim-policy.ts, memory/scavenge-pacer.ts).
   */
  memoryReclaim?: boolean;
}

/** Copies are mostly waits on main and the mirror: 16 kept 100 small PUT/s mirrored within ~2 s (bench). */
export const DEFAULT_MIRROR_CONCURRENCY = 16;
/** With the retry backoff (1 s doubling to 5 min) about an hour of failures before a row is parked. */
export const DEFAULT_MIRROR_MAX_ATTEMPTS = 15;
export const DEFAULT_SCAN_INTERVAL_SECONDS = 3600;
export const DEFAULT_SCAN_REQUESTS_PER_SECOND = 10;
export const DEFAULT_SCAN_SETTLE_SECONDS = 60;
export const DEFAULT_JOURNAL_MAX_BYTES = 256 * 1024 * 1024;
export const DEFAULT_SPOOL_MAX_BYTES = 256 * 1024 * 1024;
export const DEFAULT_SPOOL_MAX_OBJECT_BYTES = 64 * 1024 * 1024;
/** 2,048 bodies of 4 KiB waiting for their copies: a backlog of about 20 s at 100 PUT/s. */
export const DEFAULT_SPOOL_MEMORY_BYTES = 8 * 1024 * 1024;

type Env = Record<string, string | undefined>;

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'off'];

function required(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') throw new ConfigError(name, 'is required but not set');
  return value.trim();
}

function optional(env: Env, name: string, fallback: string): string {
  const value = env[name];
  return value === undefined || value.trim() === '' ? fallback : value.trim();
}

function parseEndpoint(name: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, `is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(name, `must start with http:// or https://`);
  }
  if (url.username || url.password) throw new ConfigError(name, 'must not contain credentials');
  if (url.search || url.hash) throw new ConfigError(name, 'must not contain a query or fragment');
  if (url.pathname !== '/' && url.pathname !== '') throw new ConfigError(name, 'must not contain a path');
  return url;
}

function parseRegion(name: string, raw: string): string {
  if (!/^[a-z0-9-]{1,32}$/.test(raw))
    throw new ConfigError(name, 'must look like a region name, e.g. us-east-1');
  return raw;
}

export function parseHostPort(name: string, raw: string): HostPort {
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(name, 'must be HOST:PORT, e.g. 127.0.0.1:8080');
  }
  return { host: match[1] ?? match[2]!, port };
}

function parsePositiveInt(env: Env, name: string, fallback: number): number {
  const raw = optional(env, name, String(fallback));
  if (!/^\d+$/.test(raw) || Number(raw) <= 0) throw new ConfigError(name, 'must be a positive integer');
  return Number(raw);
}

function parseNonNegativeInt(env: Env, name: string, fallback: number): number {
  const raw = optional(env, name, String(fallback));
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new ConfigError(name, 'must be a non-negative integer');
  }
  return Number(raw);
}

function parseList(raw: string): string[] {
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

function parsePostgresUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('POSTGRES_URL', 'is not a valid URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError('POSTGRES_URL', 'must start with postgres:// or postgresql://');
  }
  return raw;
}

export function loadConfig(env: Env): ProxyConfig {
  const logLevel = optional(env, 'LOG_LEVEL', 'info').toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(logLevel))
    throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);

  const credentialSettings = {
    main: credentialSettingFrom(env, {
      accessKey: 'MAIN_ACCESS_KEY',
      secretKey: 'MAIN_SECRET_KEY',
      roleArn: 'MAIN_ROLE_ARN',
    }),
    mirror: credentialSettingFrom(env, {
      accessKey: 'MIRROR_ACCESS_KEY',
      secretKey: 'MIRROR_SECRET_KEY',
      roleArn: 'MIRROR_ROLE_ARN',
    }),
  };
  const mainRegion = parseRegion('MAIN_S3_REGION', optional(env, 'MAIN_S3_REGION', 'us-east-1'));
  const mirrorRegion = parseRegion('MIRROR_S3_REGION', optional(env, 'MIRROR_S3_REGION', 'us-east-1'));
  return {
    main: {
      url: parseEndpoint('MAIN_S3_ENDPOINT', optional(env, 'MAIN_S3_ENDPOINT', 'https://s3.amazonaws.com')),
      region: mainRegion,
      credentials: credentialSourceFor(credentialSettings.main, 'main', mainRegion),
    },
    mirror: {
      url: parseEndpoint('MIRROR_S3_ENDPOINT', required(env, 'MIRROR_S3_ENDPOINT')),
      region: mirrorRegion,
      credentials: credentialSourceFor(credentialSettings.mirror, 'mirror', mirrorRegion),
    },
    mirrorBucketTemplate: parseMirrorBucketTemplate(env),
    postgresUrl: parsePostgresUrl(required(env, 'POSTGRES_URL')),
    logLevel,
    listen: parseHostPort('LISTEN_ADDR', optional(env, 'LISTEN_ADDR', '127.0.0.1:8080')),
    admin: parseHostPort('ADMIN_ADDR', optional(env, 'ADMIN_ADDR', '0.0.0.0:9090')),
    virtualHostBases: parseList(optional(env, 'VIRTUAL_HOST_BASES', 'localhost')).map((h) => h.toLowerCase()),
    allowedBuckets: parseList(optional(env, 'ALLOWED_BUCKETS', '')),
    clientIdleTimeoutMs: parsePositiveInt(env, 'CLIENT_IDLE_TIMEOUT_MS', 60_000),
    shutdownGraceMs: parsePositiveInt(env, 'SHUTDOWN_GRACE_MS', 25_000),
    pendingMemoryLimit: parsePositiveInt(env, 'PENDING_MEMORY_LIMIT', 100_000),
    mirrorConcurrency: parsePositiveInt(env, 'MIRROR_CONCURRENCY', DEFAULT_MIRROR_CONCURRENCY),
    mirrorMaxAttempts: parsePositiveInt(env, 'MIRROR_MAX_ATTEMPTS', DEFAULT_MIRROR_MAX_ATTEMPTS),
    mirrorCatchupBytesPerSecond: parseNonNegativeInt(
      env,
      'MIRROR_CATCHUP_BYTES_PER_SECOND',
      DEFAULT_CATCHUP_BYTES_PER_SECOND,
    ),
    deletePolicy: parseDeletePolicySetting(env),
    antiEntropy: {
      intervalSeconds: parseNonNegativeInt(env, 'SCAN_INTERVAL_SECONDS', DEFAULT_SCAN_INTERVAL_SECONDS),
      requestsPerSecond: parsePositiveInt(env, 'SCAN_REQUESTS_PER_SECOND', DEFAULT_SCAN_REQUESTS_PER_SECOND),
      settleSeconds: parseNonNegativeInt(env, 'SCAN_SETTLE_SECONDS', DEFAULT_SCAN_SETTLE_SECONDS),
    },
    ...parseStateDir(env),
    journalMaxBytes: parsePositiveInt(env, 'JOURNAL_MAX_BYTES', DEFAULT_JOURNAL_MAX_BYTES),
    spoolMaxBytes: parseNonNegativeInt(env, 'SPOOL_MAX_BYTES', DEFAULT_SPOOL_MAX_BYTES),
    spoolMaxObjectBytes: parsePositiveInt(env, 'SPOOL_MAX_OBJECT_BYTES', DEFAULT_SPOOL_MAX_OBJECT_BYTES),
    spoolMemoryBytes: parseNonNegativeInt(env, 'SPOOL_MEMORY_BYTES', DEFAULT_SPOOL_MEMORY_BYTES),
    failoverReads: parseOnOff(env, 'FAILOVER_READS', true),
    memoryReclaim: parseOnOff(env, 'MEMORY_RECLAIM', true),
  };
}

function parseOnOff(env: Env, name: string, fallback: boolean): boolean {
  const raw = optional(env, name, fallback ? 'on' : 'off').toLowerCase();
  if (raw !== 'on' && raw !== 'off') throw new ConfigError(name, 'must be on or off');
  return raw === 'on';
}

function parseMirrorBucketTemplate(env: Env): string {
  const template = optional(env, 'MIRROR_BUCKET_TEMPLATE', DEFAULT_MIRROR_BUCKET_TEMPLATE);
  const problem = mirrorBucketTemplateProblem(template);
  if (problem) throw new ConfigError('MIRROR_BUCKET_TEMPLATE', problem);
  return template;
}

function parseDeletePolicySetting(env: Env): DeletePolicy {
  const policy = parseDeletePolicy(optional(env, 'MIRROR_DELETE_POLICY', 'mirror'));
  if ('error' in policy) throw new ConfigError('MIRROR_DELETE_POLICY', policy.error);
  return policy;
}

function parseStateDir(env: Env): { stateDir: StateDirSetting } {
  const raw = optional(env, 'STATE_DIR', '');
  if (raw === '') return { stateDir: { kind: 'default' } };
  if (raw.toLowerCase() === 'off') return { stateDir: { kind: 'off' } };
  if (!raw.startsWith('/')) throw new ConfigError('STATE_DIR', 'must be an absolute path, or off');
  return { stateDir: { kind: 'path', path: raw } };
}

/** Values that must never appear in output. */
export function secretsOf(config: ProxyConfig): string[] {
  const secrets = [
    ...config.main.credentials.configuredSecrets,
    ...config.mirror.credentials.configuredSecrets,
  ];
  const pgPassword = new URL(config.postgresUrl).password;
  if (pgPassword) secrets.push(decodeURIComponent(pgPassword));
  return secrets.filter((s) => s.length > 0);
}
