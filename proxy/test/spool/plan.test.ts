import { spoolFileNames, spoolSkipReason } from '../../src/spool/plan';

describe('spoolSkipReason', () => {
  test('a declared length is spooled', () => {
    expect(spoolSkipReason({}, 0)).toBeUndefined();
    expect(spoolSkipReason({ 'content-type': 'text/plain' }, 1234)).toBeUndefined();
  });

  test('SSE-C bodies are never spooled (main stores ciphertext; plaintext stays off local disk)', () => {
    expect(spoolSkipReason({ 'x-amz-server-side-encryption-customer-algorithm': 'AES256' }, 10)).toBe(
      'encrypted',
    );
  });

  test('no usable length: not spooled', () => {
    expect(spoolSkipReason({}, undefined)).toBe('unknown_length');
    expect(spoolSkipReason({}, -1)).toBe('unknown_length');
    expect(spoolSkipReason({}, Number.MAX_SAFE_INTEGER + 2)).toBe('unknown_length');
  });
});

test('a file is .part until it is complete, then .body', () => {
  expect(spoolFileNames('ab12', 7)).toEqual({ part: 'ab12-7.part', body: 'ab12-7.body' });
});
