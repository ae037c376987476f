import type { Logger } from '../log';
import type { ProxyMetrics } from '../metrics';
import { sdkFetch } from './providers';
import type { CredentialSetting } from './setting';
import {
  RefreshingCredentials,
  staticCredentials,
  systemClock,
  type CredentialHooks,
  type CredentialSource,
  type Side,
} from './source';

export type { CredentialSetting } from './setting';
export { credentialSettingFrom } from './setting';
export * from './source';

/** Builds nothing but the object: no fetch until start(). */
export function credentialSourceFor(
  setting: CredentialSetting,
  side: Side,
  region: string,
): CredentialSource {
  if (setting.kind === 'static' && setting.roleArn === undefined) {
    return staticCredentials(side, {
      accessKeyId: setting.accessKeyId,
      secretAccessKey: setting.secretAccessKey,
    });
  }
  return new RefreshingCredentials(
    side,
    (hooks: CredentialHooks) => sdkFetch(setting, side, region, hooks),
    systemClock,
    { configuredSecrets: setting.kind === 'static' ? [setting.secretAccessKey] : [] },
  );
}

/** The values the log redactor hides: the configured secrets, and what each holder fetched lately. */
export interface FetchedSecrets {
  /** For createLogger: read at every line. */
  values(): readonly string[];
  /** For startCredentials: a holder's newest set; its previous one stays redacted too (requests in flight). */
  add(holder: string, secrets: readonly string[]): void;
}

export function fetchedSecrets(configured: readonly string[]): FetchedSecrets {
  const fetched = new Map<string, string[]>();
  let all: readonly string[] = configured;
  return {
    values: () => all,
    add(holder, secrets) {
      const current = secrets.filter((s) => s.length > 0);
      fetched.set(holder, [...current, ...(fetched.get(holder) ?? [])].slice(0, 2 * current.length || 4));
      all = [...configured, ...[...fetched.values()].flat()];
    },
  };
}

/**
 * Fetches both sides' credentials (each retried until it works) and keeps them fresh, with failures and
 * expirations counted in `metrics`; `onSecrets` gets each fetched secret key and session token (a
 * FetchedSecrets' add, whose values() the logger redacts). The proxy and every CLI that signs start here.
 */
export async function startCredentials(
  sources: readonly CredentialSource[],
  logger: Logger,
  metrics?: Pick<ProxyMetrics, 'credentialsRefreshFailures' | 'credentialsExpiry'>,
  onSecrets?: (holder: string, secrets: readonly string[]) => void,
): Promise<void> {
  // Both sides show 0 failures from the start, so a rate() or an alert sees the first one.
  for (const source of sources) metrics?.credentialsRefreshFailures.inc({ side: source.side }, 0);
  const hooks: CredentialHooks = {
    logger,
    onFailure: (side) => metrics?.credentialsRefreshFailures.inc({ side }),
    onResolved: (side, credentials) => {
      if (credentials.expiration)
        metrics?.credentialsExpiry.set({ side }, credentials.expiration.getTime() / 1000);
    },
    ...(onSecrets ? { onSecrets } : {}),
  };
  await Promise.all(sources.map((source) => source.start(hooks)));
}
