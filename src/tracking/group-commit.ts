import { performance } from 'node:perf_hooks';

/** How long a poll answer waits for others to share its transaction (and its fsync). */
export const pollGroupMilliseconds = 20;

export interface GroupCommitOptions {
  /**
   * How long the first item of a group waits for others. 0: only for those handed in during the
   * same turn of the event loop (and while the previous group is being written), so an item alone
   * is written at once and concurrent ones still share a transaction.
   */
  delayMilliseconds: number;
  /**
   * Whether, after the shared transaction failed with this error, each item is tried alone (so one
   * that cannot be written does not cost the others theirs). Default yes; no for an error that
   * says nothing about the items (the database is unreachable: every retry would wait for it too).
   */
  retryAlone?: (error: unknown) => boolean;
}

interface Entry<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: writes an item together with the others handed in meanwhile, in one transaction,
 * and settles each item's promise only after that transaction committed. Each item stays whole; if
 * the shared transaction fails, the items are written one by one.
 */
export class GroupCommit<T, R = void> {
  private pending: Entry<T, R>[] = [];
  /** When the first of the pending items was handed in (performance.now()). */
  private firstPendingAt = 0;
  private scheduled = false;
  private flushing = false;
  /** Transactions attempted, shared or alone (tests see the grouping through it). */
  transactions = 0;

  /**
   * One group is written at a time: a group computes what it does to the totals from the totals as
   * the previous group left them. `write` answers one result per item, in order.
   */
  constructor(
    private readonly write: (items: readonly T[]) => Promise<readonly R[]>,
    private readonly options: GroupCommitOptions = { delayMilliseconds: pollGroupMilliseconds },
  ) {}

  /** Resolves with the item's result once committed; rejects if this item cannot be written. */
  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) this.firstPendingAt = performance.now();
      this.pending.push({ item, resolve, reject });
      if (!this.flushing) this.schedule(this.options.delayMilliseconds);
    });
  }

  private schedule(delayMilliseconds: number): void {
    if (this.scheduled) return;
    this.scheduled = true;
    if (delayMilliseconds <= 0) setImmediate(() => void this.flush());
    else setTimeout(() => void this.flush(), delayMilliseconds);
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    this.flushing = true;
    try {
      await this.writeGroup();
    } finally {
      this.flushing = false;
    }
    // Items that arrived while this group was being written (and flushed to disk) wait out what is
    // left of their own delay, not less: a write that waits for its fsync would otherwise turn the
    // next groups into a few items each, each with a transaction and an fsync of its own.
    if (this.pending.length > 0) {
      const waited = performance.now() - this.firstPendingAt;
      this.schedule(Math.max(0, this.options.delayMilliseconds - waited));
    }
  }

  private async writeGroup(): Promise<void> {
    const group = this.pending;
    this.pending = [];
    let results: readonly R[];
    try {
      this.transactions += 1;
      results = await this.write(group.map((entry) => entry.item));
    } catch (error) {
      if (group.length === 1 || this.options.retryAlone?.(error) === false) {
        for (const entry of group) entry.reject(error);
        return;
      }
      await this.writeAlone(group);
      return;
    }
    group.forEach((entry, index) => entry.resolve(results[index] as R));
  }

  private async writeAlone(group: readonly Entry<T, R>[]): Promise<void> {
    for (const entry of group) {
      let results: readonly R[];
      try {
        this.transactions += 1;
        results = await this.write([entry.item]);
      } catch (error) {
        entry.reject(error);
        continue;
      }
      entry.resolve(results[0] as R);
    }
  }
}
