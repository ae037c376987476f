/** At most one line per `what` every `everyMs`: a full queue or an outage must not flood the log. */
export type LogThrottle = (what: string) => boolean;

export function createLogThrottle(everyMs = 10_000, now: () => number = Date.now): LogThrottle {
  const last = new Map<string, number>();
  return (what) => {
    const t = now();
    if (t - (last.get(what) ?? 0) < everyMs) return false;
    last.set(what, t);
    return true;
  };
}
