/**
 * The responses the data server has open, for a drain to mark (see app.ts). Not a Set: a long-lived Set whose
 * entries come and go at the request rate keeps every response it held alive until the next mark-compact.
 * Measured: every small GET's whole request graph went to the old generation this way (test/bench/notes.md).
 * The likely reason, not confirmed in V8's source: V8 replaces a Set's hash table as entries churn, and a
 * replaced table that had reached the old generation still points at its entries and its successor. Slots
 * in one array are reused instead, and a closed response's slot is overwritten.
 */
export class OpenResponses<T extends object> {
  private readonly slots: (T | undefined)[] = [];
  /** Indexes of empty slots, reused before the array grows. */
  private readonly free: number[] = [];

  /** Adds an open response; the returned slot is what remove() takes. */
  add(item: T): number {
    const slot = this.free.pop() ?? this.slots.length;
    this.slots[slot] = item;
    return slot;
  }

  /** Removes `item` from its slot (a slot since given to another item is left alone). */
  remove(slot: number, item: T): void {
    if (this.slots[slot] !== item) return;
    this.slots[slot] = undefined;
    this.free.push(slot);
  }

  forEach(visit: (item: T) => void): void {
    for (const item of this.slots) if (item !== undefined) visit(item);
  }

  get size(): number {
    return this.slots.length - this.free.length;
  }
}
