import type Database from 'better-sqlite3';
import { labelKey, parseLabelKey, type CounterIncrement, type HistogramSeries } from '../../metrics/totals.js';
import type { TotalsMirror } from '../counting.js';

/** The durable counter and histogram totals in the state file; callers write them inside their own transaction. */
export class SqliteTotals {
  private readonly statements;

  constructor(private readonly database: Database.Database) {
    this.statements = {
      addCounter: database.prepare(
        `INSERT INTO counter_totals (family, labels, value) VALUES (?, ?, ?)
         ON CONFLICT (family, labels) DO UPDATE SET value = value + excluded.value`,
      ),
      putHistogram: database.prepare(
        `INSERT INTO histogram_totals (family, labels, bounds, bucket_counts, sum, count) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (family, labels) DO UPDATE SET bounds = excluded.bounds,
           bucket_counts = excluded.bucket_counts, sum = excluded.sum, count = excluded.count`,
      ),
    };
  }

  persistCounters(increments: readonly CounterIncrement[]): void {
    for (const increment of increments) {
      this.statements.addCounter.run(increment.family, labelKey(increment.labels), increment.value);
    }
  }

  persistHistogram(family: string, series: HistogramSeries): void {
    this.statements.putHistogram.run(
      family,
      labelKey(series.labels),
      JSON.stringify(series.bounds),
      JSON.stringify(series.bucketCounts),
      series.sum,
      series.count,
    );
  }

  loadInto(mirror: TotalsMirror): void {
    const counters = this.database.prepare(`SELECT family, labels, value FROM counter_totals`).all() as { family: string; labels: string; value: number }[];
    for (const row of counters) mirror.counters.add(row.family, parseLabelKey(row.labels), row.value);
    const histograms = this.database.prepare(`SELECT * FROM histogram_totals`).all() as {
      family: string;
      labels: string;
      bounds: string;
      bucket_counts: string;
      sum: number;
      count: number;
    }[];
    for (const row of histograms) {
      mirror.restoreHistogram(row.family, {
        labels: parseLabelKey(row.labels),
        bounds: row.bounds,
        bucketCounts: JSON.parse(row.bucket_counts) as number[],
        sum: row.sum,
        count: row.count,
      });
    }
  }
}
