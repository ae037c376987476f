/**
 * A side's credentials held for the hot path: `current()` never waits. Temporary credentials are fetched
 * again in the background before they expire; a failed fetch is retried with backoff while the ones in
 * hand keep signing.
 */
import type { Logger } from '../log';
import { refreshAt, retryDelay } from './refresh-timing';

export type Side = 'main' | 'mirror';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Signed in as x-amz-security-token. */
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

export interface CredentialHealth {
  ok: boolean;
  kind: 'static' | 'refreshing';
  expiresAt?: string;
  /** Why not ok; never a secret. */
  reason?: string;
  /** Failed fetches since the last one that worked. */
  failures?: number;
}

export interface CredentialHooks {
  logger: Logger;
  /** Called once per failed fetch (the metric). */
  onFailure?(side: Side): void;
  /** Called with each fetched set (the expiry metric, the log redactor). */
  onResolved?(side: Side, credentials: Credentials): void;
}

export interface CredentialSource {
  readonly side: Side;
  /** Secrets known from the configuration (static keys), for the log redactor. */
  readonly configuredSecrets: readonly string[];
  /** The credentials to sign with now. Throws only before start() resolved. */
  current(): Credentials;
  /** The same, as an SDK client's `credentials` provider. */
  readonly provider: () => Promise<Credentials>;
  /** Resolves once credentials are in hand (the first fetch is retried until it works). */
  start(hooks: CredentialHooks): Promise<void>;
  stop(): void;
  health(): CredentialHealth;
}

export function staticCredentials(side: Side, credentials: Credentials): CredentialSource {
  return {
    side,
    configuredSecrets: [credentials.secretAccessKey],
    current: () => credentials,
    provider: () => Promise.resolve(credentials),
    start: () => Promise.resolve(),
    stop: () => undefined,
    health: () => ({ ok: true, kind: 'static' }),
  };
}

export interface Clock {
  now(): number;
  /** Runs `fn` after `ms`; returns a cancel. Only a `keepAlive` timer holds the process open. */
  setTimer(fn: () => void, ms: number, keepAlive?: boolean): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms, keepAlive = false) {
    const timer = setTimeout(fn, ms);
    if (!keepAlive) timer.unref();
    return () => clearTimeout(timer);
  },
};

export type FetchCredentials = () => Promise<Credentials>;

const errorMessage = (err: unknown): string =>
  (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).slice(0, 500);

export class RefreshingCredentials implements CredentialSource {
  private held: { credentials: Credentials; obtainedAt: number } | undefined;
  private fetch: FetchCredentials | undefined;
  private hooks: CredentialHooks | undefined;
  private failures = 0;
  private lastError: string | undefined;
  private cancelTimer: (() => void) | undefined;
  private stopped = false;

  /** `makeFetch` is called once, at start, with the logger (the SDK's providers log through it). */
  constructor(
    readonly side: Side,
    private readonly makeFetch: (logger: Logger) => FetchCredentials,
    private readonly clock: Clock = systemClock,
    readonly configuredSecrets: readonly string[] = [],
  ) {}

  current(): Credentials {
    if (!this.held) throw new Error(`${this.side} credentials are not resolved yet`);
    return this.held.credentials;
  }

  readonly provider = (): Promise<Credentials> => {
    try {
      return Promise.resolve(this.current());
    } catch (err) {
      return Promise.reject(err as Error);
    }
  };

  async start(hooks: CredentialHooks): Promise<void> {
    this.hooks = hooks;
    this.fetch = this.makeFetch(hooks.logger);
    while (!(await this.attempt())) {
      if (this.stopped) throw new Error(`${this.side} credentials: stopped before they were resolved`);
      await new Promise<void>((resolve) => {
        // Kept alive: at start nothing else holds the process open, and it must not exit while it waits.
        this.cancelTimer = this.clock.setTimer(
          resolve,
          retryDelay(this.failures, this.clock.now(), undefined),
          true,
        );
      });
    }
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
  }

  health(): CredentialHealth {
    const failures = this.failures > 0 ? { failures: this.failures } : {};
    const why = this.lastError !== undefined ? `; last fetch failed: ${this.lastError}` : '';
    if (!this.held) return { ok: false, kind: 'refreshing', reason: `not resolved yet${why}`, ...failures };
    const expiration = this.held.credentials.expiration;
    if (expiration === undefined) return { ok: true, kind: 'refreshing', ...failures };
    const expiresAt = expiration.toISOString();
    if (expiration.getTime() <= this.clock.now()) {
      return {
        ok: false,
        kind: 'refreshing',
        expiresAt,
        reason: `expired at ${expiresAt}${why}`,
        ...failures,
      };
    }
    return { ok: true, kind: 'refreshing', expiresAt, ...failures };
  }

  /** One fetch; on success the next refresh is scheduled. False when it failed. */
  private async attempt(): Promise<boolean> {
    const { logger, onFailure, onResolved } = this.hooks!;
    try {
      const credentials = await this.fetch!();
      if (this.stopped) return true;
      const first = this.held === undefined;
      this.held = { credentials, obtainedAt: this.clock.now() };
      onResolved?.(this.side, credentials);
      const fields = {
        side: this.side,
        // An access key id is not a secret (AWS prints it in CloudTrail): it shows which key signs.
        accessKeyId: credentials.accessKeyId,
        ...(credentials.expiration ? { expiresAt: credentials.expiration.toISOString() } : {}),
      };
      if (first || this.failures > 0)
        logger.info('credentials resolved', { ...fields, after: this.failures });
      else logger.debug('credentials refreshed', fields);
      this.failures = 0;
      this.lastError = undefined;
      this.scheduleRefresh();
      return true;
    } catch (err) {
      this.failures += 1;
      this.lastError = errorMessage(err);
      onFailure?.(this.side);
      logger.warn('credentials: fetching failed; retrying', {
        side: this.side,
        failures: this.failures,
        error: this.lastError,
        ...(this.held?.credentials.expiration
          ? { heldExpireAt: this.held.credentials.expiration.toISOString() }
          : {}),
      });
      return false;
    }
  }

  private scheduleRefresh(): void {
    const { credentials, obtainedAt } = this.held!;
    // Without an expiration (a profile's static keys) they are kept for the process's life.
    if (credentials.expiration === undefined || this.stopped) return;
    const at = refreshAt(obtainedAt, credentials.expiration.getTime());
    this.cancelTimer = this.clock.setTimer(() => this.refresh(), Math.max(0, at - this.clock.now()));
  }

  private refresh(): void {
    if (this.stopped) return;
    // attempt() never rejects: it turns every failure into false.
    // eslint-disable-next-line @typescript-eslint/no-floating-promises
    this.attempt().then((ok) => {
      if (ok || this.stopped) return;
      const delay = retryDelay(this.failures, this.clock.now(), this.held?.credentials.expiration?.getTime());
      this.cancelTimer = this.clock.setTimer(() => this.refresh(), delay);
    });
  }
}
