/**
 * undici's connection pool, the one part of undici the proxy runs, loaded from its own module: undici's
 * index also loads fetch, WebSocket, caches and mocks (types/dependency-parts.d.ts).
 */
import type { Pool as UndiciPool } from 'undici';
import DispatcherClass from 'undici/lib/dispatcher/dispatcher.js';
import PoolClass from 'undici/lib/dispatcher/pool.js';
import request from 'undici/lib/api/api-request.js';

// undici's index gives every dispatcher its API methods (`Object.assign(Dispatcher.prototype, api)`); the
// proxy calls one of them, `request`, so it does the same for that one.
Object.assign(DispatcherClass.prototype, { request });

export const Pool: typeof UndiciPool = PoolClass;
export type Pool = UndiciPool;
export type PoolOptions = UndiciPool.Options;
