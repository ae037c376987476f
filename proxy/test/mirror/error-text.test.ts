import { errorText } from '../../src/mirror/s3';

describe('errorText', () => {
  test('name and message, bounded', () => {
    expect(errorText(new TypeError('bad'))).toBe('TypeError: bad');
    expect(errorText(new Error('x'.repeat(5000)))).toHaveLength(1000);
    expect(errorText('plain')).toBe('Error: plain');
  });

  test('a Postgres refusal at max_connections says where the connection budget is explained', () => {
    const refused = Object.assign(new Error('sorry, too many clients already'), {
      name: 'error',
      code: '53300',
    });
    expect(errorText(refused)).toBe(
      'error: sorry, too many clients already (Postgres max_connections reached: see "Connection budget" in ' +
        'docs/inventory-and-mirroring.md (PgBouncer))',
    );
    // Other codes (a Node socket error, another SQLSTATE) get no hint.
    expect(errorText(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe('Error: refused');
    expect(errorText(Object.assign(new Error('x'), { code: 'toString' }))).toBe('Error: x');
  });
});
