import Database from 'better-sqlite3';
import type { PostgresStorageConfig } from '../config/load.js';
import { histogramBounds } from '../metrics/names.js';
import { PostgresStorage } from './postgres/postgres-storage.js';
import { SqliteStorage } from './sqlite/sqlite-storage.js';
import { StoreError } from './storage.js';

/** Tables copied row for row (same columns in both schemas; PostgreSQL's extra columns keep their defaults). */
const copiedTables: readonly { table: string; columns: readonly string[]; booleans?: readonly string[]; from?: string }[] = [
  {
    table: 'azure_messages',
    columns: ['target', 'notification_id', 'state', 'reported_state', 'scheduled', 'accepted_at', 'next_poll_at', 'attempts', 'not_found_count', 'last_status', 'last_polled_at', 'first_found_at', 'enqueue_time', 'start_time', 'end_time', 'finished_at', 'finish_reason'],
    booleans: ['scheduled'],
  },
  {
    table: 'azure_outcome_counts',
    columns: ['target', 'notification_id', 'platform', 'outcome', 'count'],
    // The file keeps counts in the message's row and, from older versions, in this table: the view
    // has both, and a (message, platform, outcome) in both keeps its larger count.
    from: `(SELECT target, notification_id, platform, outcome, max(count) AS count FROM azure_last_counts
           GROUP BY target, notification_id, platform, outcome)`,
  },
  { table: 'azure_error_details', columns: ['target', 'notification_id', 'uri', 'state', 'attempts', 'next_fetch_at', 'first_seen_at', 'last_status'] },
  { table: 'azure_pns_errors', columns: ['target', 'notification_id', 'record_key', 'feedback_time', 'platform', 'error', 'pns_handle', 'new_pns_handle', 'registration_id', 'installation_id'] },
  { table: 'everlive_notifications', columns: ['target', 'notification_id', 'status', 'first_seen_at', 'modified_at'] },
  { table: 'everlive_feedback', columns: ['target', 'notification_id', 'platform_key', 'sent', 'failed', 'deactivated'] },
  { table: 'everlive_invalid_items', columns: ['target', 'item_key', 'seen_at'] },
  { table: 'everlive_cursors', columns: ['target', 'modified_at', 'updated_at'] },
  { table: 'azure_monitor_cursors', columns: ['target', 'metric', 'last_minute', 'updated_at'] },
];

export interface MigrationSummary {
  rows: Record<string, number>;
  replicaId: string;
}

/**
 * SQLite → PostgreSQL, with the exporter stopped: every table of the state file goes into the
 * (empty) database in one transaction, and the counter and histogram totals go under the
 * configured replicaId, so that replica continues the counters where the file left them (no
 * reset, nothing counted twice). Tracked messages get no owner: the first replica to start takes
 * them up. The state file is opened as the exporter would (its checks and migrations) and left as it was.
 */
export async function migrateSqliteToPostgres(statePath: string, target: PostgresStorageConfig): Promise<MigrationSummary> {
  // Opening checks the file (integrity, schema version, lock) and brings its schema up to date.
  await SqliteStorage.open(statePath, histogramBounds).close();
  // The PostgreSQL schema is created by opening it once, as a replica would.
  await (await PostgresStorage.open(target, histogramBounds)).close();
  const source = new Database(statePath, { readonly: true });
  source.defaultSafeIntegers(true);
  const { Client } = (await import('pg')).default;
  const client = new Client({ connectionString: target.connectionString });
  await client.connect();
  const rows: Record<string, number> = {};
  try {
    await client.query('BEGIN');
    const { rows: existing } = await client.query<{ count: string }>(
      `SELECT (SELECT count(*) FROM azure_messages) + (SELECT count(*) FROM counter_totals) + (SELECT count(*) FROM everlive_cursors) + (SELECT count(*) FROM azure_monitor_cursors) AS count`,
    );
    if (Number(existing[0]?.count ?? 0) > 0) {
      throw new StoreError('the PostgreSQL database already holds state: migrate into an empty database, before any replica has run on it');
    }
    for (const { table, columns, booleans = [], from = table } of copiedTables) {
      const insert = `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((_, index) => `$${index + 1}`).join(', ')})`;
      let count = 0;
      for (const row of source.prepare(`SELECT ${columns.join(', ')} FROM ${from}`).iterate() as IterableIterator<Record<string, unknown>>) {
        await client.query(insert, columns.map((column) => value(row[column], booleans.includes(column))));
        count += 1;
      }
      rows[table] = count;
    }
    rows.counter_totals = 0;
    for (const row of source.prepare(`SELECT family, labels, value FROM counter_totals`).iterate() as IterableIterator<Record<string, unknown>>) {
      await client.query(`INSERT INTO counter_totals (replica_id, family, labels, value) VALUES ($1, $2, $3, $4)`, [target.replicaId, row.family, row.labels, Number(row.value)]);
      rows.counter_totals += 1;
    }
    rows.histogram_totals = 0;
    for (const row of source.prepare(`SELECT family, labels, bounds, bucket_counts, sum, count FROM histogram_totals`).iterate() as IterableIterator<Record<string, unknown>>) {
      await client.query(
        `INSERT INTO histogram_totals (replica_id, family, labels, bounds, bucket_counts, sum, count) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [target.replicaId, row.family, row.labels, row.bounds, row.bucket_counts, Number(row.sum), String(row.count)],
      );
      rows.histogram_totals += 1;
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    source.close();
    await client.end();
  }
  return { rows, replicaId: target.replicaId };
}

/** SQLite integers come as bigint (exact); PostgreSQL takes them as text. */
function value(raw: unknown, boolean: boolean): unknown {
  if (boolean) return raw === 1n || raw === 1 || raw === true;
  return typeof raw === 'bigint' ? raw.toString() : raw;
}
