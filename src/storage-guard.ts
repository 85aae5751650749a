import type { Logger } from './logging/logger.js';
import type { Clock, TimerHandle } from './time/clock.js';

export interface StorageGuardOptions {
  /** Why the store can no longer keep what it is given, or undefined while it can. */
  check: () => string | undefined;
  clock: Clock;
  logger: Logger;
  intervalMilliseconds: number;
  /** Called once, when the problem is first seen (stop writing: nothing written now would last). */
  onLost: (problem: string) => void;
}

/**
 * Watches that the store is still the one opened: checked on a timer and before every intake
 * acknowledgement. Once lost, it stays lost: intake and readiness answer 503 and the process exits
 * non-zero at its next stop, instead of acknowledging IDs into a file nobody will read again.
 */
export class StorageGuard {
  private lost: string | undefined;
  private timer: TimerHandle | undefined;

  constructor(private readonly options: StorageGuardOptions) {}

  get problem(): string | undefined {
    return this.lost;
  }

  start(): void {
    this.timer = this.options.clock.setTimer(() => {
      this.verify();
      if (this.lost === undefined && this.timer) this.start();
    }, this.options.intervalMilliseconds);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Checks now; the first problem seen is logged once and kept. */
  verify(): string | undefined {
    if (this.lost !== undefined) return this.lost;
    let problem: string | undefined;
    try {
      problem = this.options.check();
    } catch (error) {
      problem = `the state could not be checked: ${String(error)}`;
    }
    if (problem === undefined) return undefined;
    this.lost = problem;
    this.stop();
    this.options.logger.error(
      { problem },
      'state storage lost: intake now answers 503 and polling has stopped; IDs acknowledged after the loss are not stored; restart the exporter (restore the state file first if it was removed by mistake)',
    );
    this.options.onLost(problem);
    return problem;
  }
}
