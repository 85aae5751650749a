/**
 * A binary min-heap of items ordered by when they are next due. The poll loop keeps one per hub
 * instead of a timer per message: one timer wakes it for the earliest item.
 */
export class DueQueue<T extends { nextPollAt: number }> {
  private readonly heap: T[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(item: T): void {
    this.heap.push(item);
    this.siftUp(this.heap.length - 1);
  }

  peek(): T | undefined {
    return this.heap[0];
  }

  pop(): T | undefined {
    const top = this.heap[0];
    const last = this.heap.pop();
    if (this.heap.length > 0 && last !== undefined) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  /** Takes out every item matching `predicate` (O(n), then the heap is rebuilt). */
  removeWhere(predicate: (item: T) => boolean): T[] {
    const removed: T[] = [];
    const kept: T[] = [];
    for (const item of this.heap) (predicate(item) ? removed : kept).push(item);
    if (removed.length === 0) return removed;
    this.heap.length = 0;
    this.heap.push(...kept);
    for (let index = (this.heap.length >> 1) - 1; index >= 0; index -= 1) this.siftDown(index);
    return removed;
  }

  private siftUp(index: number): void {
    const item = this.heap[index] as T;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = this.heap[parentIndex] as T;
      if (parent.nextPollAt <= item.nextPollAt) break;
      this.heap[index] = parent;
      index = parentIndex;
    }
    this.heap[index] = item;
  }

  private siftDown(index: number): void {
    const length = this.heap.length;
    const item = this.heap[index] as T;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child =
        right < length && (this.heap[right] as T).nextPollAt < (this.heap[left] as T).nextPollAt ? right : left;
      if ((this.heap[child] as T).nextPollAt >= item.nextPollAt) break;
      this.heap[index] = this.heap[child] as T;
      index = child;
    }
    this.heap[index] = item;
  }
}
