import { DeleteRequestKeys, failedKeys } from '../../src/tracking/delete-request';

const body = (keys: string[], quiet = false): string =>
  `<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
  (quiet ? '<Quiet>true</Quiet>' : '') +
  keys.map((k) => `<Object><Key>${k}</Key><VersionId>v1</VersionId></Object>`).join('') +
  '</Delete>';

function read(text: string, chunkBytes: number): DeleteRequestKeys {
  const scanner = new DeleteRequestKeys();
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += chunkBytes) scanner.push(bytes.subarray(i, i + chunkBytes));
  scanner.end();
  return scanner;
}

test.each([1, 3, 7, 64, 100_000])(
  'keys and quiet mode, whatever the chunking (%i-byte chunks, split UTF-8 and entities)',
  (chunkBytes) => {
    const scanner = read(body(['q', 'ünï/cødé', 'a&amp;b &lt;c&gt;', '&#x4e2d;'], true), chunkBytes);
    expect(scanner.quiet).toBe(true);
    expect(scanner.keys).toEqual(['q', 'ünï/cødé', 'a&b <c>', '中']);
    expect(scanner.overflow).toBe(false);
  },
);

test('verbose mode is not quiet; <Quiet>false</Quiet> neither', () => {
  expect(read(body(['k']), 5).quiet).toBe(false);
  expect(read(body(['k']).replace('<Object>', '<Quiet>false</Quiet><Object>'), 5).quiet).toBe(false);
});

test('more keys than S3 accepts: nothing is taken from the request (main refuses it)', () => {
  const keys = Array.from({ length: 1001 }, (_, i) => `k${i}`);
  const scanner = read(body(keys), 4096);
  expect(scanner.overflow).toBe(true);
  expect(scanner.keys).toEqual([]);
});

test('an endless unfinished element is cut off, memory stays bounded', () => {
  const scanner = new DeleteRequestKeys();
  scanner.push(Buffer.from('<Delete><Object><Key>'));
  for (let i = 0; i < 100; i++) scanner.push(Buffer.alloc(1024, 'x'));
  expect(scanner.overflow).toBe(true);
});

test('failed keys of a DeleteObjects result', () => {
  const result =
    '<DeleteResult><Deleted><Key>ok</Key></Deleted>' +
    '<Error><Key>no&amp;pe</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>';
  expect([...failedKeys(result)]).toEqual(['no&pe']);
});
