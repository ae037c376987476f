import fs from 'node:fs';

import { parseResident } from './idle-sampling';

describe('parseResident', () => {
  it('reads VmRSS and its anonymous and file-backed parts, in KiB', () => {
    const status = [
      'Name:\tnode',
      'VmHWM:\t   80120 kB',
      'VmRSS:\t   72412 kB',
      'RssAnon:\t   21268 kB',
      'RssFile:\t   51120 kB',
      'RssShmem:\t      24 kB',
    ].join('\n');
    expect(parseResident(status)).toEqual({ rss: 72412, anon: 21268, file: 51120 });
  });

  it('gives NaN for a field the kernel did not report', () => {
    expect(parseResident('VmRSS:\t 100 kB\n')).toEqual({ rss: 100, anon: NaN, file: NaN });
  });

  it('adds up for a live process: anonymous and file-backed are (almost) all of RSS', () => {
    const own = parseResident(fs.readFileSync('/proc/self/status', 'utf8'));
    expect(own.anon).toBeGreaterThan(0);
    expect(own.file).toBeGreaterThan(0);
    // The rest is shared memory (RssShmem), a few pages at most.
    expect(Math.abs(own.rss - own.anon - own.file)).toBeLessThan(4096);
  });
});
