/**
 * Body bytes streamed through this process (requests to main, responses to apps, mirror copies), for work
 * paced by them (scavenge-pacer.ts). One listener for the process, none until main.ts sets it: the data path
 * counts without knowing who listens.
 */
type BodyBytesListener = (bytes: number) => void;

let listener: BodyBytesListener | undefined;

export function countBodyBytes(bytes: number): void {
  listener?.(bytes);
}

/** Sets (or with undefined, removes) the process's listener. */
export function onBodyBytes(next: BodyBytesListener | undefined): void {
  listener = next;
}
