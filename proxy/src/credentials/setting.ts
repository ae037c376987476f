/** Which credentials one side (main or mirror) signs with, read from the environment. Pure. */
import { ConfigError } from '../config-error';

export type CredentialSetting =
  /** The seed's static keys; with a role ARN, the base identity that assumes it. */
  | { kind: 'static'; accessKeyId: string; secretAccessKey: string; roleArn?: string }
  /** The AWS default chain (IRSA, Pod Identity, ECS, IMDSv2, profile); optionally a role assumed on top. */
  | { kind: 'chain'; roleArn?: string };

/** The variables one side reads, named in full so that each appears literally where config is read. */
export interface CredentialVariables {
  accessKey: string;
  secretKey: string;
  roleArn: string;
}

type Env = Record<string, string | undefined>;

const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;

function value(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === '' ? undefined : raw;
}

/**
 * Static keys when both of the pair are set, the default chain when neither is; one of the two alone is a
 * mistake (a half-rotated Secret, a typo), never a silent fall-back to another identity.
 */
export function credentialSettingFrom(env: Env, names: CredentialVariables): CredentialSetting {
  const accessKeyId = value(env, names.accessKey);
  const secretAccessKey = value(env, names.secretKey);
  const roleArn = value(env, names.roleArn);
  if (roleArn !== undefined && !ROLE_ARN.test(roleArn)) {
    throw new ConfigError(names.roleArn, 'must be an IAM role ARN, e.g. arn:aws:iam::123456789012:role/name');
  }
  const role = roleArn !== undefined ? { roleArn } : {};
  if (accessKeyId !== undefined && secretAccessKey !== undefined) {
    return { kind: 'static', accessKeyId, secretAccessKey, ...role };
  }
  if (accessKeyId !== undefined) {
    throw new ConfigError(names.secretKey, `is required when ${names.accessKey} is set`);
  }
  if (secretAccessKey !== undefined) {
    throw new ConfigError(names.accessKey, `is required when ${names.secretKey} is set`);
  }
  return { kind: 'chain', ...role };
}
