import { applyPatch, deepClone, getValueByPointer } from 'fast-json-patch';
import {
  appendAllToArray,
  appendToArray,
  escapePointerToken,
  pointer,
  prependToArray,
  setMapEntry,
} from '../src/json-patch';

test.each([
  ['s3-mirror.io/status', 's3-mirror.io~1status'],
  ['a~b', 'a~0b'],
  ['~1', '~01'], // ~ first, or "~1" would turn into "/" on the way back
  ['/~/', '~1~0~1'],
  ['plain', 'plain'],
])('escapes %j as %j, and the pointer resolves to the right key', (key, escaped) => {
  expect(escapePointerToken(key)).toBe(escaped);
  const doc = { m: { [key]: 'v' } };
  expect(getValueByPointer(doc, `/m/${escaped}`)).toBe('v');
  expect(pointer('m', key)).toBe(`/m/${escaped}`);
});

test('setMapEntry creates a missing or null map, else adds one escaped key', () => {
  for (const existing of [undefined, null]) {
    const op = setMapEntry('/metadata/annotations', existing, 'a/b', 'x');
    const doc = applyPatch({ metadata: { annotations: existing } }, [op as never], true, false).newDocument;
    expect(doc.metadata.annotations).toEqual({ 'a/b': 'x' });
  }
  const doc = applyPatch(
    { metadata: { annotations: { k: 'v' } } },
    [setMapEntry('/metadata/annotations', { k: 'v' }, 'a~/b', 'x') as never],
    true,
    false,
  ).newDocument;
  expect(doc.metadata.annotations).toEqual({ k: 'v', 'a~/b': 'x' });
});

test('array helpers create missing arrays, append and prepend', () => {
  const base = { spec: { list: [1, 2] } as { list?: number[] } };
  expect(
    applyPatch(deepClone(base), [appendToArray('/spec/list', base.spec.list, 3) as never]).newDocument.spec
      .list,
  ).toEqual([1, 2, 3]);
  expect(
    applyPatch(deepClone(base), [prependToArray('/spec/list', base.spec.list, 0) as never]).newDocument.spec
      .list,
  ).toEqual([0, 1, 2]);
  const empty = { spec: {} as { list?: number[] } };
  expect(
    applyPatch(deepClone(empty), [appendToArray('/spec/list', undefined, 3) as never], true).newDocument.spec
      .list,
  ).toEqual([3]);
  expect(
    applyPatch(deepClone(empty), [prependToArray('/spec/list', undefined, 3) as never], true).newDocument.spec
      .list,
  ).toEqual([3]);
  expect(
    applyPatch(deepClone(empty), appendAllToArray('/spec/list', undefined, [1, 2]) as never[], true)
      .newDocument.spec.list,
  ).toEqual([1, 2]);
  expect(appendAllToArray('/spec/list', undefined, [])).toEqual([]);
});
