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

  /**
   * Poll answers in one transaction, in a fixed number of statements for the whole group (not two
   * round trips per answer); WorkLostError, and nothing written, if one is no longer this replica's.
   */
  async recordPolls(outcomes: readonly PollOutcome[]): Promise<void> {
    const histogramUpdates = this.mirror.previewHistograms(outcomes.flatMap((outcome) => outcome.histogramObservations));
    const increments = mergeIncrements(outcomes.flatMap((outcome) => outcome.counterIncrements));
    await this.database.transaction(async (client) => {
      for (const round of this.rounds(outcomes)) await this.writePolls(client, round);
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

  /**
   * The group's answers with the revision each is fenced on, in rounds that name each message at
   * most once: one UPDATE … FROM unnest would update a message named twice only once, with either
   * answer. A message has one request in flight, so there is one round; should two answers of one
   * message meet all the same, the later one goes in a later statement, over the revision the
   * earlier one leaves, as if they had been written one after the other.
   */
  private rounds(outcomes: readonly PollOutcome[]): { outcome: PollOutcome; revision: number }[][] {
    const rounds: { outcome: PollOutcome; revision: number }[][] = [];
    const seen = new Map<string, number>();
    for (const outcome of outcomes) {
      const key = outcomeCountKey(outcome.target, outcome.notificationId);
      const earlier = seen.get(key) ?? 0;
      seen.set(key, earlier + 1);
      (rounds[earlier] ??= []).push({ outcome, revision: (this.revisions.get(key) ?? -1) + earlier });
    }
    return rounds;
  }

  private async writePolls(client: Queryable, round: readonly { outcome: PollOutcome; revision: number }[]): Promise<void> {
    const outcomes = round.map((entry) => entry.outcome);
    // Fenced row by row on owner and revision; a row that does not match is missing from RETURNING.
    const { rows } = await client.query<{ target: string; notification_id: string }>(
      `UPDATE azure_messages AS m SET state = u.state, reported_state = coalesce(u.reported_state, m.reported_state),
         next_poll_at = u.next_poll_at, attempts = u.attempts, not_found_count = u.not_found_count, last_status = u.last_status,
         last_polled_at = u.last_polled_at, first_found_at = coalesce(m.first_found_at, u.first_found_at),
         enqueue_time = coalesce(u.enqueue_time, m.enqueue_time), start_time = coalesce(u.start_time, m.start_time),
         end_time = coalesce(u.end_time, m.end_time), finished_at = u.finished_at, finish_reason = u.finish_reason,
         revision = m.revision + 1, owner = CASE WHEN u.finished_at IS NULL THEN m.owner END
       FROM unnest($2::text[], $3::text[], $4::integer[], $5::text[], $6::text[], $7::bigint[], $8::integer[], $9::integer[], $10::text[],
                   $11::bigint[], $12::bigint[], $13::double precision[], $14::double precision[], $15::double precision[], $16::bigint[], $17::text[])
         AS u(target, notification_id, revision, state, reported_state, next_poll_at, attempts, not_found_count, last_status,
              last_polled_at, first_found_at, enqueue_time, start_time, end_time, finished_at, finish_reason)
       WHERE m.target = u.target AND m.notification_id = u.notification_id AND m.finished_at IS NULL AND m.owner = $1 AND m.revision = u.revision
       RETURNING m.target, m.notification_id`,
      [
        this.replicaId,
        outcomes.map((outcome) => outcome.target),
        outcomes.map((outcome) => outcome.notificationId),
        round.map((entry) => entry.revision),
        outcomes.map((outcome) => outcome.state),
        outcomes.map((outcome) => outcome.reportedState ?? null),
        outcomes.map((outcome) => millis(outcome.nextPollAt)),
        outcomes.map((outcome) => outcome.attempts),
        outcomes.map((outcome) => outcome.notFoundCount),
        outcomes.map((outcome) => outcome.lastStatus),
        outcomes.map((outcome) => millis(outcome.polledAt)),
        outcomes.map((outcome) => millis(outcome.firstFoundAt)),
        outcomes.map((outcome) => outcome.enqueueTime ?? null),
        outcomes.map((outcome) => outcome.startTime ?? null),
        outcomes.map((outcome) => outcome.endTime ?? null),
        outcomes.map((outcome) => millis(outcome.finished?.at)),
        outcomes.map((outcome) => outcome.finished?.reason ?? null),
      ],
    );
    if (rows.length !== outcomes.length) {
      // Thrown inside the transaction: it rolls back whole, and the group commit tries each answer
      // alone, so only the lost one fails.
      const written = new Set(rows.map((row) => outcomeCountKey(row.target, row.notification_id)));
      const lost = outcomes.find((outcome) => !written.has(outcomeCountKey(outcome.target, outcome.notificationId)));
      throw new WorkLostError(`message ${lost?.target}/${lost?.notificationId} is not this replica's to poll any more`);
    }
    const counts = outcomes.flatMap((outcome) => outcome.countUpdates.map((update) => ({ outcome, update })));
    if (counts.length > 0) {
      await client.query(
        `INSERT INTO azure_outcome_counts (target, notification_id, platform, outcome, count)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
         ON CONFLICT (target, notification_id, platform, outcome) DO UPDATE SET count = excluded.count`,
        [
          counts.map(({ outcome }) => outcome.target),
          counts.map(({ outcome }) => outcome.notificationId),
          counts.map(({ update }) => update.platform),
          counts.map(({ update }) => update.outcome),
          // Strings: pg keeps 64-bit counts exact.
          counts.map(({ update }) => update.count.toString()),
        ],
      );
    }
    await this.errorDetails.insert(client, outcomes);
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
