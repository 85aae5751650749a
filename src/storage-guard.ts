import type { Logger } from './logging/logger.js';
import type { Clock, TimerHandle } from './time/clock.js';
import type { Storage, StorageProblem } from './tracking/storage.js';

export interface StorageGuardOptions {
  storage: Pick<Storage, 'problem' | 'checkHealth'>;
  clock: Clock;
  logger: Logger;
  intervalMilliseconds: number;
  /** Called once, when a lasting problem is first seen (stop writing: nothing written now would last). */
  onLost: (problem: StorageProblem) => void;
}

/**
 * Watches that the storage can keep what it is given: checked on a timer and before every intake
 * acknowledgement. The backend says what kind of problem it has:
 * - lasting (the SQLite file was deleted or replaced): once lost, it stays lost; intake and
 *   readiness answer 503 and the process exits non-zero at its next stop, instead of acknowledging
 *   IDs into a file nobody will read again;
 * - passing (PostgreSQL unreachable or restarting): intake and readiness answer 503 and the poll
 *   loops wait while it lasts, and all resume by themselves when the database answers again.
 */
export class StorageGuard {
  private lost: StorageProblem | undefined;
  private unavailable: StorageProblem | undefined;
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly options: StorageGuardOptions) {}

  /** The lasting problem, if the storage was lost for good. */
  get problem(): StorageProblem | undefined {
    return this.lost;
  }

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Checks now (cheap, synchronous): the lasting problem, or the passing one while it lasts. */
  verify(): StorageProblem | undefined {
    if (this.lost !== undefined) return this.lost;
    let problem: StorageProblem | undefined;
    try {
      problem = this.options.storage.problem();
    } catch (error) {
      problem = { message: `the state could not be checked: ${String(error)}`, lasting: true };
    }
    if (problem?.lasting) return this.loseForGood(problem);
    this.notePassing(problem);
    return problem;
  }

  private schedule(): void {
    this.timer = this.options.clock.setTimer(() => void this.tick(), this.options.intervalMilliseconds);
  }

  private async tick(): Promise<void> {
    try {
      await this.options.storage.checkHealth();
    } catch {
      // The backend records what failed; verify() reads it.
    }
    this.verify();
    if (this.lost === undefined && !this.stopped) this.schedule();
  }

  private loseForGood(problem: StorageProblem): StorageProblem {
    this.lost = problem;
    this.stop();
    this.options.logger.error(
      { problem: problem.message },
      'state storage lost: intake now answers 503 and polling has stopped; IDs acknowledged after the loss are not stored; restart the exporter (restore the state file first if it was removed by mistake)',
    );
    this.options.onLost(problem);
    return problem;
  }

  /** One line when the storage becomes unreachable, one when it is back. */
  private notePassing(problem: StorageProblem | undefined): void {
    if (problem !== undefined && this.unavailable === undefined) {
      this.options.logger.error({ problem: problem.message }, 'state storage unreachable: intake answers 503 and polling waits until it is back');
    } else if (problem === undefined && this.unavailable !== undefined) {
      this.options.logger.info({ problem: this.unavailable.message }, 'state storage reachable again: intake and polling resume');
    }
    this.unavailable = problem;
  }
}
