import { labelKey, parseLabelKey, type CounterIncrement } from '../../metrics/totals.js';
import type { HistogramUpdate, TotalsMirror } from '../counting.js';
import type { Queryable } from './database.js';

/**
 * Durable counter and histogram totals of one replica. Rows are written in a fixed order so that
 * two transactions of the same replica touching the same rows wait for each other, never deadlock.
 */
export class PostgresTotals {
  constructor(private readonly replicaId: string) {}

  async persistCounters(client: Queryable, increments: readonly CounterIncrement[]): Promise<void> {
    if (increments.length === 0) return;
    const rows = increments
      .map((increment) => ({ family: increment.family, labels: labelKey(increment.labels), value: increment.value }))
      .sort((a, b) => (a.family === b.family ? compare(a.labels, b.labels) : compare(a.family, b.family)));
    await client.query(
      `INSERT INTO counter_totals (replica_id, family, labels, value)
       SELECT $1, family, labels, value FROM unnest($2::text[], $3::text[], $4::double precision[]) AS u(family, labels, value)
       ON CONFLICT (replica_id, family, labels) DO UPDATE SET value = counter_totals.value + excluded.value`,
      [this.replicaId, rows.map((row) => row.family), rows.map((row) => row.labels), rows.map((row) => row.value)],
    );
  }

  async persistHistograms(client: Queryable, updates: readonly HistogramUpdate[]): Promise<void> {
    const rows = updates
      .map(({ family, series }) => ({
        family,
        labels: labelKey(series.labels),
        bounds: JSON.stringify(series.bounds),
        buckets: JSON.stringify(series.bucketCounts),
        sum: series.sum,
        count: series.count,
      }))
      .sort((a, b) => (a.family === b.family ? compare(a.labels, b.labels) : compare(a.family, b.family)));
    for (const row of rows) {
      await client.query(
        `INSERT INTO histogram_totals (replica_id, family, labels, bounds, bucket_counts, sum, count) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (replica_id, family, labels) DO UPDATE SET bounds = excluded.bounds,
           bucket_counts = excluded.bucket_counts, sum = excluded.sum, count = excluded.count`,
        [this.replicaId, row.family, row.labels, row.bounds, row.buckets, row.sum, row.count],
      );
    }
  }

  /** This replica's own totals: a restarted replica continues its counters. */
  async loadInto(client: Queryable, mirror: TotalsMirror): Promise<void> {
    const counters = await client.query<{ family: string; labels: string; value: number }>(
      `SELECT family, labels, value FROM counter_totals WHERE replica_id = $1`,
      [this.replicaId],
    );
    for (const row of counters.rows) mirror.counters.add(row.family, parseLabelKey(row.labels), row.value);
    const histograms = await client.query<{ family: string; labels: string; bounds: string; bucket_counts: string; sum: number; count: string }>(
      `SELECT family, labels, bounds, bucket_counts, sum, count FROM histogram_totals WHERE replica_id = $1`,
      [this.replicaId],
    );
    for (const row of histograms.rows) {
      mirror.restoreHistogram(row.family, {
        labels: parseLabelKey(row.labels),
        bounds: row.bounds,
        bucketCounts: JSON.parse(row.bucket_counts) as number[],
        sum: row.sum,
        count: Number(row.count),
      });
    }
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
