/**
 * Runs the proxy as the image does (its bundle, PROXY_MAIN) unchanged, from an entry of the bench's own: the
 * process's command line then tells the bench's proxies apart from other proxies on a shared machine (scripts
 * that `pkill -f` those by path would otherwise stop the benchmark's too).
 */
import { PROXY_MAIN } from '../harness/proxy-main';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- a path known only at run time
require(PROXY_MAIN);
