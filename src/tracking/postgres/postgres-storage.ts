import type { PostgresStorageConfig } from '../../config/load.js';
import type { Logger } from '../../logging/logger.js';
import { sourceLabels } from '../../metrics/names.js';
import { TotalsMirror } from '../counting.js';
import { GroupCommit } from '../group-commit.js';
import {
  StoreError,
  WorkLostError,
  sourceTargetKey,
  type AzureMonitorStorage,
  type ClaimedWork,
  type ErrorDetailsStorage,
  type EverliveStorage,
  type SourceTarget,
  type IntakeRequest,
  type IntakeResult,
  type NotificationListQuery,
  type Storage,
  type StorageProblem,
} from '../storage.js';
import type { NewNotification, NotificationRecord, NotificationSummary, PollOutcome } from '../types.js';
import { azureMonitorResource, PostgresAzureMonitor } from './azure-monitor.js';
import { Database, isConnectionError } from './database.js';
import { PostgresErrorDetails } from './error-details.js';
import { everliveResource, PostgresEverlive } from './everlive.js';
import { PostgresMessages } from './messages.js';
import { defaultLeaseTiming, ReplicaPresence, type LeaseTiming } from './replicas.js';
import { migrate } from './schema.js';
import { PostgresTotals } from './totals.js';
import { WorkOwners } from './work-owners.js';
import { WriteGate } from './write-gate.js';

/** How many rows one claim takes at most; the next claim takes more. */
const claimBatch = 2_000;

/**
 * Several replicas on one PostgreSQL database. Each replica counts into its own totals (kept under
 * its replicaId), polls the messages it owns, and takes over the work of a replica whose lease ran
 * out. Losing the database is passing: intake answers 503, the poll loops wait, and all resume.
 */
export class PostgresStorage implements Storage {
  readonly backend = 'postgres';
  readonly everlive: EverliveStorage;
  readonly errorDetails: ErrorDetailsStorage;
  readonly azureMonitor: AzureMonitorStorage;
  private readonly mirror: TotalsMirror;
  private readonly messages: PostgresMessages;
  private readonly polls: GroupCommit<PollOutcome>;
  private readonly intake: GroupCommit<IntakeRequest, IntakeResult>;
  private readonly owners: WorkOwners;
  private readonly gate = new WriteGate();
  private readonly totals: PostgresTotals;
  private readonly everliveRows: PostgresEverlive;
  private readonly errorDetailRows: PostgresErrorDetails;
  private resumed = false;
  private resyncNeeded = false;

  private constructor(
    private readonly database: Database,
    private readonly presence: ReplicaPresence,
    readonly replicaId: string,
    histogramBounds: ReadonlyMap<string, readonly number[]>,
  ) {
    this.mirror = new TotalsMirror(histogramBounds);
    const totals = (this.totals = new PostgresTotals(replicaId));
    this.errorDetailRows = new PostgresErrorDetails(database, replicaId, totals, this.mirror);
    this.owners = new WorkOwners(database, replicaId, () => presence.mayTakeOver());
    this.everliveRows = new PostgresEverlive(database, replicaId, totals, this.mirror, this.owners);
    this.messages = new PostgresMessages(database, replicaId, totals, this.mirror, this.errorDetailRows);
    this.polls = new GroupCommit<PollOutcome>(async (outcomes) => {
      await this.gate.write(() => this.messages.recordPolls(outcomes));
      return outcomes.map(() => undefined);
    });
    // Intake requests wait for nobody: those that arrive while one group is written form the next.
    // Unreachable, the database fails every request alike: none is retried alone.
    this.intake = new GroupCommit((requests) => this.gate.write(() => this.messages.acceptGroup(requests)), {
      delayMilliseconds: 0,
      retryAlone: (error) => !isConnectionError(error) && database.problem === undefined,
    });
    this.everlive = gatedEverlive(this.everliveRows, this.gate);
    this.errorDetails = gatedErrorDetails(this.errorDetailRows, this.gate);
    this.azureMonitor = gatedAzureMonitor(new PostgresAzureMonitor(database, replicaId, totals, this.mirror, this.owners), this.gate);
  }

  /**
   * Connects, creates or migrates the schema (under a lock: replicas starting together wait for each
   * other), joins as this replica and loads its own totals. Fails with a StoreError naming the cause.
   */
  static async open(
    config: PostgresStorageConfig,
    histogramBounds: ReadonlyMap<string, readonly number[]>,
    logger?: Logger,
    /** Shorter leases for tests of takeover; production uses the defaults. */
    timing: LeaseTiming = defaultLeaseTiming,
  ): Promise<PostgresStorage> {
    const applicationName = `push-notification-exporter ${config.replicaId}`;
    const database = new Database({ connectionString: config.connectionString, poolSize: config.poolSize, applicationName }, logger);
    const presence = new ReplicaPresence(database, { connectionString: config.connectionString, replicaId: config.replicaId, applicationName }, timing, logger);
    const storage = new PostgresStorage(database, presence, config.replicaId, histogramBounds);
    try {
      await database.transaction((client) => migrate(client));
      await presence.join();
      await database.transaction((client) => storage.totals.loadInto(client, storage.mirror));
      return storage;
    } catch (error) {
      await presence.leave().catch(() => undefined);
      await database.close().catch(() => undefined);
      if (error instanceof StoreError) throw error;
      const reason = isConnectionError(error) ? 'cannot connect' : 'cannot prepare the database';
      throw new StoreError(`PostgreSQL storage: ${reason}: ${database.problem?.message ?? describe(error)}`);
    }
  }

  get counters() {
    return this.mirror.counters;
  }

  get histograms() {
    return this.mirror.histograms;
  }

  /** Group commit: one transaction for the requests handed in together. */
  acceptNotifications(items: readonly NewNotification[], now: number, firstPollAt: number): Promise<IntakeResult> {
    return this.intake.add({ items, now, firstPollAt });
  }

  /** Intake transactions written so far (tests see the grouping through it). */
  get intakeTransactions(): number {
    return this.intake.transactions;
  }

  countRejectedIntake(targets: readonly string[]): Promise<void> {
    return this.gate.write(() => this.messages.countRejected(targets));
  }

  /**
   * The first claim resumes this replica's own work from before a restart; every claim takes work
   * nobody holds (released at a clean stop), and, once this replica may, work of replicas gone.
   */
  async claimWork(targets: readonly string[]): Promise<ClaimedWork> {
    if (targets.length === 0) return { messages: [], errorDetails: [] };
    const options = { resume: !this.resumed, takeOver: this.presence.mayTakeOver(), limit: claimBatch };
    const work: ClaimedWork = { messages: this.resumed && this.resyncNeeded ? await this.messages.ownedNotHeld(targets) : [], errorDetails: [] };
    this.resyncNeeded = false;
    for (;;) {
      const messages = await this.messages.claim(targets, options);
      work.messages.push(...messages);
      if (messages.length < claimBatch) break;
    }
    work.errorDetails = await this.errorDetailRows.claim(targets, options);
    this.resumed = true;
    return work;
  }

  async recordPoll(outcome: PollOutcome): Promise<void> {
    try {
      await this.polls.add(outcome);
    } catch (error) {
      // Not written over the revision it was computed from: give the message back, so whoever
      // claims it next starts from what is stored.
      if (error instanceof WorkLostError) await this.messages.release(outcome.target, outcome.notificationId).catch(() => undefined);
      throw error;
    }
  }

  /**
   * One replica per target reports the gauges of shared state (source_up, last success), so a sum
   * over replicas counts each target once: the reader of an Everlive app or of a hub's Azure
   * Monitor metrics; for an Azure hub's telemetry, which every replica polls, the owner of its report.
   */
  async reportingTargets(targets: readonly SourceTarget[]): Promise<Set<string>> {
    const resourceOf = (entry: SourceTarget) => {
      if (entry.source === sourceLabels.everlive) return everliveResource(entry.target);
      if (entry.source === sourceLabels.azureMonitor) return azureMonitorResource(entry.target);
      return `report:${entry.source}:${entry.target}`;
    };
    const owned = await this.owners.claim(targets.map(resourceOf));
    return new Set(targets.filter((entry) => owned.has(resourceOf(entry))).map(sourceTargetKey));
  }

  getNotification(target: string, notificationId: string): Promise<NotificationRecord | undefined> {
    return this.messages.get(target, notificationId);
  }

  listNotifications(query: NotificationListQuery): Promise<NotificationSummary[]> {
    return this.messages.list(query);
  }

  pruneFinished(before: number): Promise<number> {
    return this.messages.pruneFinished(before);
  }

  problem(): StorageProblem | undefined {
    return this.database.problem;
  }

  async checkHealth(): Promise<void> {
    await this.database.query('SELECT 1').catch(() => undefined);
    if (this.database.problem === undefined && this.database.takeUncertainty()) await this.resync().catch(() => undefined);
  }

  /**
   * After a COMMIT whose answer was lost: the database is right, memory may not be. The totals are
   * read again (alone, between writes), and the next claim takes up messages this replica owns
   * without holding them (an intake whose 202 was lost left its IDs owned here but unpolled).
   */
  private async resync(): Promise<void> {
    await this.gate.exclusive(async () => {
      await this.database.transaction(async (client) => {
        this.mirror.counters.clear();
        this.mirror.histograms.clear();
        await this.totals.loadInto(client, this.mirror);
      });
    });
    this.resyncNeeded = true;
  }

  /** A clean stop hands this replica's work back at once (the others need not wait for its lease). */
  async close(): Promise<void> {
    try {
      await this.messages.releaseAll();
      await this.errorDetailRows.releaseAll();
      await this.owners.releaseAll();
    } catch {
      // Unreachable: the lease runs out by itself and the others take over then.
    }
    await this.presence.leave();
    await this.database.close();
  }
}

function describe(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]?.slice(0, 300) ?? '';
}

function gatedEverlive(rows: PostgresEverlive, gate: WriteGate): EverliveStorage {
  return {
    claimApp: (target) => rows.claimApp(target),
    cursor: (target) => rows.cursor(target),
    cursorForRun: (target, initial, now) => rows.cursorForRun(target, initial, now),
    seen: (target, ids) => rows.seen(target, ids),
    recordPage: (change) => gate.write(() => rows.recordPage(change)),
    prune: (target, before, overlap) => rows.prune(target, before, overlap),
  };
}

function gatedErrorDetails(rows: PostgresErrorDetails, gate: WriteGate): ErrorDetailsStorage {
  return {
    recordAttempt: (details, state, lastStatus) => rows.recordAttempt(details, state, lastStatus),
    recordFetched: (details, records, incrementFor, alsoCount) => gate.write(() => rows.recordFetched(details, records, incrementFor, alsoCount)),
  };
}

function gatedAzureMonitor(rows: PostgresAzureMonitor, gate: WriteGate): AzureMonitorStorage {
  return {
    claimTarget: (target) => rows.claimTarget(target),
    cursors: (target) => rows.cursors(target),
    commitMinutes: (minutes) => gate.write(() => rows.commitMinutes(minutes)),
  };
}
