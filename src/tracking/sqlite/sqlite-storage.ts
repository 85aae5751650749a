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
import { WalSync, type SyncFunction } from './wal-sync.js';

/**
 * The embedded backend: one SQLite file (WAL) for one process. Its statements are synchronous
 * (better-sqlite3); the WAL is flushed to disk off the event loop (wal-sync.ts), and every promise
 * settles, and every change to the in-memory totals is made, only once the transaction is on disk.
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
  /** Changes to the in-memory totals made by the transaction just committed: they wait for its flush. */
  private afterFlush: (() => void)[] = [];

  private constructor(
    private readonly database: Database.Database,
    histogramBounds: ReadonlyMap<string, readonly number[]>,
    private readonly wal: WalSync | undefined,
  ) {
    this.mirror = new TotalsMirror(histogramBounds);
    this.totalChanges = database.prepare('SELECT total_changes()').pluck();
    const totals = new SqliteTotals(database);
    const persist = (increments: readonly CounterIncrement[]) => totals.persistCounters(increments);
    const defer = (change: () => void) => this.afterFlush.push(change);
    const apply = (increments: readonly CounterIncrement[]) => defer(() => this.mirror.applyCounters(increments));
    this.syncEverlive = new SqliteEverlive(database, persist, apply);
    this.syncErrorDetails = new SqliteErrorDetails(database, persist, apply);
    this.messages = new SqliteMessages(database, totals, this.mirror, defer, this.syncErrorDetails);
    this.polls = new GroupCommit<PollOutcome>((outcomes) => this.durably(() => this.messages.recordPolls(outcomes)).then(() => outcomes.map(() => undefined)));
    // Intake requests wait for nobody: those that arrive while one group is written (and flushed) form the next.
    this.intake = new GroupCommit((requests) => this.durably(() => this.messages.acceptGroup(requests)), { delayMilliseconds: 0 });
    const durably = <T>(work: () => T) => this.durably(work);
    this.everlive = everliveFacade(this.syncEverlive, durably);
    this.errorDetails = errorDetailsFacade(this.syncErrorDetails, durably);
    this.azureMonitor = azureMonitorFacade(new SqliteAzureMonitor(database, persist, apply), durably);
    totals.loadInto(this.mirror);
  }

  /**
   * Opens (creating with its folder) the state file; an empty, corrupt, foreign or locked file is a
   * StoreError. `sync` flushes the WAL (tests hold it to see what waits for the flush).
   */
  static open(path: string, histogramBounds: ReadonlyMap<string, readonly number[]>, sync?: SyncFunction): SqliteStorage {
    refuseSilentReset(path);
    const database = openStateFile(path);
    let wal: WalSync | undefined;
    try {
      if (path !== ':memory:' && path !== '') {
        wal = WalSync.open(path, sync);
        // From here COMMIT only writes the WAL; durability is the flush each acknowledgement waits for.
        database.pragma('synchronous = NORMAL');
      }
      const storage = new SqliteStorage(database, histogramBounds, wal);
      storage.identity = StateFileIdentity.capture(path);
      return storage;
    } catch (error) {
      void wal?.close();
      database.close();
      throw error;
    }
  }

  /**
   * Runs synchronous work (its transactions commit in it), then resolves with its result once the
   * WAL holding them is on disk, after applying the in-memory changes the work queued.
   */
  private durably<T>(work: () => T): Promise<T> {
    let result: T;
    try {
      result = work();
    } catch (error) {
      this.afterFlush = [];
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const changes = this.afterFlush;
    this.afterFlush = [];
    const apply = () => {
      for (const change of changes) change();
    };
    if (!this.wal) {
      apply();
      return Promise.resolve(result);
    }
    return this.wal.settle(apply).then(() => result);
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
    return this.durably(() => this.messages.countRejected(targets));
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
    const flushProblem = this.wal?.problem;
    if (flushProblem !== undefined) return { message: flushProblem, lasting: true };
    if (!this.database.open) return this.lookedAt?.problem;
    const changes = this.totalChanges.get() as number;
    if (this.lookedAt?.changes !== changes) {
      const message = this.identity?.problem() ?? this.walProblem();
      this.lookedAt = { changes, problem: message === undefined ? undefined : { message, lasting: true } };
    }
    return this.lookedAt.problem;
  }

  private walProblem(): string | undefined {
    if (!this.wal || this.wal.isSameFile()) return undefined;
    return `the write-ahead log of the state file (${this.database.name}-wal) was deleted or replaced while the exporter had it open`;
  }

  /** The guard's timer: look at the file again even if nothing was written since. */
  checkHealth(): Promise<void> {
    this.lookedAt = undefined;
    return Promise.resolve();
  }

  async close(): Promise<void> {
    await this.wal?.close();
    if (this.database.open) this.database.close();
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

/** Runs writes and resolves once they are on disk (SqliteStorage.durably). */
type Durably = <T>(work: () => T) => Promise<T>;

function everliveFacade(store: SqliteEverlive, durably: Durably): EverliveStorage {
  return {
    claimApp: () => Promise.resolve(true),
    cursor: (target) => attempt(() => store.cursor(target)),
    cursorForRun: (target, initial, now) => durably(() => store.cursorForRun(target, initial, now)),
    seen: (target, ids) => attempt(() => store.seen(target, ids)),
    recordPage: (change: EverlivePageChange) => durably(() => store.recordPage(change)),
    prune: (target, before, overlap) => durably(() => store.prune(target, before, overlap)),
  };
}

function errorDetailsFacade(store: SqliteErrorDetails, durably: Durably): ErrorDetailsStorage {
  return {
    recordAttempt: (details: PendingErrorDetails, state: ErrorDetailsState, lastStatus: string) =>
      durably(() => store.recordAttempt(details, state, lastStatus)),
    recordFetched: (details: PendingErrorDetails, records: readonly PnsErrorRecord[], incrementFor, alsoCount) =>
      durably(() => store.recordFetched(details, records, incrementFor, alsoCount)),
  };
}

function azureMonitorFacade(store: SqliteAzureMonitor, durably: Durably): AzureMonitorStorage {
  return {
    claimTarget: () => Promise.resolve(true),
    cursors: (target) => attempt(() => store.cursors(target)),
    commitMinutes: (minutes) => durably(() => store.commitMinutes(minutes)),
  };
}
