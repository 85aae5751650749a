import { performance } from 'node:perf_hooks';

/**
 * Time is injected everywhere (poll scheduling, SAS expiry, the simulator's message lifecycle) so
 * tests can move it forward by hand instead of sleeping.
 *
 * Two clocks: `now()` is the wall clock (what is stored, shown to users and compared with upstream
 * timestamps); `monotonic()` never steps (what schedules: next polls, deadlines, back-off). An NTP
 * correction or an operator's `date -s` moves the first and not the second; timers run on the second
 * (Node's timers are monotonic: https://nodejs.org/api/timers.html).
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Wall-clock milliseconds since the Unix epoch. */
  now(): number;
  /** Milliseconds from an arbitrary origin, never stepping back or forth. */
  monotonic(): number;
  /** Calls `callback` once, `delayMilliseconds` from now (on the monotonic clock). */
  setTimer(callback: () => void, delayMilliseconds: number): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
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

/**
 * A clock that only moves when told to: `advance()` moves both clocks and fires every timer that
 * falls due, in order; `stepWallClock()` moves the wall clock alone, as an NTP step would.
 */
export class ManualClock implements Clock {
  private current: number;
  private elapsed = 0;
  private timers: PendingTimer[] = [];
  private sequence = 0;

  constructor(startMilliseconds = Date.UTC(2026, 0, 1)) {
    this.current = startMilliseconds;
  }

  now(): number {
    return this.current;
  }

  monotonic(): number {
    return this.elapsed;
  }

  setTimer(callback: () => void, delayMilliseconds: number): TimerHandle {
    const timer: PendingTimer = {
      dueAt: this.elapsed + Math.max(0, delayMilliseconds),
      sequence: this.sequence++,
      callback,
      cancelled: false,
    };
    this.timers.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }

  /** Steps the wall clock by `milliseconds` (negative: backwards); no time passes, no timer fires. */
  stepWallClock(milliseconds: number): void {
    this.current += milliseconds;
  }

  /** Moves time forward, firing due timers in order (timers they set are fired too if due). */
  advance(milliseconds: number): void {
    const target = this.elapsed + milliseconds;
    // A timer that keeps re-arming itself for "now" would spin forever: fail loudly instead.
    for (let fired = 0; ; fired += 1) {
      if (fired > 1_000_000) throw new Error('ManualClock: more than a million timers fired in one advance');
      const next = this.nextDue(target);
      if (!next) break;
      this.timers = this.timers.filter((timer) => timer !== next);
      this.moveTo(Math.max(this.elapsed, next.dueAt));
      if (!next.cancelled) next.callback();
    }
    this.moveTo(target);
  }

  private moveTo(elapsed: number): void {
    this.current += elapsed - this.elapsed;
    this.elapsed = elapsed;
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

/**
 * A view of another clock whose wall clock can be stepped on its own: the exporter's machine gets an
 * NTP step while the upstream's clock (a simulator on the same base clock) does not.
 */
export class SteppableClock implements Clock {
  private offset = 0;

  constructor(private readonly base: Clock) {}

  now(): number {
    return this.base.now() + this.offset;
  }

  monotonic(): number {
    return this.base.monotonic();
  }

  setTimer(callback: () => void, delayMilliseconds: number): TimerHandle {
    return this.base.setTimer(callback, delayMilliseconds);
  }

  stepWallClock(milliseconds: number): void {
    this.offset += milliseconds;
  }
}

/** Moves times between the two clocks: stored times are wall-clock, scheduling is monotonic. */
export function wallToMonotonic(clock: Clock, wall: number): number {
  return clock.monotonic() - (clock.now() - wall);
}

export function monotonicToWall(clock: Clock, monotonic: number): number {
  return clock.now() - (clock.monotonic() - monotonic);
}
