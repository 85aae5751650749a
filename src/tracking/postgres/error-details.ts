import type { CounterIncrement } from '../../metrics/totals.js';
import { pnsErrorValues, type PnsErrorRecord } from '../records.js';
import { mergeIncrements, type TotalsMirror } from '../counting.js';
import { WorkLostError, type ErrorDetailsState, type ErrorDetailsStorage, type PendingErrorDetails, type StoredPnsError } from '../storage.js';
import type { PollOutcome } from '../types.js';
import type { Database, Queryable } from './database.js';
import { millis } from './messages.js';
import type { PostgresTotals } from './totals.js';

/**
 * PNS error-details fetches in PostgreSQL. Like messages, each pending fetch has an owner: the
 * replica that finished the message, or one that took it over. Records count once whoever reads
 * the blob (the record key is the primary key), so a takeover never counts a record twice.
 */
export class PostgresErrorDetails implements ErrorDetailsStorage {
  constructor(
    private readonly database: Database,
    private readonly replicaId: string,
    private readonly totals: PostgresTotals,
    private readonly mirror: TotalsMirror,
  ) {}

  /** Inside the poll answers' transaction: the terminal messages' blobs, this replica's to fetch (one statement for all). */
  async insert(client: Queryable, outcomes: readonly PollOutcome[]): Promise<void> {
    const found = outcomes.flatMap((outcome) => (outcome.errorDetails ? [{ outcome, details: outcome.errorDetails }] : []));
    if (found.length === 0) return;
    await client.query(
      `INSERT INTO azure_error_details (target, notification_id, uri, state, next_fetch_at, first_seen_at, owner)
       SELECT target, notification_id, uri, 'pending', next_fetch_at, first_seen_at, $6
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS u(target, notification_id, uri, next_fetch_at, first_seen_at)
       ON CONFLICT DO NOTHING`,
      [
        found.map(({ outcome }) => outcome.target),
        found.map(({ outcome }) => outcome.notificationId),
        found.map(({ details }) => details.uri),
        found.map(({ details }) => millis(details.fetchAt)),
        found.map(({ outcome }) => millis(outcome.polledAt)),
        this.replicaId,
      ],
    );
  }

  async claim(targets: readonly string[], options: { resume: boolean; takeOver: boolean; limit: number }): Promise<PendingErrorDetails[]> {
    const { rows } = await this.database.query<{ target: string; notification_id: string; uri: string; attempts: number; next_fetch_at: string | null; first_seen_at: string }>(
      `WITH candidates AS (
         SELECT d.target, d.notification_id FROM azure_error_details d
          WHERE d.state = 'pending' AND d.target = ANY($1::text[])
            AND (d.owner IS NULL OR ($3 AND d.owner = $2)
                 OR ($4 AND d.owner <> $2 AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.replica_id = d.owner AND r.lease_until > now())))
          LIMIT $5 FOR UPDATE OF d SKIP LOCKED)
       UPDATE azure_error_details d SET owner = $2 FROM candidates c
        WHERE d.target = c.target AND d.notification_id = c.notification_id
       RETURNING d.target, d.notification_id, d.uri, d.attempts, d.next_fetch_at, d.first_seen_at`,
      [targets, this.replicaId, options.resume, options.takeOver, options.limit],
    );
    return rows.map((row) => ({
      target: row.target,
      notificationId: row.notification_id,
      uri: row.uri,
      attempts: row.attempts,
      nextPollAt: row.next_fetch_at === null ? 0 : Number(row.next_fetch_at),
      firstSeenAt: Number(row.first_seen_at),
    }));
  }

  async recordAttempt(details: PendingErrorDetails, state: ErrorDetailsState, lastStatus: string): Promise<void> {
    const result = await this.database.query(
      `UPDATE azure_error_details SET state = $1, attempts = $2, next_fetch_at = $3, last_status = $4,
         owner = CASE WHEN $1 = 'pending' THEN owner END
       WHERE target = $5 AND notification_id = $6 AND owner = $7`,
      [state, details.attempts, state === 'pending' ? millis(details.nextPollAt) : null, lastStatus, details.target, details.notificationId, this.replicaId],
    );
    if (result.rowCount !== 1) throw lost(details);
  }

  async recordFetched(
    details: PendingErrorDetails,
    records: readonly PnsErrorRecord[],
    incrementFor: (record: PnsErrorRecord) => CounterIncrement,
    alsoCount: readonly CounterIncrement[] = [],
  ): Promise<number> {
    const counted = await this.database.transaction(async (client) => {
      const owned = await client.query(
        `UPDATE azure_error_details SET state = 'done', attempts = $1, next_fetch_at = NULL, last_status = '200', owner = NULL
         WHERE target = $2 AND notification_id = $3 AND owner = $4`,
        [details.attempts, details.target, details.notificationId, this.replicaId],
      );
      if (owned.rowCount !== 1) throw lost(details);
      const increments: CounterIncrement[] = [...alsoCount];
      for (const record of records) {
        const inserted = await client.query(
          `INSERT INTO azure_pns_errors (target, notification_id, record_key, feedback_time, platform, error, pns_handle,
             new_pns_handle, registration_id, installation_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
          [details.target, details.notificationId, ...pnsErrorValues(record)],
        );
        if (inserted.rowCount === 1) increments.push(incrementFor(record));
      }
      await this.totals.persistCounters(client, mergeIncrements(increments));
      return increments;
    });
    this.mirror.applyCounters(counted);
    return counted.length - alsoCount.length;
  }

  async records(target: string, notificationId: string): Promise<StoredPnsError[]> {
    const { rows } = await this.database.query<Record<string, string | null>>(
      `SELECT feedback_time, platform, error, pns_handle, new_pns_handle, registration_id, installation_id
         FROM azure_pns_errors WHERE target = $1 AND notification_id = $2 ORDER BY feedback_time COLLATE "C" NULLS FIRST, record_key COLLATE "C"`,
      [target, notificationId],
    );
    return rows.map((row) => ({
      feedbackTime: row.feedback_time ?? null,
      platform: row.platform as string,
      error: row.error as string,
      pnsHandle: row.pns_handle ?? null,
      newPnsHandle: row.new_pns_handle ?? null,
      registrationId: row.registration_id ?? null,
      installationId: row.installation_id ?? null,
    }));
  }

  async state(target: string, notificationId: string): Promise<{ state: ErrorDetailsState; attempts: number; lastStatus: string | null } | undefined> {
    const { rows } = await this.database.query<{ state: ErrorDetailsState; attempts: number; last_status: string | null }>(
      `SELECT state, attempts, last_status FROM azure_error_details WHERE target = $1 AND notification_id = $2`,
      [target, notificationId],
    );
    const row = rows[0];
    return row && { state: row.state, attempts: row.attempts, lastStatus: row.last_status };
  }

  async releaseAll(): Promise<void> {
    await this.database.query(`UPDATE azure_error_details SET owner = NULL WHERE owner = $1 AND state = 'pending'`, [this.replicaId]);
  }
}

function lost(details: PendingErrorDetails): WorkLostError {
  return new WorkLostError(`error details of ${details.target}/${details.notificationId} are not this replica's to fetch any more`);
}
