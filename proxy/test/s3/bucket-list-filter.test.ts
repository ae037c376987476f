import { filterBucketList } from '../../src/s3/bucket-list-filter';

const listing = (names: string[]): string =>
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
  '<Owner><ID>owner-id</ID><DisplayName>main</DisplayName></Owner><Buckets>' +
  names
    .map((n) => `<Bucket><Name>${n}</Name><CreationDate>2026-11-25T00:00:00.000Z</CreationDate></Bucket>`)
    .join('\n') +
  '</Buckets></ListAllMyBucketsResult>';

const namesIn = (xml: string): string[] => [...xml.matchAll(/<Name>([^<]*)<\/Name>/g)].map((m) => m[1]!);

test('keeps only the allowed buckets, and everything around them', () => {
  const out = filterBucketList(listing(['billing', 'photos', 'photos-archive', 'secrets.prod']), [
    'photos',
    'secrets.dev',
  ]);
  expect(namesIn(out)).toEqual(['photos']);
  expect(out).toContain('<Owner><ID>owner-id</ID><DisplayName>main</DisplayName></Owner>');
  expect(out).toMatch(/<Buckets><Bucket><Name>photos<\/Name><CreationDate>[^<]+<\/CreationDate><\/Bucket>/);
  expect(out.endsWith('</Buckets></ListAllMyBucketsResult>')).toBe(true);
});

test('nothing allowed in the listing: an empty Buckets element, still a valid document', () => {
  const out = filterBucketList(listing(['a-bucket', 'b-bucket']), ['c-bucket']);
  expect(namesIn(out)).toEqual([]);
  expect(out).toContain('<Buckets></Buckets>');
});

test('the Buckets wrapper and a prefix match are never mistaken for an entry', () => {
  const out = filterBucketList(listing(['logs', 'logs2']), ['logs2']);
  expect(namesIn(out)).toEqual(['logs2']);
  expect(out).toContain('<Buckets>');
});

test('entity-encoded names are compared as text', () => {
  const xml = listing(['a&amp;b']);
  expect(namesIn(filterBucketList(xml, ['a&b']))).toEqual(['a&amp;b']);
  expect(namesIn(filterBucketList(xml, ['a&amp;b']))).toEqual([]);
});
