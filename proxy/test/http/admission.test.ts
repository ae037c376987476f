import { checkAllowed, checkMethod } from '../../src/http/admission';
import { S3Error } from '../../src/s3/errors';
import { parseRequestTarget } from '../../src/s3/request-target';

const target = (url: string) =>
  parseRequestTarget({ rawUrl: url, host: '127.0.0.1:8080', virtualHostBases: [] });

test('methods S3 has no use for are refused with MethodNotAllowed', () => {
  for (const m of ['CONNECT', 'TRACE', 'OPTIONS']) {
    expect(() => checkMethod(m)).toThrow(expect.objectContaining({ code: 'MethodNotAllowed' }) as Error);
  }
  for (const m of ['GET', 'PUT', 'POST', 'DELETE', 'HEAD']) expect(() => checkMethod(m)).not.toThrow();
});

test('the allow-list covers the target bucket and a copy’s source bucket', () => {
  const config = { allowedBuckets: ['app'] };
  expect(() => checkAllowed(config, target('/app/k'), {})).not.toThrow();
  expect(() => checkAllowed(config, target('/other/k'), {})).toThrow(S3Error);
  expect(() => checkAllowed(config, target('/app/k'), { 'x-amz-copy-source': '/other/src' })).toThrow(
    /not allowed to copy/,
  );
  expect(() => checkAllowed(config, target('/app/k'), { 'x-amz-copy-source': 'app/src' })).not.toThrow();
  // No allow-list: everything passes.
  expect(() =>
    checkAllowed({ allowedBuckets: [] }, target('/other/k'), { 'x-amz-copy-source': '/x/y' }),
  ).not.toThrow();
});
