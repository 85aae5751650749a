import type Database from 'better-sqlite3';
import { canonicalOutcome } from '../../metrics/outcome-classes.js';
import type { CounterIncrement } from '../../metrics/totals.js';
import { intakeIncrement, keepLargest, mergeIncrements, type TotalsMirror } from '../counting.js';
import { newTrackedMessage, recordFields, summaryFields, type StoredMessageFields } from '../records.js';
import { StoreError, type IntakeRequest, type IntakeResult, type NotificationListQuery } from '../storage.js';
import {
  outcomeCountKey,
  type NotificationRecord,
  type NotificationSummary,
  type PollOutcome,
  type TrackedMessage,
  type TrackedState,
} from '../types.js';
import type { SqliteErrorDetails } from './error-details-store.js';
import type { SqliteTotals } from './totals-store.js';

/** SQLite keeps booleans as 0/1. */
interface MessageRow extends StoredMessageFields {
  scheduled: number;
  not_found_count: number;
}

const largestCount = 2n ** 63n - 1n;

/**
 * The changed counts of one answer as a JSON merge patch (RFC 7396, SQLite json_patch) of the
 * message's stored counts, platform → outcome → count, or null for none. Written by hand so
 * 64-bit counts stay exact (SQLite keeps JSON integers as 64-bit integers; JavaScript numbers would
 * round past 2^53).
 */
function countsPatch(updates: readonly { platform: string; outcome: string; count: bigint }[]): string | null {
  if (updates.length === 0) return null;
  const byPlatform = new Map<string, string[]>();
  for (const { platform, outcome, count } of updates) {
    if (count < 0n || count > largestCount) throw new RangeError(`count ${count} of ${platform}/${outcome} does not fit in a 64-bit integer`);
    let entries = byPlatform.get(platform);
    if (!entries) byPlatform.set(platform, (entries = []));
    entries.push(`${JSON.stringify(outcome)}:${count}`);
  }
  return `{${[...byPlatform].map(([platform, entries]) => `${JSON.stringify(platform)}:{${entries.join(',')}}`).join(',')}}`;
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
 * Azure messages in the state file: intake, poll answers, resuming, lookups and pruning. Every
 * change that belongs together is one transaction, and the in-memory totals follow only once it is
 * on disk: a crash at any moment loses nothing acknowledged and counts nothing twice.
 */
export class SqliteMessages {
  private readonly statements;

  constructor(
    private readonly database: Database.Database,
    private readonly totals: SqliteTotals,
    private readonly mirror: TotalsMirror,
    /** Queues a change to the in-memory totals: it is made once the commit is on disk. */
    private readonly afterFlush: (change: () => void) => void,
    private readonly errorDetails: SqliteErrorDetails,
  ) {
    this.statements = {
      insertMessage: database.prepare(
        `INSERT INTO azure_messages (target, notification_id, state, scheduled, accepted_at, next_poll_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      updateMessage: database.prepare(
        // Positional parameters, in order: binding them costs less than binding by name, once per answer.
        `UPDATE azure_messages SET state = ?, reported_state = coalesce(?, reported_state),
           next_poll_at = ?, attempts = ?, not_found_count = ?, last_status = ?, last_polled_at = ?,
           first_found_at = coalesce(first_found_at, ?),
           enqueue_time = coalesce(?, enqueue_time), start_time = coalesce(?, start_time),
           end_time = coalesce(?, end_time), finished_at = ?, finish_reason = ?,
           outcome_counts = coalesce(json_patch(coalesce(outcome_counts, '{}'), ?), outcome_counts)
         WHERE target = ? AND notification_id = ? AND finished_at IS NULL`,
      ),
      getMessage: database.prepare(`SELECT * FROM azure_messages WHERE target = ? AND notification_id = ?`),
      getCounts: database
        .prepare(`SELECT platform, outcome, count FROM azure_last_counts WHERE target = ? AND notification_id = ?`)
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

  /**
   * Stores the IDs of several intake requests in one transaction (one fsync), each request's
   * answer of its own. Requests are taken in order, so of two naming the same ID only the first
   * accepts it. The in-memory totals follow only after the commit.
   */
  acceptGroup(requests: readonly IntakeRequest[]): IntakeResult[] {
    const results: IntakeResult[] = [];
    const increments: CounterIncrement[] = [];
    this.database.transaction(() => {
      for (const request of requests) results.push(this.insertRequest(request, increments));
      this.totals.persistCounters(mergeIncrements(increments));
    }).immediate();
    this.afterFlush(() => this.mirror.applyCounters(increments));
    return results;
  }

  private insertRequest({ items, now, firstPollAt }: IntakeRequest, increments: CounterIncrement[]): IntakeResult {
    const accepted: TrackedMessage[] = [];
    let duplicates = 0;
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
      accepted.push(newTrackedMessage(item, state, now, firstPollAt));
    }
    return { accepted, duplicates };
  }

  countRejected(targets: readonly string[]): void {
    const increments = mergeIncrements(targets.map((target) => intakeIncrement('rejected', target, 1)));
    this.database.transaction(() => this.totals.persistCounters(increments)).immediate();
    this.afterFlush(() => this.mirror.applyCounters(increments));
  }

  /** Writes poll answers in one transaction, then applies their counters and histograms in memory. */
  recordPolls(outcomes: readonly PollOutcome[]): void {
    const histogramUpdates = this.mirror.previewHistograms(outcomes.flatMap((outcome) => outcome.histogramObservations));
    const increments = mergeIncrements(outcomes.flatMap((outcome) => outcome.counterIncrements));
    this.database.transaction(() => {
      for (const outcome of outcomes) this.writePoll(outcome);
      this.totals.persistCounters(increments);
      for (const series of histogramUpdates) this.totals.persistHistogram(series.family, series.series);
    }).immediate();
    // The next group previews its histograms from these: poll groups are written one at a time,
    // each after the previous one's flush applied its changes.
    this.afterFlush(() => {
      this.mirror.applyCounters(increments);
      this.mirror.applyHistograms(histogramUpdates);
    });
  }

  private writePoll(outcome: PollOutcome): void {
    const result = this.statements.updateMessage.run(
      outcome.state,
      outcome.reportedState ?? null,
      outcome.nextPollAt,
      outcome.attempts,
      outcome.notFoundCount,
      outcome.lastStatus,
      outcome.polledAt,
      outcome.firstFoundAt ?? null,
      outcome.enqueueTime ?? null,
      outcome.startTime ?? null,
      outcome.endTime ?? null,
      outcome.finished?.at ?? null,
      outcome.finished?.reason ?? null,
      countsPatch(outcome.countUpdates),
      outcome.target,
      outcome.notificationId,
    );
    if (result.changes !== 1) {
      throw new StoreError(`message ${outcome.target}/${outcome.notificationId} is not being tracked`);
    }
    if (outcome.errorDetails) {
      const { uri, fetchAt } = outcome.errorDetails;
      this.statements.insertErrorDetails.run(outcome.target, outcome.notificationId, uri, fetchAt, outcome.polledAt);
    }
  }

  /** Every message not finished yet, with its last-seen counts, for the poll loop to resume. */
  loadActive(): TrackedMessage[] {
    const messages = new Map<string, TrackedMessage>();
    // Rows are streamed, with only the columns needed: holding every row at once (100k tracked
    // messages) would nearly double the memory peak at start-up.
    const rows = this.database
      .prepare(
        `SELECT target, notification_id, state, scheduled, accepted_at, next_poll_at, attempts, not_found_count, first_found_at
           FROM azure_messages WHERE finished_at IS NULL`,
      )
      .iterate() as IterableIterator<ActiveMessageRow>;
    // One string per target for all its messages, not a copy per row.
    const targets = new Map<string, string>();
    for (const row of rows) {
      const target = targets.get(row.target) ?? (targets.set(row.target, row.target), row.target);
      messages.set(outcomeCountKey(row.target, row.notification_id), {
        target,
        notificationId: row.notification_id,
        acceptedAt: row.accepted_at,
        state: row.state as TrackedState,
        scheduled: row.scheduled === 1,
        nextPollAt: row.next_poll_at ?? row.accepted_at,
        attempts: row.attempts,
        notFoundCount: row.not_found_count,
        unchangedCount: 0,
        firstFoundAt: row.first_found_at ?? undefined,
      });
    }
    const counts = this.database
      .prepare(`SELECT target, notification_id, platform, outcome, count FROM azure_last_counts WHERE finished_at IS NULL`)
      .safeIntegers(true)
      .iterate() as IterableIterator<CountRow>;
    for (const row of counts) {
      const message = messages.get(outcomeCountKey(row.target, row.notification_id));
      if (message) keepLargest((message.lastCounts ??= new Map<string, bigint>()), outcomeCountKey(row.platform, canonicalOutcome(row.outcome)), row.count);
    }
    return [...messages.values()];
  }

  get(target: string, notificationId: string): NotificationRecord | undefined {
    const row = this.statements.getMessage.get(target, notificationId) as MessageRow | undefined;
    if (!row) return undefined;
    const outcomes: Record<string, Record<string, number>> = {};
    for (const count of this.statements.getCounts.all(target, notificationId) as Omit<CountRow, 'target' | 'notification_id'>[]) {
      const platform = (outcomes[count.platform] ??= {});
      const outcome = canonicalOutcome(count.outcome);
      platform[outcome] = Math.max(platform[outcome] ?? 0, Number(count.count));
    }
    return {
      ...recordFields(row),
      outcomes,
      errorDetails: this.errorDetails.state(target, notificationId),
      pnsErrors: this.errorDetails.records(target, notificationId),
    };
  }

  list(query: NotificationListQuery): NotificationSummary[] {
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
    return rows.map(summaryFields);
  }

  pruneFinished(before: number): number {
    return this.database.transaction(() => {
      this.statements.pruneErrorDetails.run(before);
      this.statements.prunePnsErrors.run(before);
      this.statements.pruneCounts.run(before);
      return this.statements.pruneMessages.run(before).changes;
    }).immediate();
  }
}
