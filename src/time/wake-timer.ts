import type { Clock, TimerHandle } from './clock.js';

/**
 * One timer for a due-queue (times on the monotonic clock): armed for the earliest time asked, never re-armed for a later one,
 * calling `onWake` once when it fires. Shared by the poll loop and the error-details fetcher.
 */
export class WakeTimer {
  private timer: TimerHandle | undefined;
  private dueAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly onWake: () => void,
  ) {}

  wakeAt(dueAt: number): void {
    if (!Number.isFinite(dueAt) || (this.timer && this.dueAt <= dueAt)) return;
    this.timer?.cancel();
    this.dueAt = dueAt;
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      this.dueAt = Number.POSITIVE_INFINITY;
      this.onWake();
    }, dueAt - this.clock.monotonic());
  }

  cancel(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.dueAt = Number.POSITIVE_INFINITY;
  }
}
