import type { PostgresStorageConfig } from '../../config/load.js';
import type { Logger } from '../../logging/logger.js';
import { TotalsMirror } from '../counting.js';
import { GroupCommit } from '../group-commit.js';
import {
  StoreError,
  WorkLostError,
  type ClaimedWork,
  type IntakeResult,
  type NotificationListQuery,
  type Storage,
  type StorageProblem,
} from '../storage.js';
import type { NewNotification, NotificationRecord, NotificationSummary, PollOutcome } from '../types.js';
import { Database, isConnectionError } from './database.js';
import { PostgresErrorDetails } from './error-details.js';
import { PostgresEverlive } from './everlive.js';
import { PostgresMessages } from './messages.js';
import { defaultLeaseTiming, ReplicaPresence, type LeaseTiming } from './replicas.js';
import { migrate } from './schema.js';
import { PostgresTotals } from './totals.js';

/** How many rows one claim takes at most; the next claim takes more. */
const claimBatch = 2_000;

/**
 * Several replicas on one PostgreSQL database. Each replica counts into its own totals (kept under
 * its replicaId), polls the messages it owns, and takes over the work of a replica whose lease ran
 * out. Losing the database is passing: intake answers 503, the poll loops wait, and all resume.
 */
export class PostgresStorage implements Storage {
  readonly backend = 'postgres';
  readonly everlive: PostgresEverlive;
  readonly errorDetails: PostgresErrorDetails;
  private readonly mirror: TotalsMirror;
  private readonly messages: PostgresMessages;
  private readonly polls: GroupCommit<PollOutcome>;
  private resumed = false;

  private constructor(
    private readonly database: Database,
    private readonly presence: ReplicaPresence,
    readonly replicaId: string,
    histogramBounds: ReadonlyMap<string, readonly number[]>,
  ) {
    this.mirror = new TotalsMirror(histogramBounds);
    const totals = new PostgresTotals(replicaId);
    this.errorDetails = new PostgresErrorDetails(database, replicaId, totals, this.mirror);
    this.everlive = new PostgresEverlive(database, replicaId, totals, this.mirror, () => presence.mayTakeOver());
    this.messages = new PostgresMessages(database, replicaId, totals, this.mirror, this.errorDetails);
    this.polls = new GroupCommit((outcomes) => this.messages.recordPolls(outcomes));
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
      await database.transaction((client) => new PostgresTotals(config.replicaId).loadInto(client, storage.mirror));
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

  acceptNotifications(items: readonly NewNotification[], now: number, firstPollAt: number): Promise<IntakeResult> {
    return this.messages.accept(items, now, firstPollAt);
  }

  countRejectedIntake(targets: readonly string[]): Promise<void> {
    return this.messages.countRejected(targets);
  }

  /**
   * The first claim resumes this replica's own work from before a restart; every claim takes work
   * nobody holds (released at a clean stop), and, once this replica may, work of replicas gone.
   */
  async claimWork(targets: readonly string[]): Promise<ClaimedWork> {
    if (targets.length === 0) return { messages: [], errorDetails: [] };
    const options = { resume: !this.resumed, takeOver: this.presence.mayTakeOver(), limit: claimBatch };
    const work: ClaimedWork = { messages: [], errorDetails: [] };
    for (;;) {
      const messages = await this.messages.claim(targets, options);
      work.messages.push(...messages);
      if (messages.length < claimBatch) break;
    }
    work.errorDetails = await this.errorDetails.claim(targets, options);
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
  }

  /** A clean stop hands this replica's work back at once (the others need not wait for its lease). */
  async close(): Promise<void> {
    try {
      await this.messages.releaseAll();
      await this.errorDetails.releaseAll();
      await this.everlive.releaseAll();
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
