import { s3Errors } from './errors';
import { fieldValue, formField, type FormField } from './post-form';

/**
 * Re-signing a browser form upload for main. The app's form carries its own credential and signature
 * (SigV4, or SigV2's AWSAccessKeyId and signature); the proxy swaps them for main's, in the fields and in
 * the policy's conditions (S3 requires each field to match one), and signs the new policy. Pure: the
 * signature comes from the injected `sign`.
 */

/** Form fields that authenticate the form, in either signature version. Lower case. */
const AUTH_FIELDS: ReadonlySet<string> = new Set([
  'awsaccesskeyid',
  'signature',
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-signature',
  'x-amz-security-token',
]);

/** Main's credential for a policy signed now. */
export interface PolicyCredential {
  credential: string;
  amzDate: string;
  /** The session token of temporary credentials: a form field, and a condition of the policy. */
  securityToken?: string;
}

type Condition = Record<string, unknown> | unknown[];

function isAuthCondition(condition: Condition): boolean {
  if (Array.isArray(condition)) {
    const field = condition[1];
    return typeof field === 'string' && AUTH_FIELDS.has(field.replace(/^\$/, '').toLowerCase());
  }
  return Object.keys(condition).some((name) => AUTH_FIELDS.has(name.toLowerCase()));
}

function parsePolicy(base64: string): { conditions: Condition[] } & Record<string, unknown> {
  let policy: unknown;
  try {
    policy = JSON.parse(Buffer.from(base64, 'base64').toString('utf8'));
  } catch {
    throw s3Errors.invalidPolicyDocument();
  }
  if (
    typeof policy !== 'object' ||
    policy === null ||
    !Array.isArray((policy as { conditions?: unknown }).conditions)
  )
    throw s3Errors.invalidPolicyDocument('Invalid Policy: Policy missing conditions.');
  return policy as { conditions: Condition[] } & Record<string, unknown>;
}

/** The policy with the app's credential conditions replaced by main's, as base64. */
export function resignedPolicy(base64: string, credential: PolicyCredential): string {
  const policy = parsePolicy(base64);
  policy.conditions = [
    ...policy.conditions.filter((c) => !isAuthCondition(c)),
    { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
    { 'x-amz-credential': credential.credential },
    { 'x-amz-date': credential.amzDate },
    ...(credential.securityToken !== undefined ? [{ 'x-amz-security-token': credential.securityToken }] : []),
  ];
  return Buffer.from(JSON.stringify(policy), 'utf8').toString('base64');
}

/**
 * The form's fields signed for main. A form without a policy is anonymous, direct or through the proxy:
 * it is left as it is.
 */
export function resignFormFields(
  fields: readonly FormField[],
  credential: PolicyCredential,
  sign: (policyBase64: string) => string,
): FormField[] {
  const policy = fieldValue(fields, 'policy');
  if (policy === undefined) return [...fields];
  const newPolicy = resignedPolicy(policy.trim(), credential);
  return [
    ...fields.filter((f) => !AUTH_FIELDS.has(f.name.toLowerCase()) && f.name.toLowerCase() !== 'policy'),
    formField('policy', newPolicy),
    formField('x-amz-algorithm', 'AWS4-HMAC-SHA256'),
    formField('x-amz-credential', credential.credential),
    formField('x-amz-date', credential.amzDate),
    ...(credential.securityToken !== undefined
      ? [formField('x-amz-security-token', credential.securityToken)]
      : []),
    formField('x-amz-signature', sign(newPolicy)),
  ];
}

/** The object key the upload writes: the `key` field, with `${filename}` replaced as S3 does. */
export function formObjectKey(
  fields: readonly FormField[],
  filename: string | undefined,
): string | undefined {
  const key = fieldValue(fields, 'key');
  return key === undefined ? undefined : key.replace('${filename}', filename ?? '');
}
