import fc from 'fast-check';

import { S3Error } from '../../src/s3/errors';
import { formBoundary, renderFormPrefix, scanFormPrefix } from '../../src/s3/post-form';

const B = 'XyZ123';
const field = (name: string, value: string) =>
  `--${B}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
const fileHead = `--${B}\r\nContent-Disposition: form-data; name="file"; filename="résumé.txt"\r\nContent-Type: text/plain\r\n\r\n`;
const form =
  field('key', 'up/${filename}') + field('policy', 'cG9saWN5') + fileHead + 'FILE BYTES\r\n' + `--${B}--\r\n`;

describe('formBoundary', () => {
  test.each([
    ['multipart/form-data; boundary=abc', 'abc'],
    ['multipart/form-data; charset=utf-8; boundary="a b"', 'a b'],
    ['Multipart/Form-Data;boundary=x', 'x'],
    ['application/xml', undefined],
    [undefined, undefined],
  ])('%s', (type, boundary) => expect(formBoundary(type)).toBe(boundary));
});

describe('scanFormPrefix', () => {
  test('reads the fields before the file and stops at the file part, whose bytes stay unread', () => {
    const body = Buffer.from(form, 'utf8');
    const prefix = scanFormPrefix(body, B)!;
    expect(prefix.fields.map((f) => [f.name, f.value.toString()])).toEqual([
      ['key', 'up/${filename}'],
      ['policy', 'cG9saWN5'],
    ]);
    expect(prefix.filename).toBe('résumé.txt');
    expect(body.subarray(prefix.consumed).toString()).toBe(`FILE BYTES\r\n--${B}--\r\n`);
    // Rendering the same fields gives back the same bytes.
    expect(
      renderFormPrefix(prefix.fields, prefix.fileHead, B).equals(body.subarray(0, prefix.consumed)),
    ).toBe(true);
  });

  test('property: any split of the body asks for more until the file head is in, then gives the same answer', () => {
    const body = Buffer.from(form, 'utf8');
    const whole = scanFormPrefix(body, B)!;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: body.length }), (cut) => {
        const part = scanFormPrefix(body.subarray(0, cut), B);
        if (cut < whole.consumed) expect(part).toBeUndefined();
        else expect(part?.consumed).toBe(whole.consumed);
      }),
    );
  });

  test.each([
    ['a form that ends before any file', field('key', 'k') + `--${B}--\r\n`],
    ['a part without a name', `--${B}\r\nContent-Type: text/plain\r\n\r\nx\r\n` + fileHead],
  ])('%s is MalformedPOSTRequest', (_name, text) => {
    expect(() => scanFormPrefix(Buffer.from(text), B)).toThrow(S3Error);
    try {
      scanFormPrefix(Buffer.from(text), B);
    } catch (err) {
      expect((err as S3Error).code).toBe('MalformedPOSTRequest');
    }
  });
});
