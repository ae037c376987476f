/**
 * The sidecar's one long-lived connection to the control database: every control statement and the
 * LISTEN for unattended work go over it, so an idle sidecar holds exactly one Postgres session and opens
 * none. After it breaks it is opened again in the background (with backoff) while someone listens, and
 * `onReconnected` says that notifications may have been missed meanwhile.
 */
import { Client, escapeIdentifier, type QueryResult, type QueryResultRow } from 'pg';

import type { Logger } from '../log';
import { backoffMs } from './backoff';

export interface ControlConnectionOptions {
  url: string;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  /** The session's application_name unless the URL (or PGAPPNAME) names one. */
  applicationName?: string;
  /** LISTENed once connected; each notification's payload goes to `onNotify`. */
  channel?: string;
  onNotify?(payload: string): void;
  onReconnected?(): void;
  /**
   * Creates the database if it does not exist: before this process's first connection, and when the server
   * says it does not exist (the connection is then tried again).
   */
  createDatabase?(): Promise<void>;
  /** Runs once per connection before any other statement (migrations). */
  prepare?(connection: Pick<Client, 'query'>): Promise<void>;
  logger: Logger;
}

/**
 * A login to a database that does not exist: 3D000 from Postgres; PgBouncer (1.18) answers it as 08P01 with
 * Postgres's message.
 */
export function isMissingDatabase(err: unknown): boolean {
  const { code, message } = err as { code?: string; message?: unknown };
  if (code === '3D000') return true;
  return code === '08P01' && typeof message === 'string' && /^database ".*" does not exist$/.test(message);
}

/** Errors after which the connection is not used again. */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === undefined || code.startsWith('08') || code.startsWith('57P');
}

export class ControlConnection {
  private client: Client | undefined;
  private opening: Promise<Client> | undefined;
  private reconnect: NodeJS.Timeout | undefined;
  private failures = 0;
  private everConnected = false;
  private closed = false;
  /** The statement last sent (or waiting to be): the next waits for it to settle. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ControlConnectionOptions) {}

  /** Connected and, with a channel, listening (notifications arrive). */
  get listening(): boolean {
    return this.client !== undefined && this.opts.channel !== undefined;
  }

  query<R extends QueryResultRow = QueryResultRow>(
    sql: string,
    params: unknown[] = [],
  ): Promise<QueryResult<R>> {
    // One statement at a time, in call order: pg queues concurrent ones itself, but that is deprecated
    // (removed in pg 9) and warns at every overlap.
    const run = this.queue.then(() => this.queryNow<R>(sql, params));
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async queryNow<R extends QueryResultRow>(sql: string, params: unknown[]): Promise<QueryResult<R>> {
    const client = await this.connect();
    try {
      return await client.query<R>(sql, params);
    } catch (err) {
      if (isConnectionError(err)) this.drop(client);
      throw err;
    }
  }

  /** Opens the connection now (and keeps it open while a channel is listened to). Never throws. */
  start(): void {
    this.connect().catch(() => this.scheduleReconnect());
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnect);
    const client = this.client ?? (await this.opening?.catch(() => undefined));
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private connect(): Promise<Client> {
    if (this.closed) return Promise.reject(new Error('the control connection is closed'));
    if (this.client) return Promise.resolve(this.client);
    this.opening ??= this.open().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async open(): Promise<Client> {
    // Not by trying a login first: PgBouncer holds every login to a database after a failed one for
    // server_login_retry (15 s by default), longer than the connect timeout.
    if (!this.everConnected) await this.opts.createDatabase?.();
    try {
      return await this.openOnce();
    } catch (err) {
      if (!isMissingDatabase(err) || !this.opts.createDatabase) throw err;
      await this.opts.createDatabase();
      return this.openOnce();
    }
  }

  private async openOnce(): Promise<Client> {
    const { opts } = this;
    const client = new Client({
      connectionString: opts.url,
      connectionTimeoutMillis: opts.connectTimeoutMs,
      query_timeout: opts.queryTimeoutMs,
      ...(opts.applicationName ? { fallback_application_name: opts.applicationName } : {}),
      keepAlive: true,
    });
    // Before connect(): a server going down can send its error in the same read as the handshake.
    client.on('error', (err) => {
      opts.logger.debug('control connection error', { error: err.message });
      this.drop(client);
    });
    client.on('end', () => this.drop(client));
    client.on('notification', (msg) => {
      if (msg.channel === opts.channel && msg.payload) opts.onNotify?.(msg.payload);
    });
    try {
      await client.connect();
      await opts.prepare?.(client);
      if (opts.channel) await client.query(`LISTEN ${escapeIdentifier(opts.channel)}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      throw new Error('the control connection is closed');
    }
    this.client = client;
    this.failures = 0;
    if (this.everConnected) opts.onReconnected?.();
    this.everConnected = true;
    return client;
  }

  private drop(client: Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    this.scheduleReconnect();
  }

  /** While listening, a broken connection is opened again in the background: notifications resume. */
  private scheduleReconnect(): void {
    if (this.closed || !this.opts.channel || this.reconnect) return;
    this.failures++;
    this.reconnect = setTimeout(
      () => {
        this.reconnect = undefined;
        this.connect().catch(() => this.scheduleReconnect());
      },
      backoffMs(this.failures, { baseMs: 500, maxMs: 10_000 }),
    );
    this.reconnect.unref();
  }
}
