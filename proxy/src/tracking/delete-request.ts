import { StringDecoder } from 'node:string_decoder';

import { unescapeXml } from '../s3/response-body';

/** S3 takes at most 1,000 keys per DeleteObjects; a body naming more is refused by main anyway. */
const MAX_KEYS = 1000;
/** Longest unfinished piece kept between chunks: a <Key> element of S3's longest key, escaped. */
const MAX_TAIL_CHARS = 16 * 1024;

/**
 * The keys a DeleteObjects request names, read from its body on the way to main. In quiet mode S3's answer
 * lists only the keys that failed, so the deleted keys are known from the request alone. Memory stays
 * bounded: the keys (at most 1,000) and one unfinished element.
 */
export class DeleteRequestKeys {
  readonly keys: string[] = [];
  quiet = false;
  /** More keys, or a longer element, than S3 accepts: the answer is an error, nothing is recorded from here. */
  overflow = false;
  private tail = '';
  private readonly decoder = new StringDecoder('utf8');

  push(chunk: Buffer): void {
    this.scan(this.decoder.write(chunk));
  }

  end(): void {
    this.scan(this.decoder.end());
  }

  private scan(text: string): void {
    if (this.overflow || text === '') return;
    this.tail += text;
    if (/<Quiet>\s*true\s*<\/Quiet>/i.test(this.tail)) this.quiet = true;
    let cut = 0;
    for (const m of this.tail.matchAll(/<Key>([\s\S]*?)<\/Key>/g)) {
      this.keys.push(unescapeXml(m[1]!));
      cut = m.index + m[0].length;
    }
    this.tail = this.tail.slice(cut);
    const open = Math.max(this.tail.lastIndexOf('<Key>'), this.tail.lastIndexOf('<Quiet>'));
    this.tail = open >= 0 ? this.tail.slice(open) : this.tail.slice(-'<Quiet'.length);
    if (this.keys.length > MAX_KEYS || this.tail.length > MAX_TAIL_CHARS) {
      this.overflow = true;
      this.keys.length = 0;
      this.tail = '';
    }
  }
}

/** Keys a DeleteObjects result reports as failed (<Error> entries). */
export function failedKeys(body: string): Set<string> {
  const keys = new Set<string>();
  for (const m of body.matchAll(/<Error>([\s\S]*?)<\/Error>/g)) {
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(m[1]!)?.[1];
    if (key !== undefined) keys.add(unescapeXml(key));
  }
  return keys;
}
