/** Lines of a process's output that are not one JSON object each (the proxy prints only JSON lines). */
export function nonJsonLines(output: string): string[] {
  return output.split('\n').filter((l) => l.trim() !== '' && !isJsonObject(l));
}

function isJsonObject(line: string): boolean {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** The JSON lines of a process's output, only those with this message when one is given. */
export function jsonLogLines(output: string, message?: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter(isJsonObject)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => message === undefined || l.message === message);
}
