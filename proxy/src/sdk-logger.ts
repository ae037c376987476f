import type { Logger } from './log';

/**
 * The SDK's own warnings (e.g. "An error was encountered in a non-retryable streaming request.", printed
 * with console.warn without a logger) go through ours as JSON. Its info and error lines (every command's
 * input and output, every failed command such as a HeadBucket 404) are dropped: the caller handles and
 * logs failures, and they would carry object metadata.
 */
export function sdkLogger(logger: Logger) {
  const ignore = (): void => undefined;
  const text = (args: unknown[]): string =>
    args
      .map((a) => (typeof a === 'string' ? a : JSON.stringify(a)))
      .join(' ')
      .slice(0, 1000);
  return {
    trace: ignore,
    debug: ignore,
    info: ignore,
    warn: (...args: unknown[]) => logger.warn('aws sdk warning', { sdk: text(args) }),
    error: ignore,
  };
}
