/** Small XML reads of response bodies the proxy needs for tracking. Pure. */

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_m, ent: string) => {
    if (ent[0] === '#') {
      const code = ent[1] === 'x' || ent[1] === 'X' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      return String.fromCodePoint(code);
    }
    return ENTITIES[ent.toLowerCase()] ?? '';
  });
}

/**
 * S3 answers some calls (Copy, CompleteMultipartUpload) with 200 and an error document: one whose ROOT element
 * is <Error>. A DeleteObjects result may hold per-key <Error> entries next to <Deleted> ones: not an error
 * document, and its deleted keys still count.
 */
export function isErrorDocument(body: string): boolean {
  return /^\s*(?:<\?xml[^>]*\?>\s*)?<Error[\s>]/.test(body);
}

export interface DeletedEntry {
  key: string;
  versionId?: string;
}

/** Keys that a DeleteObjects response reports as deleted. */
export function parseDeletedKeys(body: string): DeletedEntry[] {
  const entries: DeletedEntry[] = [];
  for (const match of body.matchAll(/<Deleted>([\s\S]*?)<\/Deleted>/g)) {
    const inner = match[1]!;
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(inner)?.[1];
    if (key === undefined) continue;
    const versionId = /<VersionId>([\s\S]*?)<\/VersionId>/.exec(inner)?.[1];
    entries.push({ key: unescapeXml(key), ...(versionId ? { versionId: unescapeXml(versionId) } : {}) });
  }
  return entries;
}
