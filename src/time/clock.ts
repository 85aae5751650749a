/**
 * Time is injected everywhere (poll scheduling, SAS expiry, the simulator's message lifecycle) so
 * tests can move it forward by hand instead of sleeping.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `callback` once, `delayMilliseconds` from now. */
  setTimer(callback: () => void, delayMilliseconds: number): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(callback, delayMilliseconds) {
    // Node caps timers at 2^31-1 ms; longer waits are re-armed by the caller's next wake-up.
    const handle = setTimeout(callback, Math.min(Math.max(0, delayMilliseconds), 2_147_483_647));
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

interface PendingTimer {
  dueAt: number;
  sequence: number;
  callback: () => void;
  cancelled: boolean;
}

/** A clock that only moves when told to: `advance()` fires every timer that falls due, in order. */
export class ManualClock implements Clock {
  private current: number;
  private timers: PendingTimer[] = [];
  private sequence = 0;

  constructor(startMilliseconds = Date.UTC(2026, 0, 1)) {
    this.current = startMilliseconds;
  }

  now(): number {
    return this.current;
  }

  setTimer(callback: () => void, delayMilliseconds: number): TimerHandle {
    const timer: PendingTimer = {
      dueAt: this.current + Math.max(0, delayMilliseconds),
      sequence: this.sequence++,
      callback,
      cancelled: false,
    };
    this.timers.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }

  /** Moves time forward, firing due timers in order (timers they set are fired too if due). */
  advance(milliseconds: number): void {
    const target = this.current + milliseconds;
    // A timer that keeps re-arming itself for "now" would spin forever: fail loudly instead.
    for (let fired = 0; ; fired += 1) {
      if (fired > 1_000_000) throw new Error('ManualClock: more than a million timers fired in one advance');
      const next = this.nextDue(target);
      if (!next) break;
      this.timers = this.timers.filter((timer) => timer !== next);
      this.current = Math.max(this.current, next.dueAt);
      if (!next.cancelled) next.callback();
    }
    this.current = target;
  }

  private nextDue(limit: number): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const timer of this.timers) {
      if (timer.dueAt > limit) continue;
      if (!best || timer.dueAt < best.dueAt || (timer.dueAt === best.dueAt && timer.sequence < best.sequence)) {
        best = timer;
      }
    }
    return best;
  }
}
