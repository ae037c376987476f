/**
 * Runs proxy/dist/main.js unchanged, from an entry of the bench's own: the process's command line then tells
 * the bench's proxies apart from other proxies on a shared machine (scripts that `pkill -f` those by path
 * would otherwise stop the benchmark's too).
 */
import '@k8s-s3-mirror/proxy/dist/main';
