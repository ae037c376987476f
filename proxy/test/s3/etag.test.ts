import { md5OfEtag, sameEtag } from '../../src/s3/etag';

describe('sameEtag', () => {
  test('ignores quotes and hex case, but not content', () => {
    expect(sameEtag('"0cc175b9c0f1b6a831c399e269772661"', '0CC175B9C0F1B6A831C399E269772661')).toBe(true);
    expect(sameEtag('"abc-2"', '"abc-2"')).toBe(true);
    expect(sameEtag('"abc-2"', '"abc-3"')).toBe(false);
    expect(sameEtag('"a"', '"b"')).toBe(false);
  });

  test('an absent or empty ETag never matches (RGW answers some calls with an empty one)', () => {
    expect(sameEtag(undefined, '"a"')).toBe(false);
    expect(sameEtag('"a"', undefined)).toBe(false);
    expect(sameEtag('""', '""')).toBe(false);
  });
});

describe('md5OfEtag', () => {
  test('a single-part ETag is the MD5 of the bytes', () => {
    expect(md5OfEtag('"0CC175B9C0F1B6A831C399E269772661"')).toBe('0cc175b9c0f1b6a831c399e269772661');
    expect(md5OfEtag('0cc175b9c0f1b6a831c399e269772661', 'AES256')).toBe('0cc175b9c0f1b6a831c399e269772661');
  });

  test('multipart, SSE-KMS and odd ETags name no MD5', () => {
    expect(md5OfEtag('"0cc175b9c0f1b6a831c399e269772661-3"')).toBeUndefined();
    expect(md5OfEtag('"0cc175b9c0f1b6a831c399e269772661"', 'aws:kms')).toBeUndefined();
    expect(md5OfEtag('"0cc175b9c0f1b6a831c399e269772661"', 'aws:kms:dsse')).toBeUndefined();
    expect(md5OfEtag('"xyz"')).toBeUndefined();
    expect(md5OfEtag(undefined)).toBeUndefined();
  });
});
