/** The AWS SDK's maintained credential providers, for a side that has no static keys (or assumes a role). */
import type * as CredentialProviders from '@aws-sdk/credential-providers';

import { sdkLogger } from '../sdk-logger';
import type { CredentialSetting } from './setting';
import type { CredentialHooks, FetchCredentials, Side } from './source';

/**
 * Bounds on one HTTP exchange of the SDK's STS clients (AssumeRole; AssumeRoleWithWebIdentity and a
 * profile's role inside the chain): without them a hung STS connection would never answer. The source
 * races every fetch against its own timeout as well (FETCH_TIMEOUT_MS).
 */
export const STS_REQUEST_HANDLER = { connectionTimeout: 5_000, requestTimeout: 10_000 };
/** The container credentials endpoint and IMDS (the SDK's default: 1 s, no retry). */
export const REMOTE_PROVIDER = { timeout: 5_000, maxRetries: 1 };

/**
 * Loaded only for a side that needs it (no static keys, or a role): most sidecars run on static keys and
 * never do. `require` for the reason in mirror/s3-sdk.ts.
 */
function providers(): typeof CredentialProviders {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return require('@aws-sdk/credential-providers') as typeof CredentialProviders;
}

/**
 * A fetch of fresh credentials for `setting`: the default chain (env, SSO, profile, process, web identity
 * token file, container credentials, IMDSv2) asked to refresh each time, then AssumeRole on top when the
 * setting names a role. The chain's credentials that sign AssumeRole go through `hooks.onSecrets` (as
 * "<side> base identity") before the STS client uses them, so the log redactor knows them too.
 */
export function sdkFetch(
  setting: CredentialSetting,
  side: Side,
  region: string,
  hooks: CredentialHooks,
): FetchCredentials {
  if (setting.roleArn === undefined && setting.kind === 'static') {
    const keys = { accessKeyId: setting.accessKeyId, secretAccessKey: setting.secretAccessKey };
    return () => Promise.resolve(keys);
  }
  const { fromNodeProviderChain, fromTemporaryCredentials } = providers();
  const sdk = sdkLogger(hooks.logger);
  const chain =
    setting.kind === 'chain'
      ? fromNodeProviderChain({
          logger: sdk,
          ...REMOTE_PROVIDER,
          clientConfig: { requestHandler: STS_REQUEST_HANDLER },
        })
      : undefined;
  if (setting.roleArn === undefined) {
    // The chain memoizes; the source decides when to fetch, so every call is a real one.
    return () => chain!({ forceRefresh: true });
  }
  const base =
    setting.kind === 'static'
      ? // Static keys: known to the redactor from the configuration.
        { accessKeyId: setting.accessKeyId, secretAccessKey: setting.secretAccessKey }
      : async () => {
          const credentials = await chain!();
          hooks.onSecrets?.(`${side} base identity`, [
            credentials.secretAccessKey,
            credentials.sessionToken ?? '',
          ]);
          return credentials;
        };
  // Not memoized by the SDK: each call is one AssumeRole, signed with the base identity (which the STS
  // client memoizes and refreshes itself).
  return fromTemporaryCredentials({
    masterCredentials: base,
    params: { RoleArn: setting.roleArn, RoleSessionName: `s3-mirror-${side}` },
    clientConfig: { region, requestHandler: STS_REQUEST_HANDLER },
    logger: sdk,
  });
}
