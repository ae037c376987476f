import { docsRunRefusal, nginxConfig } from './nginx';

const base = { dir: '/tmp/s3m-bench-x/nginx-sink', port: 4711, upstream: '127.0.0.1:9000' };

/** The directives of one block (`http`, `upstream backend`, `location /`, …), one string each. */
function directives(conf: string, block: string): string[] {
  const lines = conf.split('\n').map((l) => l.trim());
  const start = lines.indexOf(`${block} {`);
  if (start < 0) throw new Error(`no block ${block}`);
  const out: string[] = [];
  let depth = 0;
  for (const line of lines.slice(start + 1)) {
    if (line.endsWith('{')) depth++;
    else if (line === '}') {
      if (depth === 0) break;
      depth--;
    } else if (depth === 0 && line) out.push(line);
  }
  return out;
}

test('the cheapest hop: keep-alive upstream, no buffering either way, any body size, no access log', () => {
  const conf = nginxConfig(base);
  expect(directives(conf, 'upstream backend')).toEqual(
    expect.arrayContaining(['server 127.0.0.1:9000;', 'keepalive 64;']),
  );
  expect(directives(conf, 'location /')).toEqual(
    expect.arrayContaining([
      'proxy_pass http://backend;',
      'proxy_http_version 1.1;',
      'proxy_set_header Connection "";',
      'proxy_buffering off;',
      'proxy_request_buffering off;',
    ]),
  );
  expect(directives(conf, 'server')).toEqual(
    expect.arrayContaining(['listen 127.0.0.1:4711;', 'client_max_body_size 0;']),
  );
  expect(directives(conf, 'http')).toContain('access_log off;');
  // One worker, at the top level.
  expect(conf.split('\n')).toContain('worker_processes 1;');
});

test('the Host header passes as the client sent it, so a signature made for the backend verifies there', () => {
  expect(directives(nginxConfig(base), 'location /')).toContain('proxy_set_header Host $http_host;');
  // No URI after the upstream name: the request URI (the signed canonical path) goes unchanged.
  expect(nginxConfig(base)).not.toMatch(/proxy_pass http:\/\/backend\/;/);
});

test('pid file, error log and every temp path stay inside the prefix directory', () => {
  const conf = nginxConfig(base);
  const paths = conf
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^(pid|error_log|\w+_temp_path) /.test(l))
    .map((l) => l.split(/\s+/)[1]!.replace(/;$/, ''));
  expect(paths).toHaveLength(7);
  for (const p of paths) expect(p.startsWith(`${base.dir}/`)).toBe(true);
});

test('the user directive only when asked (nginx started as root)', () => {
  expect(nginxConfig(base)).not.toMatch(/^user /m);
  expect(nginxConfig({ ...base, user: 'nobody nogroup' }).split('\n')[0]).toBe('user nobody nogroup;');
  expect(() => nginxConfig({ ...base, user: 'nobody; daemon on' })).toThrow(/user/);
});

test('braces balance and every directive ends with a semicolon', () => {
  const lines = nginxConfig({ ...base, user: 'nobody nogroup' })
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  let depth = 0;
  for (const line of lines) {
    if (line.endsWith('{')) depth++;
    else if (line === '}') depth--;
    else expect(line).toMatch(/;$/);
    expect(depth).toBeGreaterThanOrEqual(0);
  }
  expect(depth).toBe(0);
});

test('refuses an upstream that is not host:port, and a prefix that would need quoting', () => {
  expect(() => nginxConfig({ ...base, upstream: 'http://127.0.0.1:9000' })).toThrow(/host:port/);
  expect(() => nginxConfig({ ...base, dir: '/tmp/a dir' })).toThrow(/quoting/);
  expect(() => nginxConfig({ ...base, dir: '/tmp/x;' })).toThrow(/quoting/);
});

describe('a full run needs nginx', () => {
  it('refuses a run that rewrites the docs without nginx, naming the package and the way round', () => {
    const refusal = docsRunRefusal({ docs: true }, undefined);
    expect(refusal).toMatch(/apt-get install nginx-light/);
    expect(refusal).toMatch(/--out DIR/);
  });

  it('lets a docs run with nginx, and any other run, go ahead', () => {
    expect(docsRunRefusal({ docs: true }, '/usr/sbin/nginx')).toBeUndefined();
    expect(docsRunRefusal({ docs: false }, undefined)).toBeUndefined();
  });
});
