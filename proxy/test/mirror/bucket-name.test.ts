import {
  DEFAULT_MIRROR_BUCKET_TEMPLATE,
  mirrorBucketFor,
  mirrorBucketNamer,
  mirrorBucketTemplateProblem,
} from '../../src/mirror/bucket-name';

describe('mirrorBucketFor', () => {
  test("the default template keeps main's name", () => {
    expect(mirrorBucketFor(DEFAULT_MIRROR_BUCKET_TEMPLATE, 'app-data')).toBe('app-data');
  });

  test.each([
    ['{bucket}-backup', 'app-data', 'app-data-backup'],
    ['backup-{bucket}', 'app-data', 'backup-app-data'],
    ['b.{bucket}.222', 'my.data', 'b.my.data.222'],
    // Replacement patterns of String.replace mean nothing here.
    ['{bucket}-bk', '$&x', '$&x-bk'],
  ])('%s maps %s to %s', (template, bucket, mirror) => {
    expect(mirrorBucketFor(template, bucket)).toBe(mirror);
    expect(mirrorBucketNamer(template)(bucket)).toBe(mirror);
  });
});

describe('mirrorBucketTemplateProblem', () => {
  test.each(['{bucket}', '{bucket}-backup', 'backup-{bucket}', 'x.{bucket}.y', `${'a'.repeat(60)}{bucket}`])(
    '%s is accepted',
    (template) => expect(mirrorBucketTemplateProblem(template)).toBeUndefined(),
  );

  test.each([
    ['', /exactly once/],
    ['backup', /exactly once/],
    ['{bucket}-{bucket}', /exactly once/],
    ['{Bucket}-bk', /exactly once/],
    ['{bucket}-Backup', /lowercase/],
    ['{bucket}_bk', /lowercase/],
    ['{bucket} bk', /lowercase/],
    ['-{bucket}', /start with a letter or digit/],
    ['.{bucket}', /start with a letter or digit/],
    ['{bucket}-', /end with a letter or digit/],
    ['{bucket}.', /end with a letter or digit/],
    ['{bucket}..bk', /'\.\.'/],
    [`${'a'.repeat(61)}{bucket}`, /no room/],
  ])('%s is refused (%s)', (template, problem) => {
    expect(mirrorBucketTemplateProblem(template)).toMatch(problem);
  });
});
