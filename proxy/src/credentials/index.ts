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
    (logger: Logger) => sdkFetch(setting, side, region, logger),
    systemClock,
    setting.kind === 'static' ? [setting.secretAccessKey] : [],
  );
}

/**
 * Fetches both sides' credentials (each retried until it works) and keeps them fresh, with failures and
 * expirations counted in `metrics`; `onSecrets` gets each fetched secret key and session token.
 */
export async function startCredentials(
  sources: readonly CredentialSource[],
  logger: Logger,
  metrics?: Pick<ProxyMetrics, 'credentialsRefreshFailures' | 'credentialsExpiry'>,
  onSecrets?: (side: Side, secrets: string[]) => void,
): Promise<void> {
  const hooks: CredentialHooks = {
    logger,
    onFailure: (side) => metrics?.credentialsRefreshFailures.inc({ side }),
    onResolved: (side, credentials) => {
      onSecrets?.(side, [credentials.secretAccessKey, credentials.sessionToken ?? '']);
      if (credentials.expiration)
        metrics?.credentialsExpiry.set({ side }, credentials.expiration.getTime() / 1000);
    },
  };
  await Promise.all(sources.map((source) => source.start(hooks)));
}
