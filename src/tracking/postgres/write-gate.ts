/**
 * Writes that change the in-memory totals run through the gate; a resync runs alone, once the
 * writes in flight have applied their totals and before new ones begin. So the totals re-read from
 * the database are never applied twice, nor skipped.
 */
export class WriteGate {
  private active = 0;
  private closed: Promise<void> | undefined;
  private drained: (() => void) | undefined;

  async write<T>(work: () => Promise<T>): Promise<T> {
    while (this.closed) await this.closed;
    this.active += 1;
    try {
      return await work();
    } finally {
      this.active -= 1;
      if (this.active === 0) this.drained?.();
    }
  }

  async exclusive(work: () => Promise<void>): Promise<void> {
    while (this.closed) await this.closed;
    let open!: () => void;
    this.closed = new Promise((resolve) => (open = resolve));
    try {
      while (this.active > 0) await new Promise<void>((resolve) => (this.drained = resolve));
      await work();
    } finally {
      this.drained = undefined;
      this.closed = undefined;
      open();
    }
  }
}
