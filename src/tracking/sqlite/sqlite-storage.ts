import type Database from 'better-sqlite3';
import type { PnsErrorRecord } from '../records.js';
import type { CounterIncrement } from '../../metrics/totals.js';
import { TotalsMirror } from '../counting.js';
import { GroupCommit } from '../group-commit.js';
import {
  sourceTargetKey,
  type SourceTarget,
  type AzureMonitorStorage,
  type ClaimedWork,
  type ErrorDetailsState,
  type ErrorDetailsStorage,
  type EverlivePageChange,
  type EverliveStorage,
  type IntakeRequest,
  type IntakeResult,
  type NotificationListQuery,
  type PendingErrorDetails,
  type Storage,
  type StorageProblem,
} from '../storage.js';
import type { NewNotification, NotificationRecord, NotificationSummary, PollOutcome } from '../types.js';
import { SqliteAzureMonitor } from './azure-monitor-store.js';
import { SqliteErrorDetails } from './error-details-store.js';
import { SqliteEverlive } from './everlive-store.js';
import { SqliteMessages } from './message-store.js';
import { openStateFile } from './open.js';
import { refuseSilentReset } from './state-file-guard.js';
import { StateFileIdentity } from './state-file-identity.js';
import { SqliteTotals } from './totals-store.js';

/**
 * The embedded backend: one SQLite file (WAL, synchronous=FULL) for one process. Its work is
 * synchronous (better-sqlite3); the async methods only fit it to the Storage seam, and every
 * promise settles after the transaction committed.
 */
export class SqliteStorage implements Storage {
  readonly backend = 'sqlite';
  readonly everlive: EverliveStorage;
  readonly errorDetails: ErrorDetailsStorage;
  readonly azureMonitor: AzureMonitorStorage;
  private readonly mirror: TotalsMirror;
  private readonly messages: SqliteMessages;
  private readonly polls: GroupCommit<PollOutcome>;
  private readonly intake: GroupCommit<IntakeRequest, IntakeResult>;
  private readonly syncEverlive: SqliteEverlive;
  private readonly syncErrorDetails: SqliteErrorDetails;
  private identity: StateFileIdentity | undefined;
  private claimed = false;
  private readonly totalChanges: Database.Statement;
  private lookedAt: { changes: number; problem: StorageProblem | undefined } | undefined;

  private constructor(
    private readonly database: Database.Database,
    histogramBounds: ReadonlyMap<string, readonly number[]>,
  ) {
    this.mirror = new TotalsMirror(histogramBounds);
    this.totalChanges = database.prepare('SELECT total_changes()').pluck();
    const totals = new SqliteTotals(database);
    const persist = (increments: readonly CounterIncrement[]) => totals.persistCounters(increments);
    const apply = (increments: readonly CounterIncrement[]) => this.mirror.applyCounters(increments);
    this.syncEverlive = new SqliteEverlive(database, persist, apply);
    this.syncErrorDetails = new SqliteErrorDetails(database, persist, apply);
    this.messages = new SqliteMessages(database, totals, this.mirror, this.syncErrorDetails);
    this.polls = new GroupCommit<PollOutcome>((outcomes) => attempt(() => this.messages.recordPolls(outcomes)).then(() => outcomes.map(() => undefined)));
    // Intake requests wait for nobody: those that arrive while one group is written form the next.
    this.intake = new GroupCommit((requests) => attempt(() => this.messages.acceptGroup(requests)), { delayMilliseconds: 0 });
    this.everlive = everliveFacade(this.syncEverlive);
    this.errorDetails = errorDetailsFacade(this.syncErrorDetails);
    this.azureMonitor = azureMonitorFacade(new SqliteAzureMonitor(database, persist, apply));
    totals.loadInto(this.mirror);
  }

  /** Opens (creating with its folder) the state file; an empty, corrupt, foreign or locked file is a StoreError. */
  static open(path: string, histogramBounds: ReadonlyMap<string, readonly number[]>): SqliteStorage {
    refuseSilentReset(path);
    const database = openStateFile(path);
    try {
      const storage = new SqliteStorage(database, histogramBounds);
      storage.identity = StateFileIdentity.capture(path);
      return storage;
    } catch (error) {
      database.close();
      throw error;
    }
  }

  get counters() {
    return this.mirror.counters;
  }

  get histograms() {
    return this.mirror.histograms;
  }

  /** Group commit: one transaction (one fsync) for the requests handed in together. */
  acceptNotifications(items: readonly NewNotification[], now: number, firstPollAt: number): Promise<IntakeResult> {
    return this.intake.add({ items, now, firstPollAt });
  }

  /** Intake transactions written so far (tests see the grouping through it). */
  get intakeTransactions(): number {
    return this.intake.transactions;
  }

  countRejectedIntake(targets: readonly string[]): Promise<void> {
    return attempt(() => this.messages.countRejected(targets));
  }

  /** One process owns the file: everything unfinished is its work, handed over once. */
  claimWork(targets: readonly string[]): Promise<ClaimedWork> {
    if (this.claimed) return Promise.resolve({ messages: [], errorDetails: [] });
    this.claimed = true;
    const wanted = new Set(targets);
    return attempt(() => ({
      messages: this.messages.loadActive(),
      errorDetails: this.syncErrorDetails.pending().filter((pending) => wanted.has(pending.target)),
    }));
  }

  /** Group commit: one transaction (one fsync) for the answers handed in within a few milliseconds. */
  recordPoll(outcome: PollOutcome): Promise<void> {
    return this.polls.add(outcome);
  }

  /** Writes poll answers in one transaction now (tests of the transaction itself). */
  recordPollsNow(outcomes: readonly PollOutcome[]): void {
    this.messages.recordPolls(outcomes);
  }

  /** One process: it reports every target. */
  reportingTargets(targets: readonly SourceTarget[]): Promise<Set<string>> {
    return Promise.resolve(new Set(targets.map(sourceTargetKey)));
  }

  getNotification(target: string, notificationId: string): Promise<NotificationRecord | undefined> {
    return attempt(() => this.messages.get(target, notificationId));
  }

  listNotifications(query: NotificationListQuery): Promise<NotificationSummary[]> {
    return attempt(() => this.messages.list(query));
  }

  pruneFinished(before: number): Promise<number> {
    return attempt(() => this.messages.pruneFinished(before));
  }

  /**
   * A deleted or replaced state file is lost for good: SQLite would go on writing into the unlinked
   * file. The poll loop asks before every request and the intake before and after every commit, so
   * the answer of one look at the file (a stat) stands until this connection writes again (SQLite's
   * total_changes() moves) or the guard's timer asks for a fresh look (checkHealth): a write that
   * committed is always followed by a fresh look before anyone is told it is durable.
   */
  problem(): StorageProblem | undefined {
    if (!this.database.open) return this.lookedAt?.problem;
    const changes = this.totalChanges.get() as number;
    if (this.lookedAt?.changes !== changes) {
      const message = this.identity?.problem();
      this.lookedAt = { changes, problem: message === undefined ? undefined : { message, lasting: true } };
    }
    return this.lookedAt.problem;
  }

  /** The guard's timer: look at the file again even if nothing was written since. */
  checkHealth(): Promise<void> {
    this.lookedAt = undefined;
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.database.open) this.database.close();
    return Promise.resolve();
  }
}

/** Runs synchronous work as a promise, so a thrown error is a rejection like a network backend's. */
function attempt<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

function everliveFacade(store: SqliteEverlive): EverliveStorage {
  return {
    claimApp: () => Promise.resolve(true),
    cursor: (target) => attempt(() => store.cursor(target)),
    cursorForRun: (target, initial, now) => attempt(() => store.cursorForRun(target, initial, now)),
    seen: (target, ids) => attempt(() => store.seen(target, ids)),
    recordPage: (change: EverlivePageChange) => attempt(() => store.recordPage(change)),
    prune: (target, before, overlap) => attempt(() => store.prune(target, before, overlap)),
  };
}

function errorDetailsFacade(store: SqliteErrorDetails): ErrorDetailsStorage {
  return {
    recordAttempt: (details: PendingErrorDetails, state: ErrorDetailsState, lastStatus: string) =>
      attempt(() => store.recordAttempt(details, state, lastStatus)),
    recordFetched: (details: PendingErrorDetails, records: readonly PnsErrorRecord[], incrementFor, alsoCount) =>
      attempt(() => store.recordFetched(details, records, incrementFor, alsoCount)),
  };
}

function azureMonitorFacade(store: SqliteAzureMonitor): AzureMonitorStorage {
  return {
    claimTarget: () => Promise.resolve(true),
    cursors: (target) => attempt(() => store.cursors(target)),
    commitMinutes: (minutes) => attempt(() => store.commitMinutes(minutes)),
  };
}
