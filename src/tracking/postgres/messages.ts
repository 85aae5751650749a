import { canonicalOutcome } from '../../metrics/outcome-classes.js';
import { intakeIncrement, keepLargest, mergeIncrements, type TotalsMirror } from '../counting.js';
import { newTrackedMessage, recordFields, summaryFields, type StoredMessageFields } from '../records.js';
import { WorkLostError, type IntakeRequest, type IntakeResult, type NotificationListQuery } from '../storage.js';
import {
  outcomeCountKey,
  type NewNotification,
  type NotificationRecord,
  type NotificationSummary,
  type PollOutcome,
  type TrackedMessage,
  type TrackedState,
} from '../types.js';
import type { Database, Queryable } from './database.js';
import type { PostgresErrorDetails } from './error-details.js';
import type { PostgresTotals } from './totals.js';

type MessageRow = Omit<StoredMessageFields, 'accepted_at' | 'next_poll_at' | 'last_polled_at' | 'first_found_at' | 'finished_at'> & {
  accepted_at: string;
  next_poll_at: string | null;
  last_polled_at: string | null;
  first_found_at: string | null;
  finished_at: string | null;
  not_found_count: number;
  revision: number;
};

/**
 * Azure messages in PostgreSQL. Each unfinished message has an owner, the one replica that polls
 * it, and a revision: a poll answer is written only by its owner and only over the revision it
 * was computed from (fencing), in one transaction with its counters.
 */
export class PostgresMessages {
  /** The revision of each message this replica holds, as the database has it. */
  private readonly revisions = new Map<string, number>();

  constructor(
    private readonly database: Database,
    private readonly replicaId: string,
    private readonly totals: PostgresTotals,
    private readonly mirror: TotalsMirror,
    private readonly errorDetails: PostgresErrorDetails,
  ) {}

  /**
   * Several intake requests in one transaction, each with its own answer. An ID known to any
   * replica (the primary key) is a duplicate, and so is one an earlier item of the group named; the
   * accepted ones are this replica's.
   */
  async acceptGroup(requests: readonly IntakeRequest[]): Promise<IntakeResult[]> {
    const items = requests.flatMap((request) => request.items);
    const times = requests.flatMap((request) => request.items.map(() => request));
    const results = await this.database.transaction(async (client) => {
      const { rows } = await client.query<{ target: string; notification_id: string }>(
        `INSERT INTO azure_messages (target, notification_id, state, scheduled, accepted_at, next_poll_at, owner)
         SELECT target, notification_id, state, scheduled, accepted_at, next_poll_at, $7
           FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::bigint[], $6::bigint[])
             AS u(target, notification_id, state, scheduled, accepted_at, next_poll_at)
         ON CONFLICT DO NOTHING RETURNING target, notification_id`,
        [
          items.map((item) => item.target),
          items.map((item) => item.notificationId),
          items.map(initialState),
          items.map((item) => item.scheduled === true),
          times.map((request) => millis(request.now)),
          times.map((request) => millis(request.firstPollAt)),
          this.replicaId,
        ],
      );
      // Each inserted key is the first item that named it: later ones (in order) are duplicates.
      const keys = new Set(rows.map((row) => outcomeCountKey(row.target, row.notification_id)));
      const accepted = items.map((item) => keys.delete(outcomeCountKey(item.target, item.notificationId)));
      const increments = items.map((item, index) => intakeIncrement(accepted[index] ? 'accepted' : 'duplicate', item.target, 1));
      await this.totals.persistCounters(client, mergeIncrements(increments));
      return { accepted, increments };
    });
    this.mirror.applyCounters(results.increments);
    let index = 0;
    return requests.map((request) => {
      const result: IntakeResult = { accepted: [], duplicates: 0 };
      for (const item of request.items) {
        if (results.accepted[index++] !== true) {
          result.duplicates += 1;
          continue;
        }
        this.revisions.set(outcomeCountKey(item.target, item.notificationId), 0);
        result.accepted.push(newTrackedMessage(item, initialState(item), request.now, request.firstPollAt));
      }
      return result;
    });
  }

  async countRejected(targets: readonly string[]): Promise<void> {
    const increments = mergeIncrements(targets.map((target) => intakeIncrement('rejected', target, 1)));
    await this.database.transaction((client) => this.totals.persistCounters(client, increments));
    this.mirror.applyCounters(increments);
  }

  /** Poll answers in one transaction; WorkLostError (and nothing written) if one is no longer this replica's. */
  async recordPolls(outcomes: readonly PollOutcome[]): Promise<void> {
    const histogramUpdates = this.mirror.previewHistograms(outcomes.flatMap((outcome) => outcome.histogramObservations));
    const increments = mergeIncrements(outcomes.flatMap((outcome) => outcome.counterIncrements));
    await this.database.transaction(async (client) => {
      for (const outcome of outcomes) await this.writePoll(client, outcome);
      await this.totals.persistCounters(client, increments);
      await this.totals.persistHistograms(client, histogramUpdates);
    });
    for (const outcome of outcomes) {
      const key = outcomeCountKey(outcome.target, outcome.notificationId);
      if (outcome.finished) this.revisions.delete(key);
      else this.revisions.set(key, (this.revisions.get(key) ?? 0) + 1);
    }
    this.mirror.applyCounters(increments);
    this.mirror.applyHistograms(histogramUpdates);
  }

  private async writePoll(client: Queryable, outcome: PollOutcome): Promise<void> {
    const key = outcomeCountKey(outcome.target, outcome.notificationId);
    const result = await client.query(
      `UPDATE azure_messages SET state = $4, reported_state = coalesce($5, reported_state), next_poll_at = $6, attempts = $7,
         not_found_count = $8, last_status = $9, last_polled_at = $10, first_found_at = coalesce(first_found_at, $11),
         enqueue_time = coalesce($12, enqueue_time), start_time = coalesce($13, start_time), end_time = coalesce($14, end_time),
         finished_at = $15, finish_reason = $16, revision = revision + 1,
         owner = CASE WHEN $15::bigint IS NULL THEN owner END
       WHERE target = $1 AND notification_id = $2 AND finished_at IS NULL AND owner = $3 AND revision = $17`,
      [
        outcome.target,
        outcome.notificationId,
        this.replicaId,
        outcome.state,
        outcome.reportedState ?? null,
        millis(outcome.nextPollAt),
        outcome.attempts,
        outcome.notFoundCount,
        outcome.lastStatus,
        millis(outcome.polledAt),
        millis(outcome.firstFoundAt),
        outcome.enqueueTime ?? null,
        outcome.startTime ?? null,
        outcome.endTime ?? null,
        millis(outcome.finished?.at),
        outcome.finished?.reason ?? null,
        this.revisions.get(key) ?? -1,
      ],
    );
    if (result.rowCount !== 1) {
      throw new WorkLostError(`message ${outcome.target}/${outcome.notificationId} is not this replica's to poll any more`);
    }
    if (outcome.countUpdates.length > 0) {
      await client.query(
        `INSERT INTO azure_outcome_counts (target, notification_id, platform, outcome, count)
         SELECT $1, $2, platform, outcome, count FROM unnest($3::text[], $4::text[], $5::bigint[]) AS u(platform, outcome, count)
         ON CONFLICT (target, notification_id, platform, outcome) DO UPDATE SET count = excluded.count`,
        [outcome.target, outcome.notificationId, outcome.countUpdates.map((u) => u.platform), outcome.countUpdates.map((u) => u.outcome), outcome.countUpdates.map((u) => u.count.toString())],
      );
    }
    if (outcome.errorDetails) await this.errorDetails.insert(client, outcome);
  }

  /**
   * Gives a message back after its answer could not be written over a revision that moved on (a
   * commit whose answer was lost, or a takeover): whoever claims it next reads it as stored.
   */
  async release(target: string, notificationId: string): Promise<void> {
    this.revisions.delete(outcomeCountKey(target, notificationId));
    await this.database.query(`UPDATE azure_messages SET owner = NULL WHERE target = $1 AND notification_id = $2 AND owner = $3`, [target, notificationId, this.replicaId]);
  }

  /**
   * Takes unfinished messages of these targets that nobody polls: released ones, this replica's own
   * from before a restart (`resume`), and those of replicas whose lease ran out (`takeOver`).
   * `FOR UPDATE SKIP LOCKED`: replicas claiming at once each take different rows, none waits.
   */
  async claim(targets: readonly string[], options: { resume: boolean; takeOver: boolean; limit: number }): Promise<TrackedMessage[]> {
    const { rows } = await this.database.query<MessageRow>(
      `WITH candidates AS (
         SELECT m.target, m.notification_id FROM azure_messages m
          WHERE m.finished_at IS NULL AND m.target = ANY($1::text[])
            AND (m.owner IS NULL OR ($3 AND m.owner = $2)
                 OR ($4 AND m.owner <> $2 AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.replica_id = m.owner AND r.lease_until > now())))
          ORDER BY m.next_poll_at LIMIT $5 FOR UPDATE OF m SKIP LOCKED)
       UPDATE azure_messages m SET owner = $2, revision = m.revision + 1 FROM candidates c
        WHERE m.target = c.target AND m.notification_id = c.notification_id
       RETURNING m.*`,
      [targets, this.replicaId, options.resume, options.takeOver, options.limit],
    );
    if (rows.length === 0) return [];
    const messages = new Map<string, TrackedMessage>();
    for (const row of rows) {
      const key = outcomeCountKey(row.target, row.notification_id);
      this.revisions.set(key, row.revision);
      messages.set(key, {
        target: row.target,
        notificationId: row.notification_id,
        acceptedAt: Number(row.accepted_at),
        state: row.state as TrackedState,
        scheduled: row.scheduled === true,
        nextPollAt: Number(row.next_poll_at ?? row.accepted_at),
        attempts: row.attempts,
        notFoundCount: row.not_found_count,
        unchangedCount: 0,
        firstFoundAt: row.first_found_at === null ? undefined : Number(row.first_found_at),
      });
    }
    const counts = await this.database.query<{ target: string; notification_id: string; platform: string; outcome: string; count: string }>(
      `SELECT c.* FROM azure_outcome_counts c JOIN unnest($1::text[], $2::text[]) AS k(target, notification_id)
         ON c.target = k.target AND c.notification_id = k.notification_id`,
      [rows.map((row) => row.target), rows.map((row) => row.notification_id)],
    );
    for (const row of counts.rows) {
      const message = messages.get(outcomeCountKey(row.target, row.notification_id));
      if (message) keepLargest((message.lastCounts ??= new Map<string, bigint>()), outcomeCountKey(row.platform, canonicalOutcome(row.outcome)), BigInt(row.count));
    }
    return [...messages.values()];
  }

  /** Messages this replica owns but does not hold (after an intake whose answer was lost), as claimed work. */
  async ownedNotHeld(targets: readonly string[]): Promise<TrackedMessage[]> {
    const { rows } = await this.database.query<{ target: string; notification_id: string }>(
      `SELECT target, notification_id FROM azure_messages WHERE owner = $1 AND finished_at IS NULL AND target = ANY($2::text[])`,
      [this.replicaId, targets],
    );
    const missing = rows.filter((row) => !this.revisions.has(outcomeCountKey(row.target, row.notification_id)));
    if (missing.length === 0) return [];
    // Released and claimed again: read as stored, with a revision of their own.
    await this.database.query(
      `UPDATE azure_messages m SET owner = NULL FROM unnest($1::text[], $2::text[]) AS k(target, notification_id)
        WHERE m.target = k.target AND m.notification_id = k.notification_id AND m.owner = $3`,
      [missing.map((row) => row.target), missing.map((row) => row.notification_id), this.replicaId],
    );
    return this.claim(targets, { resume: false, takeOver: false, limit: missing.length });
  }

  /** At a clean stop: this replica's messages are up for the taking at once, not after its lease runs out. */
  async releaseAll(): Promise<void> {
    this.revisions.clear();
    await this.database.query(`UPDATE azure_messages SET owner = NULL WHERE owner = $1 AND finished_at IS NULL`, [this.replicaId]);
  }

  async get(target: string, notificationId: string): Promise<NotificationRecord | undefined> {
    const { rows } = await this.database.query<MessageRow>(`SELECT * FROM azure_messages WHERE target = $1 AND notification_id = $2`, [target, notificationId]);
    const row = rows[0];
    if (!row) return undefined;
    const counts = await this.database.query<{ platform: string; outcome: string; count: string }>(
      `SELECT platform, outcome, count FROM azure_outcome_counts WHERE target = $1 AND notification_id = $2 ORDER BY platform, outcome`,
      [target, notificationId],
    );
    const outcomes: Record<string, Record<string, number>> = {};
    for (const count of counts.rows) {
      const platform = (outcomes[count.platform] ??= {});
      const outcome = canonicalOutcome(count.outcome);
      platform[outcome] = Math.max(platform[outcome] ?? 0, Number(count.count));
    }
    return {
      ...recordFields(fields(row)),
      outcomes,
      errorDetails: await this.errorDetails.state(target, notificationId),
      pnsErrors: await this.errorDetails.records(target, notificationId),
    };
  }

  async list(query: NotificationListQuery): Promise<NotificationSummary[]> {
    const conditions: string[] = [];
    const parameters: unknown[] = [];
    const parameter = (value: unknown) => {
      parameters.push(value);
      return `$${parameters.length}`;
    };
    if (query.target !== undefined) conditions.push(`target = ${parameter(query.target)}`);
    if (query.state !== undefined) conditions.push(`state = ${parameter(query.state)}`);
    if (query.after) {
      const at = parameter(query.after.acceptedAt);
      conditions.push(`(accepted_at < ${at} OR (accepted_at = ${at} AND (target, notification_id) < (${parameter(query.after.target)}, ${parameter(query.after.notificationId)})))`);
    }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    // COLLATE "C": the same order as SQLite's, whatever the database's collation.
    const { rows } = await this.database.query<MessageRow>(
      `SELECT * FROM azure_messages ${where} ORDER BY accepted_at DESC, target COLLATE "C" DESC, notification_id COLLATE "C" DESC LIMIT ${parameter(query.limit)}`,
      parameters,
    );
    return rows.map((row) => summaryFields(fields(row)));
  }

  async pruneFinished(before: number): Promise<number> {
    return this.database.transaction(async (client) => {
      const finished = `SELECT target, notification_id FROM azure_messages WHERE finished_at < $1`;
      await client.query(`DELETE FROM azure_error_details WHERE (target, notification_id) IN (${finished})`, [millis(before)]);
      await client.query(`DELETE FROM azure_pns_errors WHERE (target, notification_id) IN (${finished})`, [millis(before)]);
      await client.query(`DELETE FROM azure_outcome_counts WHERE (target, notification_id) IN (${finished})`, [millis(before)]);
      const result = await client.query(`DELETE FROM azure_messages WHERE finished_at < $1`, [millis(before)]);
      return result.rowCount ?? 0;
    });
  }

  /** Messages this replica holds now (for tests and logs). */
  get held(): number {
    return this.revisions.size;
  }
}

/**
 * Times go in bigint columns as whole milliseconds: a time converted from the monotonic clock has a
 * fraction, which SQLite's INTEGER takes and PostgreSQL's bigint refuses.
 */
export function millis(time: number | null | undefined): number | null {
  return time === null || time === undefined ? null : Math.round(time);
}

function initialState(item: NewNotification): TrackedState {
  return item.scheduled === true ? 'Scheduled' : 'Pending';
}

/** bigint columns arrive as strings (pg keeps 64-bit integers exact); times fit a double. */
function fields(row: MessageRow): StoredMessageFields {
  const time = (value: string | null) => (value === null ? null : Number(value));
  return {
    ...row,
    accepted_at: Number(row.accepted_at),
    next_poll_at: time(row.next_poll_at),
    last_polled_at: time(row.last_polled_at),
    first_found_at: time(row.first_found_at),
    finished_at: time(row.finished_at),
  };
}
