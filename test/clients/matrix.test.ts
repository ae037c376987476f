import fs from 'node:fs';
import path from 'node:path';

import {
  DOT_SEGMENT_KEYS,
  NON_ASCII_DISPOSITION,
  SPECIAL_KEYS,
  LIST_KEY_COUNT,
  smallBody,
} from './js/common';
import {
  BEGIN_MARKER,
  END_MARKER,
  brief,
  cell,
  compareRuns,
  firstDifference,
  KNOWN_DIFFERENCES,
  isErrorOutcome,
  normalizeBuckets,
  parseDriverOutput,
  problems,
  renderMatrix,
  replaceMatrix,
  type Column,
  type DriverOutput,
  type Outcome,
} from './matrix';
import { DRIVERS } from './drivers';
import { LIST_KEYS } from './run';

const run = (results: [string, Outcome][]): DriverOutput => ({
  client: 'c',
  results: results.map(([op, outcome]) => ({ op, outcome })),
});

describe('parseDriverOutput', () => {
  it('reads the contract’s document', () => {
    const out = parseDriverOutput('{"client":"boto3","results":[{"op":"get","outcome":{"status":200}}]}\n');
    expect(out).toEqual({ client: 'boto3', results: [{ op: 'get', outcome: { status: 200 } }] });
  });

  it.each([
    ['noise before the document', 'progress\n{"client":"x","results":[]}'],
    ['no results', '{"client":"x"}'],
    ['an outcome that is not an object', '{"client":"x","results":[{"op":"get","outcome":200}]}'],
    ['nothing', ''],
  ])('refuses %s', (_what, stdout) => {
    expect(() => parseDriverOutput(stdout)).toThrow();
  });
});

describe('normalizeBuckets', () => {
  it('replaces both runs’ bucket names in values and keys, everywhere', () => {
    const out = normalizeBuckets(
      { location: '/cm-x-direct', list: ['s3://cm-x-proxied/k'], 'cm-x-direct/k': { n: 1 } },
      ['cm-x-direct', 'cm-x-proxied'],
    );
    expect(out).toEqual({ location: '/<bucket>', list: ['s3://<bucket>/k'], '<bucket>/k': { n: 1 } });
  });
});

describe('isErrorOutcome', () => {
  it.each([
    [{ status: 200 }, false],
    [{ status: 404, code: 'NoSuchKey' }, true],
    [{ exit: 0, keys: [] }, false],
    [{ exit: 1, error: 'AccessDenied' }, true],
    [{ exception: 'TypeError', message: 'x' }, true],
    [{ status: 204, 'head-after': { status: 404 } }, false],
    [{ a: { put: { status: 200 } }, b: { put: { status: 403 } } }, true],
    [{ delete: { status: 204 }, 'head-after': { status: 404, code: null } }, false],
    [{ put: { status: 200 }, 'metadata-put': { exception: 'ParamValidationError' } }, false],
    [{ steps: [{ status: 200 }, { exit: 2 }] }, true],
    [{ keys: ['a'], count: 1 }, false],
  ] as [Outcome, boolean][])('%j -> %s', (outcome, error) => {
    expect(isErrorOutcome('get', outcome)).toBe(error);
  });

  it('counts 304 as the success of a conditional GET, also from a CLI', () => {
    expect(isErrorOutcome('get-if-none-match', { status: 304, code: 'NotModified' })).toBe(false);
    expect(isErrorOutcome('get-if-modified-since', { exit: 255, error: 'Not Modified' })).toBe(false);
    expect(isErrorOutcome('get-if-none-match', { exit: 255, error: 'AccessDenied' })).toBe(true);
    expect(isErrorOutcome('get', { exit: 255, error: 'Not Modified' })).toBe(true);
  });
});

describe('compareRuns', () => {
  it('pairs operations by name and compares them deeply', () => {
    const c = compareRuns(
      run([
        ['get', { status: 200, etag: '"a"' }],
        ['head', { status: 200, etag: '"a"' }],
        ['direct-only', { status: 200 }],
      ]),
      run([
        ['head', { etag: '"a"', status: 200 }],
        ['get', { status: 200, etag: '"b"' }],
        ['proxied-only', { status: 200 }],
      ]),
    );
    expect(c.map((x) => [x.op, x.equal])).toEqual([
      ['get', false],
      ['head', true],
      ['direct-only', false],
      ['proxied-only', false],
    ]);
  });

  it('fails an operation that must succeed but failed straight at RGW, even when both runs agree', () => {
    const both = (op: string, o: Outcome): DriverOutput => run([[op, o]]);
    const [put] = compareRuns(both('put-small', { status: 403 }), both('put-small', { status: 403 }));
    expect(put).toMatchObject({ equal: true, directFailed: true });
    expect(cell(put)).toBe('✗ fails direct: 403');
    const [missing] = compareRuns(both('get-missing', { status: 404 }), both('get-missing', { status: 404 }));
    expect(missing).toMatchObject({ equal: true, directFailed: false });
    expect(cell(missing)).toBe('✓ 404');
  });

  it('accepts a known difference only with exactly its pinned outcomes, and says so in the cell', () => {
    const known = KNOWN_DIFFERENCES[0]!;
    const side = (outcome: Outcome): DriverOutput => ({
      client: known.client,
      results: [{ op: known.op, outcome }],
    });
    const [exact] = compareRuns(side(known.direct), side(known.proxied));
    expect(exact!.known).toBe(known.reason);
    expect(cell(exact)).toMatch(/^≠ .* \(not the proxy: see below\)$/);
    expect(problems({ id: 'x', label: 'x', comparisons: [exact!] })).toEqual([]);
    // Any other proxied outcome (here: the proxy refusing it too) is an ordinary failure.
    const [other] = compareRuns(side(known.direct), side(known.direct));
    expect(other!.known).toBeUndefined();
    expect(problems({ id: 'x', label: 'x', comparisons: [other!] })).toHaveLength(1);
    // The same outcomes from another client are not excused either.
    const [elsewhere] = compareRuns(
      { client: 'boto3', results: [{ op: known.op, outcome: known.direct }] },
      { client: 'boto3', results: [{ op: known.op, outcome: known.proxied }] },
    );
    expect(elsewhere!.known).toBeUndefined();
  });

  it('keeps a repeated operation apart', () => {
    const c = compareRuns(
      run([
        ['get', { status: 200 }],
        ['get', { status: 206 }],
      ]),
      run([
        ['get', { status: 200 }],
        ['get', { status: 200 }],
      ]),
    );
    expect(c.map((x) => [x.op, x.equal])).toEqual([
      ['get', true],
      ['get#2', false],
    ]);
  });
});

describe('cells', () => {
  it('shows the status, the exit code, or the distinct statuses of a composite outcome', () => {
    expect(brief({ status: 200, etag: 'x' }, false)).toBe('200');
    expect(brief({ status: 404, code: 'NoSuchKey' })).toBe('404 NoSuchKey');
    expect(brief({ exit: 0 })).toBe('exit 0');
    expect(brief({ exit: 1, error: 'AccessDenied' })).toBe('exit 1 AccessDenied');
    expect(brief({ a: { put: { status: 200 } }, b: { put: { status: 204 }, get: { status: 200 } } })).toBe(
      '200/204',
    );
    expect(brief({ 'key-count': 3 })).toBe('');
  });

  it('names the first difference: a status change with its code, or the field that differs', () => {
    expect(firstDifference({ status: 204 }, { status: 403, code: 'SignatureDoesNotMatch' })).toEqual({
      path: '',
      detail: '204 → 403 SignatureDoesNotMatch',
      status: true,
    });
    const nested = firstDifference(
      { 'a b': { put: { status: 200 }, copy: { status: 200 } } },
      { 'a b': { put: { status: 200 }, copy: { status: 403, code: 'AccessDenied' } } },
    );
    expect(nested).toEqual({ path: 'a b.copy', detail: '200 → 403 AccessDenied', status: true });
    expect(firstDifference({ status: 200, etag: '"a"' }, { status: 200, etag: '"b"' })).toMatchObject({
      path: 'etag',
      status: false,
    });
    expect(firstDifference({ keys: ['a', 'b'] }, { keys: ['a', 'c'] })).toMatchObject({ path: 'keys[1]' });
    expect(
      firstDifference({ put: { status: 411 }, get: { status: 404 } }, { exception: 'BrokenPipeError' }),
    ).toEqual({ path: '', detail: '404/411 → BrokenPipeError', status: true });
  });

  it('renders equal, different and absent operations', () => {
    const [same, other] = compareRuns(
      run([
        ['delete', { status: 204 }],
        ['get', { status: 200, etag: '"a"' }],
      ]),
      run([
        ['delete', { status: 204 }],
        ['get', { status: 200, etag: '"b"' }],
      ]),
    );
    expect(cell(same)).toBe('✓ 204');
    expect(cell(other)).toBe('✗ etag differs');
    expect(cell(undefined)).toBe('–');
    const [status] = compareRuns(
      run([['delete', { status: 204 }]]),
      run([['delete', { status: 403, code: 'X' }]]),
    );
    expect(cell(status)).toBe('✗ 204 → 403 X');
  });

  it('shortens long reasons', () => {
    const [c] = compareRuns(
      run([['x', { ['k'.repeat(50)]: { status: 200 } }]]),
      run([['x', { ['k'.repeat(50)]: { status: 500, code: 'InternalError' } }]]),
    );
    expect(cell(c).length).toBeLessThanOrEqual(62);
    expect(cell(c)).toMatch(/…$/);
  });
});

describe('renderMatrix', () => {
  const ok = (op: string, status = 200): [string, Outcome] => [op, { status }];
  const columns: Column[] = [
    {
      id: 'a',
      label: 'Client A',
      comparisons: compareRuns(
        run([ok('delete-bucket', 204), ok('get'), ok('create-bucket'), ok('zz-extra')]),
        run([ok('delete-bucket', 204), ok('get'), ok('create-bucket'), ok('zz-extra', 500)]),
      ),
    },
    { id: 'b', label: 'Client|B', comparisons: compareRuns(run([ok('get')]), run([ok('get')])) },
    { id: 'c', label: 'Client C', comparisons: [], failure: 'missing /usr/bin/c' },
  ];
  const table = renderMatrix(columns);

  it('has one row per operation in the documented order, extra operations before delete-bucket', () => {
    const rows = table.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| operation'));
    expect(rows.map((r) => r.split(' | ')[0])).toEqual([
      '| ---',
      '| create-bucket',
      '| get',
      '| zz-extra',
      '| delete-bucket',
    ]);
  });

  it('has one column per client, escapes pipes, marks clients that did not run', () => {
    expect(table).toContain('| operation | Client A | Client\\|B | Client C (not run) |');
    expect(table).toContain('| get | ✓ 200 | ✓ 200 | ? |');
    expect(table).toContain('| create-bucket | ✓ 200 | – | ? |');
    expect(table).toContain('| zz-extra | ✗ 200 → 500 | – | ? |');
    expect(table).toContain('- Client C did not run: missing /usr/bin/c');
  });

  it('lists every problem with both outcomes', () => {
    expect(problems(columns[0]!)).toEqual([
      expect.stringContaining(
        'a zz-extra: ✗ 200 → 500\n  first difference at the outcome: 200 → 500\n  direct:  {"status":200}',
      ),
    ]);
    expect(problems(columns[1]!)).toEqual([]);
    expect(problems(columns[2]!)).toEqual(['c: missing /usr/bin/c']);
  });
});

describe('replaceMatrix', () => {
  const doc = `# Title\n\nintro\n\n${BEGIN_MARKER}\nold table\n${END_MARKER}\n\n## Below\n\nprose\n`;

  it('replaces only what is between the markers, and again the same way', () => {
    const once = replaceMatrix(doc, '| new |');
    expect(once).toBe(
      `# Title\n\nintro\n\n${BEGIN_MARKER}\n\n| new |\n\n${END_MARKER}\n\n## Below\n\nprose\n`,
    );
    expect(replaceMatrix(once, '| new |')).toBe(once);
  });

  it('refuses a document without the markers', () => {
    expect(() => replaceMatrix('# nothing here', 'x')).toThrow(/matrix:begin/);
  });
});

describe('the drivers agree with each other', () => {
  it('JS constants equal the Python ones in common.py', () => {
    const py = fs.readFileSync(path.join(__dirname, 'py/common.py'), 'utf8');
    const value = (name: string): unknown => {
      const m = new RegExp(`^${name} = (.*)$`, 'm').exec(py);
      if (!m) throw new Error(`${name} not in common.py`);
      // Python string and list literals as written there are JSON once quotes are normalised.
      const literal = m[1]!.startsWith("'") ? JSON.stringify(m[1]!.slice(1, -1)) : m[1]!;
      return JSON.parse(literal);
    };
    expect(value('SPECIAL_KEYS')).toEqual(SPECIAL_KEYS);
    expect(value('DOT_SEGMENT_KEYS')).toEqual(DOT_SEGMENT_KEYS);
    expect(value('NON_ASCII_DISPOSITION')).toBe(NON_ASCII_DISPOSITION);
    expect(value('LIST_KEY_COUNT')).toBe(LIST_KEY_COUNT);
    expect(py).toContain('return (f"hello from the client matrix: {tag}\\n" * 20).encode()');
    expect(smallBody('x').toString()).toBe('hello from the client matrix: x\n'.repeat(20));
  });

  it('the runner’s list bucket is the one the drivers expect', () => {
    expect(LIST_KEYS.filter((k) => k.startsWith('many/'))).toHaveLength(LIST_KEY_COUNT);
    expect(LIST_KEYS.filter((k) => k.startsWith('dirs/')).sort()).toEqual([
      'dirs/a/1',
      'dirs/a/2',
      'dirs/b/1',
      'dirs/top',
    ]);
  });

  it('driver ids are unique and make valid bucket names', () => {
    expect(new Set(DRIVERS.map((d) => d.id)).size).toBe(DRIVERS.length);
    for (const d of DRIVERS) expect(`cm-${d.id}-proxied`).toMatch(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/);
  });
});
