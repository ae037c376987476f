import { ConfigError, loadConfig, type ProxyConfig } from '../config';
import { checkExtraCaCerts } from '../extra-ca';

/** The argument shape of the bucket commands: `--bucket B` (repeatable, or `--bucket=B`) and boolean flags. */
export function parseBucketArgs<F extends string>(
  argv: string[],
  flags: readonly F[],
): { buckets: string[]; flags: Record<F, boolean> } {
  const buckets: string[] = [];
  const set = Object.fromEntries(flags.map((f) => [f, false])) as Record<F, boolean>;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const flag = flags.find((f) => a === `--${f}`);
    if (flag !== undefined) set[flag] = true;
    else if (a === '--bucket' && argv[i + 1] !== undefined) buckets.push(argv[++i]!);
    else if (a.startsWith('--bucket=')) buckets.push(a.slice('--bucket='.length));
    else throw new Error(`unknown argument ${a}`);
  }
  if (buckets.length === 0) throw new Error('--bucket is required');
  return { buckets, flags: set };
}

/** A command's arguments and the proxy's configuration from the environment, or why they cannot be read. */
export function commandInput<T>(
  parse: (argv: string[]) => T,
): { args: T; config: ProxyConfig } | { error: string } {
  try {
    const input = { args: parse(process.argv.slice(2)), config: loadConfig(process.env) };
    // The commands reach main and the mirror too: a private CA that Node would ignore fails here, by name.
    checkExtraCaCerts(process.env);
    return input;
  } catch (err) {
    return { error: err instanceof ConfigError || err instanceof Error ? err.message : String(err) };
  }
}
