/** A small Dockerfile reader for static checks (no Docker engine here): stages, instructions, ARG defaults. */
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';

export interface Instruction {
  keyword: string;
  /** Raw arguments after the keyword, continuation lines joined. */
  args: string;
  line: number;
}

export interface Stage {
  index: number;
  name?: string;
  /** Base image with global ARG defaults substituted. */
  base: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  globalArgs: Record<string, string>;
  stages: Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (/^\s*(#.*)?$/.test(line)) continue;
    const start = i + 1;
    while (line.trimEnd().endsWith('\\') && i + 1 < lines.length) {
      line = line.trimEnd().slice(0, -1) + ' ';
      i++;
      const next = lines[i]!;
      if (/^\s*#/.test(next)) continue;
      line += next.trim();
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`line ${start}: cannot parse "${line}"`);
    instructions.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
  }
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`line ${ins.line}: bad FROM`);
      const base = m[1]!.replace(
        /\$\{(\w+)\}|\$(\w+)/g,
        (_, a: string | undefined, b: string | undefined) => {
          const key = (a ?? b)!;
          const v = globalArgs[key];
          if (v === undefined) throw new Error(`line ${ins.line}: ARG ${key} has no default`);
          return v;
        },
      );
      stages.push({ index: stages.length, base, instructions: [], ...(m[2] ? { name: m[2] } : {}) });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: ${ins.keyword} before FROM`);
      const m = /^(\w+)(?:=(.*))?$/.exec(ins.args);
      if (m) globalArgs[m[1]!] = m[2] ?? '';
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { globalArgs, stages };
}

export function readDockerfile(path: string): Dockerfile {
  return parseDockerfile(readFileSync(path, 'utf8'));
}

export interface Copy {
  from?: string;
  sources: string[];
  dest: string;
  line: number;
}

/** COPY in shell or JSON form; only the --from flag is interpreted. */
export function parseCopy(ins: Instruction): Copy {
  let rest = ins.args;
  let from: string | undefined;
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest);
    if (!m) break;
    if (m[1] === 'from') from = m[2];
    rest = rest.slice(m[0].length);
  }
  const parts = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/);
  if (parts.length < 2) throw new Error(`line ${ins.line}: COPY needs a source and a destination`);
  return {
    ...(from ? { from } : {}),
    sources: parts.slice(0, -1),
    dest: parts[parts.length - 1]!,
    line: ins.line,
  };
}

/** The WORKDIR in effect before instruction `upTo` (exclusive) of a stage. */
export function workdirAt(stage: Stage, upTo = stage.instructions.length): string {
  let wd = '/';
  for (const ins of stage.instructions.slice(0, upTo)) {
    if (ins.keyword === 'WORKDIR') wd = posix.resolve(wd, ins.args);
  }
  return wd;
}

/** ENV in a stage, both `K=V K2=V2` and legacy `K V` forms. */
export function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of stage.instructions.filter((i) => i.keyword === 'ENV')) {
    if (!ins.args.includes('=')) {
      const [k, ...v] = ins.args.split(/\s+/);
      env[k!] = v.join(' ');
      continue;
    }
    for (const m of ins.args.matchAll(/(\w+)=("[^"]*"|\S*)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
  }
  return env;
}

/** Matches a path (relative to the build context) against .dockerignore patterns (no `!` support needed). */
export function dockerIgnored(patterns: string[], path: string): boolean {
  const res = patterns.map((p) => {
    const re = p
      .replace(/^\/+|\/+$/g, '')
      .split('/')
      .map((seg) =>
        seg === '**'
          ? '.*'
          : seg
              .replace(/[.+^${}()|[\]\\]/g, '\\$&')
              .replace(/\*/g, '[^/]*')
              .replace(/\?/g, '[^/]'),
      )
      .join('/')
      .replace(/\.\*\//g, '(?:.*/)?');
    return new RegExp(`^${re}$`);
  });
  const segments = path.replace(/^\.\//, '').split('/');
  for (let i = 1; i <= segments.length; i++) {
    const prefix = segments.slice(0, i).join('/');
    if (res.some((re) => re.test(prefix))) return true;
  }
  return false;
}

export function readDockerignore(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}
