import type { CounterIncrement, CounterTotals, HistogramTotals } from '../metrics/totals.js';
import type { PnsErrorRecord } from './records.js';
import type { NewNotification, NotificationRecord, NotificationSummary, PollOutcome, TrackedMessage } from './types.js';

/**
 * The storage seam: what the intake, the poll loops, the error-details fetcher, Everlive and the
 * metrics need from durable state, in their words. Two backends sit behind it (tracking/sqlite/,
 * tracking/postgres/); nothing above this file knows which one runs.
 *
 * Everything that may reach a network database is async. The counter and histogram totals read by
 * /metrics are in memory and synchronous: a backend changes them only after the commit that
 * persists the same change, so a scrape never shows a count that a crash could take back.
 */
export interface Storage {
  /** For logs and /-/ready answers only; callers never branch on it. */
  readonly backend: 'sqlite' | 'postgres';
  readonly counters: CounterTotals;
  readonly histograms: HistogramTotals;
  readonly everlive: EverliveStorage;
  readonly errorDetails: ErrorDetailsStorage;
  readonly azureMonitor: AzureMonitorStorage;

  /**
   * Stores new IDs and resolves only after they committed (the intake answers 202 then), in one
   * transaction that other requests handed in meanwhile may share (group commit: one fsync for
   * them all). An ID already known (tracked or recently finished, by any replica, or named by an
   * earlier request of the same group) is a duplicate. A scheduled send starts in state
   * `Scheduled`, any other in `Pending`. The accepted messages are this process's to poll.
   */
  acceptNotifications(items: readonly NewNotification[], now: number, firstPollAt: number): Promise<IntakeResult>;
  /** Counts refused intake items: one entry per item, the target it named ('' when unknown). */
  countRejectedIntake(targets: readonly string[]): Promise<void>;

  /**
   * Work this process should take up that its own intake did not hand it: at start the messages and
   * error-details fetches it resumes, later those left by a replica that stopped (a single-process
   * backend answers everything once, then nothing). Only for the given targets.
   */
  claimWork(targets: readonly string[]): Promise<ClaimedWork>;
  /**
   * Writes one poll answer (message row, last-seen counts, counters and histograms) as one whole,
   * possibly in a transaction shared with answers handed in within a few milliseconds. Rejects with
   * WorkLostError if this process may no longer poll the message (another took it over).
   */
  recordPoll(outcome: PollOutcome): Promise<void>;

  /**
   * Of these targets, those whose gauges of shared state (source_up, last success) this process
   * exports now, as sourceTargetKey()s: one process per target, so that a sum over replicas counts
   * each once. A single-process backend answers all of them.
   */
  reportingTargets(targets: readonly SourceTarget[]): Promise<Set<string>>;

  getNotification(target: string, notificationId: string): Promise<NotificationRecord | undefined>;
  /** Recent messages, newest first (by acceptance); `after` is the previous page's last item. */
  listNotifications(query: NotificationListQuery): Promise<NotificationSummary[]>;
  /** Deletes finished messages older than `before`; their IDs are no longer reported as duplicates. */
  pruneFinished(before: number): Promise<number>;

  /** Why the storage cannot keep what it is given now, or undefined while it can. Cheap and synchronous. */
  problem(): StorageProblem | undefined;
  /** Looks again (a network backend pings its database); problem() then tells the result. */
  checkHealth(): Promise<void>;
  close(): Promise<void>;
}

/**
 * `lasting`: the storage is gone for good in this process (the SQLite file was deleted or replaced):
 * stop, restart. Otherwise it may come back by itself (the database is unreachable): wait, retry.
 */
export interface StorageProblem {
  message: string;
  lasting: boolean;
}

export interface SourceTarget {
  source: string;
  target: string;
}

export function sourceTargetKey({ source, target }: SourceTarget): string {
  return `${source}\u0000${target}`;
}

/** One intake request's items, as handed to a group commit. */
export interface IntakeRequest {
  items: readonly NewNotification[];
  now: number;
  firstPollAt: number;
}

export interface IntakeResult {
  accepted: TrackedMessage[];
  duplicates: number;
}

export interface ClaimedWork {
  messages: TrackedMessage[];
  errorDetails: PendingErrorDetails[];
}

export interface NotificationListQuery {
  target?: string;
  state?: string;
  limit: number;
  after?: { acceptedAt: number; notificationId: string; target: string };
}

export interface EverliveStorage {
  /**
   * Whether this process may read this app now (one replica at a time reads an app; the others
   * skip their runs). Once granted it stays so while the process is alive and connected.
   */
  claimApp(target: string): Promise<boolean>;
  cursor(target: string): Promise<number | undefined>;
  /**
   * The cursor a run starts from: set to `initial` if there is none yet, and moved back if it is
   * later than the moment it was written or than `now` (clock-skew.ts).
   */
  cursorForRun(target: string, initial: number, now: number): Promise<{ cursor: number; movedBackMilliseconds?: number }>;
  /** What was seen of these notifications before (absent = never seen). */
  seen(target: string, ids: readonly string[]): Promise<Map<string, SeenNotification>>;
  /**
   * One page in one transaction with the cursor. Returns the keys of malformed items counted now;
   * rejects with WorkLostError if another process reads this app now.
   */
  recordPage(change: EverlivePageChange): Promise<Set<string>>;
  /** Forgets notifications not modified since `before`, never inside the window the next run reads again. */
  prune(target: string, before: number, overlap: number): Promise<number>;
}

/**
 * The Azure Monitor part of the state: per target and metric, the last minute counted. The only
 * write is commitMinutes(), which stores the new cursors and the counter totals in one
 * transaction: a crash before it commits counts the minutes again from the old cursor (nothing was
 * added), a crash after it counts nothing twice.
 */
export interface AzureMonitorStorage {
  /** Whether this process may read this hub's metrics now (one replica at a time, as claimApp). */
  claimTarget(target: string): Promise<boolean>;
  /** The last minute counted per metric of a target (absent: never counted). */
  cursors(target: string): Promise<Map<string, number>>;
  /** Rejects with WorkLostError if another process reads this hub now: nothing was written. */
  commitMinutes(minutes: CountedMinutes): Promise<void>;
}

/** Minutes of Azure Monitor metrics counted for one target, with the counts they add. */
export interface CountedMinutes {
  target: string;
  now: number;
  /** Added to the counter totals. */
  increments: readonly CounterIncrement[];
  /** Per metric, the start (epoch milliseconds) of the last minute now counted. */
  cursors: ReadonlyMap<string, number>;
}

export interface ErrorDetailsStorage {
  /** A fetch attempt that did not finish (not there yet, an error): when to try again, or give up. */
  recordAttempt(details: PendingErrorDetails, state: ErrorDetailsState, lastStatus: string): Promise<void>;
  /**
   * Stores a fetched blob's records and counts only those never seen before, in one transaction with
   * the fetch's new state and `alsoCount` (the blob's unreadable parts). Resolves to how many were new.
   */
  recordFetched(
    details: PendingErrorDetails,
    records: readonly PnsErrorRecord[],
    incrementFor: (record: PnsErrorRecord) => CounterIncrement,
    alsoCount?: readonly CounterIncrement[],
  ): Promise<number>;
}

export type ErrorDetailsState = 'pending' | 'done' | 'failed' | 'refused';

export interface PendingErrorDetails {
  target: string;
  notificationId: string;
  uri: string;
  attempts: number;
  nextPollAt: number;
  firstSeenAt: number;
}

export interface StoredPnsError {
  feedbackTime: string | null;
  platform: string;
  error: string;
  pnsHandle: string | null;
  newPnsHandle: string | null;
  registrationId: string | null;
  installationId: string | null;
}

export interface FeedbackCounts {
  sent: number;
  failed: number;
  deactivated: number;
}

export interface SeenNotification {
  status: string | null;
  feedback: Map<string, FeedbackCounts>;
}

/** Everything one page of Everlive notifications changes, written in one transaction with the cursor. */
export interface EverlivePageChange {
  target: string;
  now: number;
  /** Where the next run starts (minus the overlap): the page's last ModifiedAt, never past the present. */
  cursor: number | undefined;
  notifications: { id: string; status: string | null; modifiedAt: number }[];
  /** Malformed items by a stable key; only those not seen before are counted. */
  invalidItems: { key: string; increment: CounterIncrement }[];
  feedback: ({ id: string; platformKey: string } & FeedbackCounts)[];
  counterIncrements: CounterIncrement[];
}

export class StoreError extends Error {
  override name = 'StoreError';
}

/**
 * The work (a message, a fetch, an Everlive app) is another process's now: it took it over while
 * this one was thought gone. Nothing was written; the caller drops its copy.
 */
export class WorkLostError extends StoreError {
  override name = 'WorkLostError';
}
