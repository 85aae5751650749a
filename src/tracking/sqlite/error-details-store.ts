import type Database from 'better-sqlite3';
import type { CounterIncrement } from '../../metrics/totals.js';
import { pnsErrorValues, type PnsErrorRecord } from '../records.js';
import type { ErrorDetailsState, PendingErrorDetails, StoredPnsError } from '../storage.js';

/** The PNS error-details part of the state file; shares the storage's connection and totals. Synchronous: SqliteStorage wraps it. */
export class SqliteErrorDetails {
  private readonly statements;

  constructor(
    private readonly database: Database.Database,
    private readonly persistCounters: (increments: readonly CounterIncrement[]) => void,
    private readonly applyCounters: (increments: readonly CounterIncrement[]) => void,
  ) {
    this.statements = {
      pending: database.prepare(`SELECT * FROM azure_error_details WHERE state = 'pending'`),
      update: database.prepare(
        `UPDATE azure_error_details SET state = ?, attempts = ?, next_fetch_at = ?, last_status = ? WHERE target = ? AND notification_id = ?`,
      ),
      insertRecord: database.prepare(
        `INSERT INTO azure_pns_errors (target, notification_id, record_key, feedback_time, platform, error, pns_handle,
           new_pns_handle, registration_id, installation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      ),
      records: database.prepare(
        `SELECT feedback_time, platform, error, pns_handle, new_pns_handle, registration_id, installation_id
         FROM azure_pns_errors WHERE target = ? AND notification_id = ? ORDER BY feedback_time, record_key`,
      ),
      state: database.prepare(`SELECT state, attempts, last_status FROM azure_error_details WHERE target = ? AND notification_id = ?`),
    };
  }

  pending(): PendingErrorDetails[] {
    return (this.statements.pending.all() as Record<string, unknown>[]).map((row) => ({
      target: row.target as string,
      notificationId: row.notification_id as string,
      uri: row.uri as string,
      attempts: row.attempts as number,
      nextPollAt: (row.next_fetch_at as number | null) ?? 0,
      firstSeenAt: row.first_seen_at as number,
    }));
  }

  /** Records a fetch attempt that did not finish (not there yet, an error): when to try again, or give up. */
  recordAttempt(details: PendingErrorDetails, state: ErrorDetailsState, lastStatus: string): void {
    this.statements.update.run(state, details.attempts, state === 'pending' ? details.nextPollAt : null, lastStatus, details.target, details.notificationId);
  }

  /**
   * Stores the records of a fetched blob and counts only those never seen before, in one
   * transaction with the details' new state and `alsoCount` (the blob's unreadable parts). Returns
   * how many records were new.
   */
  recordFetched(
    details: PendingErrorDetails,
    records: readonly PnsErrorRecord[],
    incrementFor: (record: PnsErrorRecord) => CounterIncrement,
    alsoCount: readonly CounterIncrement[] = [],
  ): number {
    const increments: CounterIncrement[] = [...alsoCount];
    this.database.transaction(() => {
      for (const record of records) {
        const inserted = this.statements.insertRecord.run(details.target, details.notificationId, ...pnsErrorValues(record));
        if (inserted.changes === 1) increments.push(incrementFor(record));
      }
      this.persistCounters(increments);
      this.statements.update.run('done', details.attempts, null, '200', details.target, details.notificationId);
    }).immediate();
    this.applyCounters(increments);
    return increments.length - alsoCount.length;
  }

  records(target: string, notificationId: string): StoredPnsError[] {
    return (this.statements.records.all(target, notificationId) as Record<string, string | null>[]).map((row) => ({
      feedbackTime: row.feedback_time ?? null,
      platform: row.platform as string,
      error: row.error as string,
      pnsHandle: row.pns_handle ?? null,
      newPnsHandle: row.new_pns_handle ?? null,
      registrationId: row.registration_id ?? null,
      installationId: row.installation_id ?? null,
    }));
  }

  state(target: string, notificationId: string): { state: ErrorDetailsState; attempts: number; lastStatus: string | null } | undefined {
    const row = this.statements.state.get(target, notificationId) as { state: ErrorDetailsState; attempts: number; last_status: string | null } | undefined;
    return row && { state: row.state, attempts: row.attempts, lastStatus: row.last_status };
  }
}
