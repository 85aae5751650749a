import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { metricNames } from '../metrics/names.js';
import { canonicalOutcome } from '../metrics/outcome-classes.js';
import {
  CounterTotals,
  HistogramTotals,
  labelKey,
  parseLabelKey,
  type CounterIncrement,
  type HistogramObservation,
  type HistogramSeries,
  type LabelSet,
} from '../metrics/totals.js';
import { SqliteAzureMonitorCursorStore, type AzureMonitorCursorStore } from './azure-monitor-store.js';
import { ErrorDetailsStore } from './error-details-store.js';
import { EverliveStore } from './everlive-store.js';
import { migrations, type Migration } from './schema.js';
import { StateFileIdentity } from './state-file-identity.js';
import {
  outcomeCountKey,
  type FinishReason,
  type NewNotification,
  type NotificationRecord,
  type NotificationSummary,
  type PollOutcome,
  type TrackedMessage,
  type TrackedState,
} from './types.js';

/** How long a poll answer waits for others to share its transaction (and fsync). */
const groupCommitMilliseconds = 20;

export class StoreError extends Error {
  override name = 'StoreError';
}

export interface IntakeResult {
  accepted: TrackedMessage[];
  duplicates: number;
}

interface MessageRow {
  target: string;
  notification_id: string;
  state: string;
  reported_state: string | null;
  scheduled: number;
  accepted_at: number;
  next_poll_at: number | null;
  attempts: number;
  not_found_count: number;
  last_status: string | null;
  last_polled_at: number | null;
  first_found_at: number | null;
  enqueue_time: number | null;
  start_time: number | null;
  end_time: number | null;
  finished_at: number | null;
  finish_reason: string | null;
}

type ActiveMessageRow = Pick<
  MessageRow,
  'target' | 'notification_id' | 'state' | 'scheduled' | 'accepted_at' | 'next_poll_at' | 'attempts' | 'not_found_count' | 'first_found_at'
>;

interface CountRow {
  target: string;
  notification_id: string;
  platform: string;
  outcome: string;
  count: bigint;
}

/**
 * The tracking store: one SQLite file (WAL, synchronous=FULL) holding tracked and recently finished
 * messages, the last outcome counts seen per message, and the durable counter and histogram totals.
 * Every change that belongs together is one transaction, and the in-memory totals follow only after
 * it commits: a kill -9 at any moment loses nothing acknowledged and counts nothing twice.
 */
export class TrackingStore {
  readonly counters = new CounterTotals();
  readonly histograms: HistogramTotals;
  readonly everlive: EverliveStore;
  readonly errorDetails: ErrorDetailsStore;
  readonly azureMonitor: AzureMonitorCursorStore;
  private readonly statements;
  private pendingPolls: { outcome: PollOutcome; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private identity: StateFileIdentity | undefined;

  private constructor(
    private readonly database: Database.Database,
    histogramBounds: ReadonlyMap<string, readonly number[]>,
  ) {
    this.histograms = new HistogramTotals(histogramBounds);
    this.everlive = new EverliveStore(
      database,
      (increments) => this.persistCounters(increments),
      (increments) => this.applyCounters(increments),
    );
    this.errorDetails = new ErrorDetailsStore(
      database,
      (increments) => this.persistCounters(increments),
      (increments) => this.applyCounters(increments),
    );
    this.azureMonitor = new SqliteAzureMonitorCursorStore(
      database,
      (increments) => this.persistCounters(increments),
      (increments) => this.applyCounters(increments),
    );
    this.statements = {
      insertMessage: database.prepare(
        `INSERT INTO azure_messages (target, notification_id, state, scheduled, accepted_at, next_poll_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      updateMessage: database.prepare(
        `UPDATE azure_messages SET state = @state, reported_state = coalesce(@reportedState, reported_state),
           next_poll_at = @nextPollAt, attempts = @attempts, not_found_count = @notFoundCount,
           last_status = @lastStatus, last_polled_at = @polledAt,
           first_found_at = coalesce(first_found_at, @firstFoundAt),
           enqueue_time = coalesce(@enqueueTime, enqueue_time), start_time = coalesce(@startTime, start_time),
           end_time = coalesce(@endTime, end_time), finished_at = @finishedAt, finish_reason = @finishReason
         WHERE target = @target AND notification_id = @notificationId AND finished_at IS NULL`,
      ),
      upsertCount: database.prepare(
        `INSERT INTO azure_outcome_counts (target, notification_id, platform, outcome, count) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (target, notification_id, platform, outcome) DO UPDATE SET count = excluded.count`,
      ),
      addCounter: database.prepare(
        `INSERT INTO counter_totals (family, labels, value) VALUES (?, ?, ?)
         ON CONFLICT (family, labels) DO UPDATE SET value = value + excluded.value`,
      ),
      putHistogram: database.prepare(
        `INSERT INTO histogram_totals (family, labels, bounds, bucket_counts, sum, count) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (family, labels) DO UPDATE SET bounds = excluded.bounds,
           bucket_counts = excluded.bucket_counts, sum = excluded.sum, count = excluded.count`,
      ),
      getMessage: database.prepare(`SELECT * FROM azure_messages WHERE target = ? AND notification_id = ?`),
      getCounts: database
        .prepare(`SELECT * FROM azure_outcome_counts WHERE target = ? AND notification_id = ? ORDER BY platform, outcome`)
        .safeIntegers(true),
      insertErrorDetails: database.prepare(
        `INSERT INTO azure_error_details (target, notification_id, uri, state, next_fetch_at, first_seen_at)
         VALUES (?, ?, ?, 'pending', ?, ?) ON CONFLICT DO NOTHING`,
      ),
      pruneErrorDetails: database.prepare(
        `DELETE FROM azure_error_details WHERE (target, notification_id) IN
           (SELECT target, notification_id FROM azure_messages WHERE finished_at < ?)`,
      ),
      prunePnsErrors: database.prepare(
        `DELETE FROM azure_pns_errors WHERE (target, notification_id) IN
           (SELECT target, notification_id FROM azure_messages WHERE finished_at < ?)`,
      ),
      pruneCounts: database.prepare(
        `DELETE FROM azure_outcome_counts WHERE (target, notification_id) IN
           (SELECT target, notification_id FROM azure_messages WHERE finished_at < ?)`,
      ),
      pruneMessages: database.prepare(`DELETE FROM azure_messages WHERE finished_at < ?`),
    };
  }

  /** Opens (creating with its folder) the state file; a corrupt, foreign or locked file is a StoreError. */
  static open(path: string, histogramBounds: ReadonlyMap<string, readonly number[]>): TrackingStore {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    let database: Database.Database | undefined;
    try {
      database = new Database(path);
      // One exporter per state file: a second process gets a clear "in use" error instead of double counting.
      database.pragma('locking_mode = EXCLUSIVE');
      database.pragma('journal_mode = WAL');
      database.pragma('synchronous = FULL');
      database.pragma('foreign_keys = ON');
      // Take the exclusive lock now (kept until close), not at the first write.
      database.exec('BEGIN EXCLUSIVE; COMMIT');
      const check = database.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new StoreError(`state file ${path} failed its integrity check: ${String(check)}`);
      migrate(database, path);
      const store = new TrackingStore(database, histogramBounds);
      store.identity = StateFileIdentity.capture(path);
      store.loadTotals();
      return store;
    } catch (error) {
      database?.close();
      throw describeOpenError(error, path);
    }
  }

  close(): void {
    if (this.database.open) this.database.close();
  }

  /**
   * Why writes no longer reach the state file (it was deleted or replaced while open), or
   * undefined while all is well. Cheap (one stat): intake asks before each acknowledgement.
   */
  storageProblem(): string | undefined {
    return this.identity?.problem();
  }

  /**
   * Stores new IDs (duplicates, including recently finished ones, are only counted) in one
   * transaction. A scheduled send starts in state `Scheduled`, any other in `Pending`.
   */
  acceptNotifications(items: readonly NewNotification[], now: number, firstPollAt: number): IntakeResult {
    const accepted: TrackedMessage[] = [];
    let duplicates = 0;
    const increments: CounterIncrement[] = [];
    this.database.transaction(() => {
      for (const item of items) {
        const scheduled = item.scheduled === true;
        const state: TrackedState = scheduled ? 'Scheduled' : 'Pending';
        const result = this.statements.insertMessage.run(item.target, item.notificationId, state, scheduled ? 1 : 0, now, firstPollAt);
        if (result.changes === 0) {
          duplicates += 1;
          increments.push(intakeIncrement('duplicate', item.target, 1));
          continue;
        }
        increments.push(intakeIncrement('accepted', item.target, 1));
        accepted.push({
          target: item.target,
          notificationId: item.notificationId,
          acceptedAt: now,
          state,
          scheduled,
          nextPollAt: firstPollAt,
          attempts: 0,
          notFoundCount: 0,
          unchangedCount: 0,
          lastCounts: new Map(),
        });
      }
      this.persistCounters(mergeIncrements(increments));
    }).immediate();
    this.applyCounters(increments);
    return { accepted, duplicates };
  }

  /** Counts refused intake items: one entry per item, the target it named ('' when unknown). */
  countRejectedIntake(targets: readonly string[]): void {
    const increments = mergeIncrements(targets.map((target) => intakeIncrement('rejected', target, 1)));
    this.database.transaction(() => this.persistCounters(increments)).immediate();
    this.applyCounters(increments);
  }

  /** Writes one poll answer: message row, last-seen counts, counters and histograms together. */
  recordPoll(outcome: PollOutcome): void {
    this.recordPolls([outcome]);
  }

  /**
   * Group commit: writes this poll answer together with the others handed in within a few
   * milliseconds, in one transaction (one fsync for all). Each answer stays whole (message row,
   * last-seen counts, counters, histograms) and the in-memory totals change only after the commit.
   * Resolves once committed; rejects if this answer cannot be written (the others are unaffected).
   */
  recordPollSoon(outcome: PollOutcome): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.pendingPolls.length === 0) setTimeout(() => this.flushPendingPolls(), groupCommitMilliseconds);
      this.pendingPolls.push({ outcome, resolve, reject });
    });
  }

  /** Writes poll answers in one transaction, then applies their counters and histograms in memory. */
  recordPolls(outcomes: readonly PollOutcome[]): void {
    const histogramUpdates = this.previewHistograms(outcomes.flatMap((outcome) => outcome.histogramObservations));
    const increments = mergeIncrements(outcomes.flatMap((outcome) => outcome.counterIncrements));
    this.database.transaction(() => {
      for (const outcome of outcomes) {
        const result = this.statements.updateMessage.run({
          target: outcome.target,
          notificationId: outcome.notificationId,
          state: outcome.state,
          reportedState: outcome.reportedState ?? null,
          nextPollAt: outcome.nextPollAt,
          attempts: outcome.attempts,
          notFoundCount: outcome.notFoundCount,
          lastStatus: outcome.lastStatus,
          polledAt: outcome.polledAt,
          firstFoundAt: outcome.firstFoundAt ?? null,
          enqueueTime: outcome.enqueueTime ?? null,
          startTime: outcome.startTime ?? null,
          endTime: outcome.endTime ?? null,
          finishedAt: outcome.finished?.at ?? null,
          finishReason: outcome.finished?.reason ?? null,
        });
        if (result.changes !== 1) {
          throw new StoreError(`message ${outcome.target}/${outcome.notificationId} is not being tracked`);
        }
        for (const update of outcome.countUpdates) {
          this.statements.upsertCount.run(outcome.target, outcome.notificationId, update.platform, update.outcome, update.count);
        }
        if (outcome.errorDetails) {
          const { uri, fetchAt } = outcome.errorDetails;
          this.statements.insertErrorDetails.run(outcome.target, outcome.notificationId, uri, fetchAt, outcome.polledAt);
        }
      }
      this.persistCounters(increments);
      for (const series of histogramUpdates) this.persistHistogram(series.family, series.series);
    }).immediate();
    this.applyCounters(increments);
    for (const { family, series } of histogramUpdates) this.histograms.replace(family, series);
  }

  private flushPendingPolls(): void {
    const batch = this.pendingPolls;
    this.pendingPolls = [];
    try {
      this.recordPolls(batch.map((entry) => entry.outcome));
    } catch {
      // One answer that cannot be written must not cost the others theirs: write them one by one.
      for (const entry of batch) {
        try {
          this.recordPolls([entry.outcome]);
        } catch (error) {
          entry.reject(error);
          continue;
        }
        entry.resolve();
      }
      return;
    }
    for (const entry of batch) entry.resolve();
  }

  /** Every message not finished yet, with its last-seen counts, for the poll loop to resume. */
  loadActiveMessages(): TrackedMessage[] {
    const messages = new Map<string, TrackedMessage>();
    // Rows are streamed, with only the columns needed: holding every row at once (100k tracked
    // messages) would nearly double the memory peak at start-up.
    const rows = this.database
      .prepare(
        `SELECT target, notification_id, state, scheduled, accepted_at, next_poll_at, attempts, not_found_count, first_found_at
           FROM azure_messages WHERE finished_at IS NULL`,
      )
      .iterate() as IterableIterator<ActiveMessageRow>;
    for (const row of rows) {
      messages.set(outcomeCountKey(row.target, row.notification_id), {
        target: row.target,
        notificationId: row.notification_id,
        acceptedAt: row.accepted_at,
        state: row.state as TrackedState,
        scheduled: row.scheduled === 1,
        nextPollAt: row.next_poll_at ?? row.accepted_at,
        attempts: row.attempts,
        notFoundCount: row.not_found_count,
        unchangedCount: 0,
        firstFoundAt: row.first_found_at ?? undefined,
        lastCounts: new Map(),
      });
    }
    const counts = this.database
      .prepare(
        `SELECT c.* FROM azure_outcome_counts c JOIN azure_messages m
           ON m.target = c.target AND m.notification_id = c.notification_id WHERE m.finished_at IS NULL`,
      )
      .safeIntegers(true)
      .iterate() as IterableIterator<CountRow>;
    for (const row of counts) {
      const lastCounts = messages.get(outcomeCountKey(row.target, row.notification_id))?.lastCounts;
      if (lastCounts) keepLargest(lastCounts, outcomeCountKey(row.platform, canonicalOutcome(row.outcome)), row.count);
    }
    return [...messages.values()];
  }

  getNotification(target: string, notificationId: string): NotificationRecord | undefined {
    const row = this.statements.getMessage.get(target, notificationId) as MessageRow | undefined;
    if (!row) return undefined;
    const outcomes: Record<string, Record<string, number>> = {};
    for (const count of this.statements.getCounts.all(target, notificationId) as CountRow[]) {
      const platform = (outcomes[count.platform] ??= {});
      const outcome = canonicalOutcome(count.outcome);
      platform[outcome] = Math.max(platform[outcome] ?? 0, Number(count.count));
    }
    return {
      target: row.target,
      notificationId: row.notification_id,
      state: row.state as TrackedState,
      reportedState: row.reported_state,
      scheduled: row.scheduled === 1,
      acceptedAt: isoTime(row.accepted_at) as string,
      nextPollAt: row.finished_at === null ? isoTime(row.next_poll_at) : null,
      lastPolledAt: isoTime(row.last_polled_at),
      firstFoundAt: isoTime(row.first_found_at),
      enqueueTime: isoTime(row.enqueue_time),
      startTime: isoTime(row.start_time),
      endTime: isoTime(row.end_time),
      finishedAt: isoTime(row.finished_at),
      finishReason: row.finish_reason as FinishReason | null,
      attempts: row.attempts,
      lastStatus: row.last_status,
      outcomes,
      errorDetails: this.errorDetails.state(target, notificationId),
      pnsErrors: this.errorDetails.records(target, notificationId),
    };
  }

  /**
   * Recent messages, newest first (by acceptance), optionally of one target and state; `after` is
   * the opaque cursor of the previous page's last item.
   */
  listNotifications(query: { target?: string; state?: string; limit: number; after?: { acceptedAt: number; notificationId: string; target: string } }): NotificationSummary[] {
    const conditions: string[] = [];
    const parameters: (string | number)[] = [];
    if (query.target !== undefined) {
      conditions.push('target = ?');
      parameters.push(query.target);
    }
    if (query.state !== undefined) {
      conditions.push('state = ?');
      parameters.push(query.state);
    }
    if (query.after) {
      conditions.push('(accepted_at < ? OR (accepted_at = ? AND (target, notification_id) < (?, ?)))');
      parameters.push(query.after.acceptedAt, query.after.acceptedAt, query.after.target, query.after.notificationId);
    }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const rows = this.database
      .prepare(`SELECT * FROM azure_messages ${where} ORDER BY accepted_at DESC, target DESC, notification_id DESC LIMIT ?`)
      .all(...parameters, query.limit) as MessageRow[];
    return rows.map((row) => ({
      target: row.target,
      notificationId: row.notification_id,
      state: row.state as TrackedState,
      acceptedAt: isoTime(row.accepted_at) as string,
      finishedAt: isoTime(row.finished_at),
      finishReason: row.finish_reason as FinishReason | null,
      attempts: row.attempts,
      lastStatus: row.last_status,
    }));
  }

  /** Deletes finished messages older than `before`; their IDs are no longer reported as duplicates. */
  pruneFinished(before: number): number {
    return this.database.transaction(() => {
      this.statements.pruneErrorDetails.run(before);
      this.statements.prunePnsErrors.run(before);
      this.statements.pruneCounts.run(before);
      return this.statements.pruneMessages.run(before).changes;
    }).immediate();
  }

  private loadTotals(): void {
    const counters = this.database.prepare(`SELECT family, labels, value FROM counter_totals`).all() as {
      family: string;
      labels: string;
      value: number;
    }[];
    for (const row of counters) this.counters.add(row.family, parseLabelKey(row.labels), row.value);
    const histograms = this.database.prepare(`SELECT * FROM histogram_totals`).all() as {
      family: string;
      labels: string;
      bounds: string;
      bucket_counts: string;
      sum: number;
      count: number;
    }[];
    for (const row of histograms) {
      const bounds = this.histograms.bounds(row.family);
      // Buckets that changed between versions cannot be re-split: keep the series only if they match.
      if (row.bounds !== JSON.stringify(bounds)) continue;
      this.histograms.replace(row.family, {
        labels: parseLabelKey(row.labels),
        bounds,
        bucketCounts: JSON.parse(row.bucket_counts) as number[],
        sum: row.sum,
        count: row.count,
      });
    }
  }

  private previewHistograms(observations: readonly HistogramObservation[]): { family: string; series: HistogramSeries }[] {
    const grouped = new Map<string, { family: string; labels: LabelSet; values: number[] }>();
    for (const observation of observations) {
      const key = `${observation.family}|${labelKey(observation.labels)}`;
      const group = grouped.get(key) ?? { family: observation.family, labels: observation.labels, values: [] };
      group.values.push(observation.value);
      grouped.set(key, group);
    }
    return [...grouped.values()].map((group) => ({
      family: group.family,
      series: this.histograms.preview(group.family, group.labels, group.values),
    }));
  }

  private persistCounters(increments: readonly CounterIncrement[]): void {
    for (const increment of increments) {
      this.statements.addCounter.run(increment.family, labelKey(increment.labels), increment.value);
    }
  }

  private persistHistogram(family: string, series: HistogramSeries): void {
    this.statements.putHistogram.run(
      family,
      labelKey(series.labels),
      JSON.stringify(series.bounds),
      JSON.stringify(series.bucketCounts),
      series.sum,
      series.count,
    );
  }

  private applyCounters(increments: readonly CounterIncrement[]): void {
    for (const increment of increments) this.counters.add(increment.family, increment.labels, increment.value);
  }
}

/**
 * A state file written before outcome names were case-folded may hold one message's count under two
 * spellings (`success` and `Success`, each the count its own answers reported). Counts only grow, so
 * the larger is the latest: taking it (never the sum) means the next answer adds only real growth.
 * The rows themselves are left as written; new answers write the canonical spelling.
 */
function keepLargest(counts: Map<string, bigint>, key: string, count: bigint): void {
  const existing = counts.get(key);
  if (existing === undefined || count > existing) counts.set(key, count);
}

/** Sums increments of the same series, so a batch writes each counter row once. */
function mergeIncrements(increments: readonly CounterIncrement[]): CounterIncrement[] {
  const merged = new Map<string, CounterIncrement>();
  for (const increment of increments) {
    const key = `${increment.family}|${labelKey(increment.labels)}`;
    const existing = merged.get(key);
    if (existing) existing.value += increment.value;
    else merged.set(key, { ...increment });
  }
  return [...merged.values()];
}

/** Intake items carry their target (no `source`: intake is for Azure IDs only), '' when it is unknown. */
function intakeIncrement(result: 'accepted' | 'duplicate' | 'rejected', target: string, value: number): CounterIncrement {
  return { family: metricNames.intakeNotifications, labels: { target, result }, value };
}

function migrate(database: Database.Database, path: string): void {
  const version = database.pragma('user_version', { simple: true }) as number;
  if (version > migrations.length) {
    throw new StoreError(
      `state file ${path} has schema version ${version}, newer than this exporter understands (${migrations.length}); ` +
        'run the newer version or restore a backup',
    );
  }
  for (let next = version; next < migrations.length; next += 1) {
    const migration = migrations[next] as Migration;
    database.transaction(() => {
      if (typeof migration === 'string') database.exec(migration);
      else migration(database);
      database.pragma(`user_version = ${next + 1}`);
    }).immediate();
  }
}

function describeOpenError(error: unknown, path: string): Error {
  if (error instanceof StoreError) return error;
  const code = (error as { code?: string }).code ?? '';
  const message = (error as Error).message ?? String(error);
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new StoreError(`state file ${path} is not a valid SQLite database (${message}); restore a backup or move it aside`);
  }
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new StoreError(`state file ${path} is in use by another process: run one exporter per state file`);
  }
  if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY' || code.startsWith('SQLITE_IOERR')) {
    return new StoreError(`cannot open state file ${path}: ${message}`);
  }
  return new StoreError(`cannot open state file ${path}: ${message}`);
}

function isoTime(milliseconds: number | null): string | null {
  return milliseconds === null ? null : new Date(milliseconds).toISOString();
}
