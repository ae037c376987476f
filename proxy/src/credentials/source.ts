/**
 * A side's credentials held for the hot path: `current()` never waits. Temporary credentials are fetched
 * again in the background before they expire; a failed fetch is retried with backoff while the ones in
 * hand keep signing.
 */
import type { Logger } from '../log';
import { expiresTooSoon, refreshAt, retryDelay } from './refresh-timing';

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
  /** Called with each set held (the expiry metric). */
  onResolved?(side: Side, credentials: Credentials): void;
  /**
   * Called with every fetched secret (secret key, session token) before anything could log it: the log
   * redactor. `holder` names whose they are: a side, or "<side> base identity" (what signs AssumeRole).
   */
  onSecrets?(holder: string, secrets: readonly string[]): void;
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

/** A fetch that has not answered after this long is a failed one (retried); its late answer is dropped. */
export const FETCH_TIMEOUT_MS = 30_000;

export interface RefreshingOptions {
  /** Secrets known from the configuration (a static base identity's key), for the log redactor. */
  configuredSecrets?: readonly string[];
  /** FETCH_TIMEOUT_MS unless a test shortens it. */
  fetchTimeoutMs?: number;
}

const errorMessage = (err: unknown): string =>
  (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).slice(0, 500);

export class RefreshingCredentials implements CredentialSource {
  private held: { credentials: Credentials; obtainedAt: number } | undefined;
  private fetch: FetchCredentials | undefined;
  private hooks: CredentialHooks | undefined;
  private failures = 0;
  private lastError: string | undefined;
  private cancelTimer: (() => void) | undefined;
  /** Ends the wait before a retry at start, or the fetch in flight: stop() must not leave start() hanging. */
  private interrupt: (() => void) | undefined;
  private stopped = false;
  /** Secrets fetched lately (this side's and its base identity's), scrubbed from error messages. */
  private seen: string[] = [];
  readonly configuredSecrets: readonly string[];
  private readonly fetchTimeoutMs: number;

  /** `makeFetch` is called once, at start, with the hooks (the SDK's providers log through the logger). */
  constructor(
    readonly side: Side,
    private readonly makeFetch: (hooks: CredentialHooks) => FetchCredentials,
    private readonly clock: Clock = systemClock,
    options: RefreshingOptions = {},
  ) {
    this.configuredSecrets = options.configuredSecrets ?? [];
    this.fetchTimeoutMs = options.fetchTimeoutMs ?? FETCH_TIMEOUT_MS;
  }

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
    // The secrets this side saw are kept out of its own error text too (the log line and /readyz's reason).
    this.hooks = {
      ...hooks,
      onSecrets: (holder, secrets) => {
        this.seen = [...secrets.filter((v) => v.length >= 4), ...this.seen].slice(0, 8);
        hooks.onSecrets?.(holder, secrets);
      },
    };
    this.fetch = this.makeFetch(this.hooks);
    for (;;) {
      const ok = await this.attempt();
      if (this.stopped) throw new Error(`${this.side} credentials: stopped before they were resolved`);
      if (ok) return;
      await new Promise<void>((resolve) => {
        this.interrupt = resolve;
        // Kept alive: at start nothing else holds the process open, and it must not exit while it waits.
        this.cancelTimer = this.clock.setTimer(
          resolve,
          retryDelay(this.failures, this.clock.now(), undefined),
          true,
        );
      });
      this.interrupt = undefined;
    }
  }

  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
    this.interrupt?.();
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

  /**
   * The fetch, failed after fetchTimeoutMs (a hung endpoint must not stall refreshing for good) or when
   * stop() is called. Its timer holds the process open only at start, as the wait between tries does.
   */
  private fetchWithTimeout(): Promise<Credentials> {
    return new Promise<Credentials>((resolve, reject) => {
      let done = false;
      // Only the first outcome counts: a late answer after the timeout must not touch a later try's state.
      const settle = (outcome: () => void): void => {
        if (done) return;
        done = true;
        cancel();
        this.interrupt = undefined;
        outcome();
      };
      const cancel = this.clock.setTimer(
        () => settle(() => reject(new Error(`no answer within ${this.fetchTimeoutMs} ms`))),
        this.fetchTimeoutMs,
        this.held === undefined,
      );
      this.interrupt = () => settle(() => reject(new Error('stopped')));
      let fetching: Promise<Credentials>;
      try {
        fetching = this.fetch!();
      } catch (err) {
        fetching = Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      fetching.then(
        (credentials) => settle(() => resolve(credentials)),
        (err: unknown) => settle(() => reject(err instanceof Error ? err : new Error(String(err)))),
      );
    });
  }

  /** One fetch; on success the next refresh is scheduled. False when it failed. */
  private async attempt(): Promise<boolean> {
    const { logger, onFailure, onResolved, onSecrets } = this.hooks!;
    try {
      const credentials = await this.fetchWithTimeout();
      onSecrets?.(this.side, [credentials.secretAccessKey, credentials.sessionToken ?? '']);
      if (this.stopped) return false;
      const expiration = credentials.expiration?.getTime();
      if (expiration !== undefined && expiresTooSoon(this.clock.now(), expiration)) {
        throw new Error(
          `the credentials fetched expire at ${new Date(expiration).toISOString()}, too soon to be used`,
        );
      }
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
      if (this.stopped) return false;
      this.failures += 1;
      let message = errorMessage(err);
      for (const secret of [...this.seen, ...this.configuredSecrets])
        if (secret.length >= 4) message = message.split(secret).join('[REDACTED]');
      this.lastError = message;
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
