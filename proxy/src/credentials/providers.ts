/** The AWS SDK's maintained credential providers, for a side that has no static keys (or assumes a role). */
import { fromNodeProviderChain, fromTemporaryCredentials } from '@aws-sdk/credential-providers';

import type { Logger } from '../log';
import { sdkLogger } from '../sdk-logger';
import type { CredentialSetting } from './setting';
import type { FetchCredentials, Side } from './source';

/**
 * A fetch of fresh credentials for `setting`: the default chain (env, SSO, profile, process, web identity
 * token file, container credentials, IMDSv2) asked to refresh each time, then AssumeRole on top when the
 * setting names a role.
 */
export function sdkFetch(
  setting: CredentialSetting,
  side: Side,
  region: string,
  logger: Logger,
): FetchCredentials {
  const sdk = sdkLogger(logger);
  const base =
    setting.kind === 'static'
      ? { accessKeyId: setting.accessKeyId, secretAccessKey: setting.secretAccessKey }
      : fromNodeProviderChain({ logger: sdk });
  if (setting.roleArn === undefined) {
    if (typeof base !== 'function') return () => Promise.resolve(base);
    // The chain memoizes; the source decides when to fetch, so every call is a real one.
    return () => base({ forceRefresh: true });
  }
  // Not memoized by the SDK: each call is one AssumeRole, signed with the base identity (which the STS
  // client memoizes and refreshes itself).
  return fromTemporaryCredentials({
    masterCredentials: base,
    params: { RoleArn: setting.roleArn, RoleSessionName: `s3-mirror-${side}` },
    clientConfig: { region },
    logger: sdk,
  });
}
