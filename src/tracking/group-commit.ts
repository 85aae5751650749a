/** How long a poll answer waits for others to share its transaction (and its fsync). */
const groupCommitMilliseconds = 20;

/**
 * Group commit: writes an item together with the others handed in within a few milliseconds, in
 * one transaction. Each item stays whole; if the shared transaction fails, the items are written one
 * by one, so one that cannot be written does not cost the others theirs.
 */
export class GroupCommit<T> {
  private pending: { item: T; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing = false;

  /**
   * One batch is written at a time: a batch computes what it does to the histogram totals from the
   * totals as the previous batch left them.
   */
  constructor(private readonly write: (items: readonly T[]) => Promise<void>) {}

  /** Resolves once committed; rejects if this item cannot be written. */
  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (!this.flushing) this.timer ??= setTimeout(() => void this.flush(), groupCommitMilliseconds);
    });
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    this.flushing = true;
    try {
      await this.writeBatch();
    } finally {
      this.flushing = false;
    }
    // Answers that arrived while this batch was being written go out together, now.
    if (this.pending.length > 0) this.timer ??= setTimeout(() => void this.flush(), 0);
  }

  private async writeBatch(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      await this.write(batch.map((entry) => entry.item));
    } catch {
      for (const entry of batch) {
        try {
          await this.write([entry.item]);
        } catch (error) {
          entry.reject(error);
          continue;
        }
        entry.resolve();
      }
      return;
    }
    for (const entry of batch) entry.resolve();
  }
}
